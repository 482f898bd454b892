"""The conformance suite every qserial format plugin runs.

Subclass :class:`FormatConformance` in a test module and pytest collects its tests::

    from qserial.testing.conformance import FormatConformance

    class TestMyFormat(FormatConformance):
        format = "msgpack"      # the format's name, its Format class or an instance
        lossless = True         # False for formats as lossy as RuntimeEncoder's JSON
        partial = True          # True if load(..., pubs=[...]) reads only those pubs

The suite checks, through the public API, that the format

* round-trips a hypothesis-generated value of every registered type tag and every
  plain tree kind (compared with :func:`qserial.testing.assert_equal`, exactly when
  ``lossless``, else as JSON keeps values), and whole realistic results, generated
  and real (``StatevectorSampler``, ``StatevectorEstimator``, qiskit-ibm-runtime
  local mode when qiskit-aer is installed);
* raises a :class:`qserial.QSerialError` on empty, truncated and foreign input;
* recognises its own output by content (a renamed file still loads with
  ``format=None``) and does not claim other formats' output;
* gives the same objects through paths and streams, and writes paths atomically;
* records its name, its version, the writing versions and its write options in the
  file, if it declares :attr:`~qserial.formats.Capability.HEADER` (see
  :meth:`FormatConformance.test_header_records_format`), and refuses a file whose
  header claims a newer major layout version;
* validates its options: an unknown option or a wrong value raises
  :class:`qserial.FormatOptionError` listing the valid options, ``get_config`` and
  ``from_config`` round-trip, and every configuration ``qserial bench --sweep``
  tries writes files that load;
* honours ``pubs=`` partial reads when ``partial`` is set.

The number of hypothesis examples comes from the active hypothesis profile
(``settings.load_profile``); the per-type round trips run the profile's
``max_examples``, the heavier tests a fraction of it.
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import os
import warnings
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qserial
from qserial.errors import FormatOptionError, QSerialError, UnsupportedVersionError
from qserial.formats import (
    READ,
    SNIFF_BYTES,
    WRITE,
    Capability,
    Format,
    from_config,
    get_format,
    list_formats,
    writer_versions,
)

from . import assert_equal, partial_result
from .strategies import for_tag, primitive_results, strategy_names, values

__all__ = ["FormatConformance", "real_results", "FOREIGN_HEADS"]

#: The first bytes of files in other formats, which no other format may claim. Generic
#: containers (zip, gzip) are left out: a format may be built on one.
FOREIGN_HEADS: dict[str, bytes] = {
    "json": b'{"__type__": "PrimitiveResult", "__value__": {"pub_results": []}}',
    "hdf5": b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00\x04\x00\x10\x00",
    "parquet": b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00",
    "npy": b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, ",
    "pickle": b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94K\x01u.",
    "qpy": b"QISKIT\x0f\x02\x00\x00\x00\x01\x00",
}


@functools.cache
def real_results() -> dict[str, Any]:
    """Results built by real primitives, once per process (treat them as read-only).

    Returns
    -------
    dict
        ``"sampler"`` (``StatevectorSampler``: a Bell pair, a 3x2 parameter sweep and a
        circuit with two registers of 3 and 10 bits), ``"estimator"``
        (``StatevectorEstimator``: a broadcast sweep and a single value), and
        ``"local_mode"`` (qiskit-ibm-runtime ``SamplerV2`` on ``FakeManilaV2``, a GHZ
        circuit), ``"executor_sampler"`` and ``"executor_estimator"`` (the executor
        primitives ``executor_sampler.Sampler`` and ``executor_estimator.Estimator`` on
        ``FakeManilaV2``: a Bell pair, two observables); the last three only if
        qiskit-aer is installed.
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit import ClassicalRegister, Parameter, QuantumRegister
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler
    from qiskit.quantum_info import SparsePauliOp

    theta = Parameter("theta")
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    sweep = QuantumCircuit(2)
    sweep.ry(theta, 0)
    sweep.cx(0, 1)
    sweep.measure_all()
    q, a, b = QuantumRegister(4, "q"), ClassicalRegister(3, "alpha"), ClassicalRegister(10, "beta")
    regs = QuantumCircuit(q, a, b)
    regs.h(q[0])
    regs.cx(q[0], q[1])
    regs.x(q[3])
    regs.measure(q[:3], a)
    regs.measure([q[i % 4] for i in range(10)], b)
    sampler = StatevectorSampler(seed=1234).run(
        [bell, (sweep, np.linspace(0, np.pi, 6).reshape(3, 2)), regs], shots=100
    ).result()

    ansatz = QuantumCircuit(2)
    ansatz.ry(theta, 0)
    ansatz.cx(0, 1)
    estimator = StatevectorEstimator(seed=1234).run([
        (ansatz, [[SparsePauliOp("ZZ")], [SparsePauliOp(["XI", "IZ"], [0.5, -1.5])]],
         np.linspace(0, 1, 3)),
        (ansatz.assign_parameters([0.5]), SparsePauliOp("ZI")),
    ]).result()

    out = {"sampler": sampler, "estimator": estimator}
    local = _local_mode_result()
    if local is not None:
        out["local_mode"] = local
        out.update(_executor_results())
    return out


def _executor_results() -> dict[str, Any]:
    # The executor primitives put their own Metadata in result.metadata["executor"].
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.executor_sampler import Sampler
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    backend = FakeManilaV2()
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    pm = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=1234)
    isa = pm.run(bell)
    measured = pm.run(bell.measure_all(inplace=False))
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX")]
    sampler = Sampler(mode=backend)
    sampler.options.simulator.seed_simulator = 1234
    estimator = Estimator(mode=backend)
    estimator.options.simulator.seed_simulator = 1234
    return {"executor_sampler": sampler.run([measured], shots=64).result(),
            "executor_estimator": estimator.run([(isa, observables)]).result()}


def _local_mode_result() -> Any:
    try:
        import qiskit_aer  # noqa: F401
    except ImportError:
        return None
    from qiskit import QuantumCircuit
    from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
    from qiskit_ibm_runtime import SamplerV2
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    backend = FakeManilaV2()
    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    ghz.measure_all()
    isa = generate_preset_pass_manager(
        backend=backend, optimization_level=1, seed_transpiler=1234
    ).run(ghz)
    with warnings.catch_warnings():
        # SamplerV2 announces its successor; local mode is what users still run.
        warnings.simplefilter("ignore", DeprecationWarning)
        sampler = SamplerV2(mode=backend)
        sampler.options.simulator.seed_simulator = 1234
        return sampler.run([isa], shots=256).result()


def _settings(fraction: float = 1.0) -> settings:
    # The active profile decides how hard to try; heavier tests take a share of it.
    # Slow strategies and slow formats are not what this suite judges.
    current = settings.default
    return settings(
        current,
        max_examples=max(1, round(current.max_examples * fraction)),
        deadline=None,
        suppress_health_check=[
            *current.suppress_health_check, HealthCheck.too_slow, HealthCheck.data_too_large,
        ],
    )


def _run(strategy: Any, check: Any, fraction: float = 1.0) -> None:
    _settings(fraction)(given(strategy)(check))()


def _truncation_offsets(size: int) -> list[int]:
    # Every cut near both ends (headers, footers) and an even spread in between.
    near = set(range(min(size, 48))) | set(range(max(0, size - 48), size))
    spread = {size * k // 64 for k in range(64)}
    return sorted(o for o in near | spread if o < size)


class _Boom(RuntimeError):
    pass


class _FailAfterWrite(Format):
    """Writes through the format under test, then fails: the old file must survive."""

    def __init__(self, inner: Format) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.suffixes = inner.suffixes

    def dump(self, tree: Any, stream: Any, **options: Any) -> None:
        self.inner.dump(tree, stream, **options)
        raise _Boom("failing after the write")

    def dump_path(self, tree: Any, path: str, **options: Any) -> None:
        self.inner.dump_path(tree, path, **options)
        raise _Boom("failing after the write")


class _OneWayStream(io.RawIOBase):
    """A readable stream that cannot seek, like a pipe or an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._inner.readinto(buffer)


_TAGS = strategy_names()


class FormatConformance:
    """Base class of a format's conformance tests; see the module docstring.

    Attributes
    ----------
    format
        The format under test: its name, its :class:`~qserial.formats.Format` class or an
        instance.
    lossless
        Whether everything must come back exactly; if false, values are compared as
        RuntimeEncoder's JSON keeps them (tuples as lists, dict keys as strings, numpy
        scalars as Python numbers).
    partial
        Whether the format must read only the selected pubs for ``pubs=`` (it must
        declare ``supports_partial`` and select them itself).
    """

    format: ClassVar[str | type[Format] | Format] = ""
    lossless: ClassVar[bool] = True
    partial: ClassVar[bool] = False

    # -- helpers ----------------------------------------------------------------------

    @functools.cached_property
    def fmt(self) -> Format:
        """The format under test, as an installed instance."""
        if not self.format:
            raise TypeError(f"{type(self).__name__} must set the format attribute")
        return get_format(self.format)

    @property
    def suffix(self) -> str:
        """The format's first suffix, or ``.bin`` if it declares none."""
        return self.fmt.suffixes[0] if self.fmt.suffixes else ".bin"

    def dumps(self, obj: Any) -> bytes:
        """``obj`` written by the format under test."""
        return qserial.dumps(obj, format=self.fmt)

    def loads(self, data: bytes, **options: Any) -> Any:
        """Objects read from ``data`` by the format under test."""
        return qserial.loads(data, format=self.fmt, **options)

    def check(self, actual: Any, expected: Any) -> None:
        """Assert ``actual`` is ``expected`` as the format promises (exact if lossless)."""
        assert_equal(actual, expected, exact=self.lossless)

    def round_trip(self, obj: Any) -> None:
        """Write ``obj`` to bytes, read it back and compare."""
        self.check(self.loads(self.dumps(obj)), obj)

    # -- round trips --------------------------------------------------------------------

    @pytest.mark.parametrize("tag", _TAGS)
    def test_round_trip(self, tag: str) -> None:
        """Every registered type and plain kind comes back as it went in."""
        _run(for_tag(tag), self.round_trip)

    def test_round_trip_nested(self) -> None:
        """Values of every kind, nested in lists and dicts, come back as they went in."""
        _run(st.lists(values(), max_size=3) | st.dictionaries(st.text(max_size=6), values(),
                                                             max_size=3),
             self.round_trip, fraction=0.25)

    def test_round_trip_realistic(self) -> None:
        """Generated sampler, estimator and mixed results come back as they went in."""
        _run(primitive_results(), self.round_trip, fraction=0.25)

    @pytest.mark.parametrize("name", ["sampler", "estimator", "local_mode", "executor_sampler",
                                      "executor_estimator"])
    def test_round_trip_real(self, name: str, tmp_path: Any) -> None:
        """Results from real primitives come back through a file as they went in."""
        results = real_results()
        if name not in results:
            pytest.skip("qiskit-aer is not installed")
        path = tmp_path / f"{name}{self.suffix}"
        qserial.dump(results[name], path, format=self.fmt)
        self.check(qserial.load(path), results[name])

    # -- bad input ----------------------------------------------------------------------

    def test_empty_input(self, tmp_path: Any) -> None:
        """Empty data is refused with a QSerialError, by bytes, stream and path."""
        with pytest.raises(QSerialError):
            self.loads(b"")
        with pytest.raises(QSerialError):
            qserial.load(io.BytesIO(b""), format=self.fmt)
        path = tmp_path / f"empty{self.suffix}"
        path.write_bytes(b"")
        with pytest.raises(QSerialError):
            qserial.load(path, format=self.fmt)
        with pytest.raises(QSerialError):
            qserial.load(path)

    @pytest.mark.parametrize("name", ["sampler", "estimator", "metadata"])
    def test_truncated_input(self, name: str, tmp_path: Any) -> None:
        """Data cut at any point is refused with a QSerialError, never read as something."""
        if name == "metadata":
            obj = {"note": "cut", "values": [1.5, -0.0, None, True], "when": (1, 2)}
        else:
            obj = real_results()[name]
        data = self.dumps(obj)
        for offset in _truncation_offsets(len(data)):
            try:
                got = self.loads(data[:offset])
            except QSerialError:
                continue
            raise AssertionError(
                f"data cut to {offset} of {len(data)} bytes was read without an error "
                f"as {type(got).__name__}"
            )
        path = tmp_path / f"cut{self.suffix}"
        for offset in _truncation_offsets(len(data))[::8]:
            path.write_bytes(data[:offset])
            with pytest.raises(QSerialError):
                qserial.load(path, format=self.fmt)

    def test_foreign_input(self) -> None:
        """Garbage and other formats' files are refused with a QSerialError."""
        rng = np.random.default_rng(1234)
        inputs = [b"\x00" * 64, b"not a file of this format", rng.bytes(300),
                  *(head for name, head in FOREIGN_HEADS.items() if name != self.fmt.name)]
        for data in inputs:
            with pytest.raises(QSerialError):
                self.loads(data)

    # -- sniffing -----------------------------------------------------------------------

    def test_sniff_accepts_own_output(self) -> None:
        """The format recognises what it writes, for any top-level value."""
        def check(obj: Any) -> None:
            data = self.dumps(obj)
            assert self.fmt.sniff(data[:SNIFF_BYTES]), f"sniff refuses {data[:SNIFF_BYTES]!r}"
            self.check(qserial.loads(data), obj)

        _run(values(), check, fraction=0.25)

    @pytest.mark.parametrize("suffix", ["", ".dat", "wrong"])
    def test_renamed_file_loads(self, suffix: str, tmp_path: Any) -> None:
        """A file is read by its content, whatever its name says."""
        if suffix == "wrong":  # a suffix that belongs to another format
            suffix = ".h5" if self.fmt.name == "json" else ".json"
        obj = real_results()["sampler"]
        path = tmp_path / f"result{self.suffix}"
        qserial.dump(obj, path, format=self.fmt)
        renamed = tmp_path / f"renamed{suffix}"
        path.rename(renamed)
        self.check(qserial.load(renamed), obj)
        with open(renamed, "rb") as f:
            self.check(qserial.load(f), obj)

    def test_sniff_rejects_other_formats(self) -> None:
        """The format does not claim other formats' files."""
        heads = {name: head for name, head in FOREIGN_HEADS.items() if name != self.fmt.name}
        obj = real_results()["estimator"]
        for name in list_formats():
            other = get_format(name)
            if other.name == self.fmt.name:
                continue
            try:
                heads[name] = qserial.dumps(obj, format=other)[:SNIFF_BYTES]
            except Exception:  # a format that cannot write this is no concern here
                continue
        claimed = [name for name, head in heads.items() if self.fmt.sniff(head)]
        assert not claimed, f"{self.fmt.name} claims files of {claimed}"

    # -- paths and streams --------------------------------------------------------------

    def test_path_and_stream_agree(self, tmp_path: Any) -> None:
        """Writing and reading through a path, a file object or a one-way stream agree."""
        for name, obj in real_results().items():
            path = tmp_path / f"{name}{self.suffix}"
            qserial.dump(obj, path, format=self.fmt)
            buf = io.BytesIO()
            qserial.dump(obj, buf, format=self.fmt)
            from_path = qserial.load(path, format=self.fmt)
            self.check(from_path, obj)
            assert_equal(qserial.load(io.BytesIO(buf.getvalue()), format=self.fmt), from_path)
            with open(path, "rb") as f:
                assert_equal(qserial.load(f), from_path)
            assert_equal(qserial.load(_OneWayStream(buf.getvalue())), from_path)
            with open(path, "wb") as f:
                qserial.dump(obj, f, format=self.fmt)
            assert_equal(qserial.load(str(path)), from_path)

    def test_dump_to_path_is_atomic(self, tmp_path: Any) -> None:
        """A path write leaves only the target; a failed write leaves the old file."""
        results = real_results()
        path = tmp_path / f"result{self.suffix}"
        qserial.dump(results["sampler"], path, format=self.fmt)
        assert sorted(os.listdir(tmp_path)) == [path.name]
        qserial.dump(results["estimator"], path, format=self.fmt)  # replaces it
        assert sorted(os.listdir(tmp_path)) == [path.name]
        before = path.read_bytes()
        with pytest.raises(_Boom):
            qserial.dump(results["sampler"], path, format=_FailAfterWrite(self.fmt))
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == [path.name]
        with pytest.raises(QSerialError):
            qserial.dump({"bad": object()}, tmp_path / f"bad{self.suffix}", format=self.fmt)
        assert sorted(os.listdir(tmp_path)) == [path.name]
        self.check(qserial.load(path), results["estimator"])

    def test_header_records_format(self, tmp_path: Any) -> None:
        """The file names the format and its version, the versions and options that wrote it.

        Runs when the format declares :attr:`~qserial.formats.Capability.HEADER`: its
        ``read_header(stream)`` returns at least ``{"format": <str naming the format>,
        "version": <Format.version>, "writer": {package: version}}`` with the packages
        of :func:`~qserial.formats.writer_versions` for the format (its distribution and
        backends too), and ``"options"``, the write options used, when it has any.
        """
        if not self.fmt.supports(Capability.HEADER):
            pytest.skip(f"format {self.fmt.name!r} does not read headers alone")
        path = tmp_path / f"result{self.suffix}"
        qserial.dump(real_results()["sampler"], path, format=self.fmt)
        with open(path, "rb") as f:
            header = self.fmt.read_header(f)
        assert self.fmt.name in str(header["format"])
        assert header["version"] == self.fmt.version
        expected = writer_versions(self.fmt)
        for dist in expected:
            assert header["writer"].get(dist) == expected[dist], dist
        assert header.get("options", {}) == self.fmt.write_options()
        assert self.fmt.read_header_path(str(path)) == header
        assert qserial.read_header(path) == header

    def test_newer_major_version_is_refused(self, tmp_path: Any) -> None:
        """A file whose header claims a newer major layout version is refused by name.

        The file is forged by writing with a subclass of the format whose ``version``
        is one major version ahead: a format that builds its header with
        :meth:`~qserial.Format.new_header` and checks it with
        :meth:`~qserial.Format.check_header` (or :func:`~qserial.formats.check_version`)
        passes. A newer minor version is still read. Runs for formats with
        :attr:`~qserial.formats.Capability.HEADER`, which record their version.
        """
        if not self.fmt.supports(Capability.HEADER):
            pytest.skip(f"format {self.fmt.name!r} records no header")
        major, _, minor = self.fmt.version.partition(".")
        obj = real_results()["sampler"]
        for version, refused in ((f"{int(major) + 1}.0", True),
                                 (f"{major}.{int(minor or 0) + 7}", False)):
            forged = type(f"Forged{type(self.fmt).__name__}", (type(self.fmt),),
                          {"version": version})(**self.fmt.config)
            data = qserial.dumps(obj, format=forged)
            path = tmp_path / f"forged{self.suffix}"
            qserial.dump(obj, path, format=forged)
            if not refused:
                self.check(self.loads(data), obj)
                assert self.fmt.read_header_path(str(path))["version"] == version
                continue
            with pytest.raises(UnsupportedVersionError) as info:
                self.loads(data)
            assert version in str(info.value) and self.fmt.version in str(info.value)
            with pytest.raises(UnsupportedVersionError):
                qserial.load(path)
            with pytest.raises(UnsupportedVersionError):
                self.fmt.read_header_path(str(path))

    # -- options ------------------------------------------------------------------------

    def test_options_are_declared(self) -> None:
        """Every option is typed, has a valid default, and has a role; the config is JSON."""
        table = self.fmt.option_table()
        assert {"verify", "max_array_bytes", "max_expansion", "max_bytes"} <= set(table)
        for name, option in table.items():
            assert option.name == name and option.role in (READ, WRITE)
            assert option.validate(option.default, self.fmt.name) == option.default
            assert name in self.fmt.describe_options()
        config = self.fmt.get_config()
        assert config["format"] == self.fmt.name
        assert json.loads(json.dumps(config)) == config, "get_config() is not plain JSON data"

    def test_config_round_trip(self) -> None:
        """``from_config(get_config())`` gives an equal format, for every swept configuration."""
        configs = [{}, *type(self.fmt).sweep_configs()]
        for changes in configs:
            fmt = get_format(self.fmt, **changes)
            config = json.loads(json.dumps(fmt.get_config()))
            again = type(fmt).from_config(config)
            assert again == fmt and again.get_config() == fmt.get_config(), changes
            if self.fmt.name in list_formats() and type(get_format(self.fmt.name)) is type(fmt):
                assert from_config(config) == fmt
            assert get_format(fmt) is fmt

    def test_swept_options_write_loadable_files(self, tmp_path: Any) -> None:
        """Every configuration ``qserial bench --sweep`` tries writes a file that loads,
        and a header that records the options it was written with."""
        obj = real_results()["sampler"]
        for changes in type(self.fmt).sweep_configs():
            fmt = get_format(self.fmt, **changes)
            self.check(self.loads(qserial.dumps(obj, format=fmt)), obj)
            path = tmp_path / f"swept{self.suffix}"
            qserial.dump(obj, path, format=self.fmt, **changes)  # keyword options alike
            self.check(qserial.load(path), obj)
            if self.fmt.supports(Capability.HEADER):
                options = qserial.read_header(path).get("options", {})
                assert options == fmt.write_options(), changes

    def test_unknown_option_is_refused(self, tmp_path: Any) -> None:
        """An unknown option raises FormatOptionError listing every valid option, before
        anything is written or read."""
        obj = real_results()["sampler"]
        path = tmp_path / f"result{self.suffix}"
        qserial.dump(obj, path, format=self.fmt)
        before = path.read_bytes()
        calls = [
            lambda: get_format(self.fmt, no_such_option=1),
            lambda: qserial.dumps(obj, format=self.fmt, no_such_option=1),
            lambda: qserial.dump(obj, path, format=self.fmt, no_such_option=1),
            lambda: qserial.load(path, no_such_option=1),
            lambda: type(self.fmt).from_config({"format": self.fmt.name, "no_such_option": 1}),
        ]
        for call in calls:
            with pytest.raises(FormatOptionError) as info:
                call()
            message = str(info.value)
            assert "no_such_option" in message
            for name in self.fmt.option_table():
                assert name in message, f"the message does not list option {name!r}"
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == [path.name]
        with pytest.raises(FormatOptionError):  # a read option is no write option
            qserial.dumps(obj, format=self.fmt, verify=False)

    def test_bad_option_values_are_refused(self) -> None:
        """A value of the wrong type, out of range or not among the choices is refused."""
        for name, option in self.fmt.option_table().items():
            bad: list[Any] = [object(), [1], {"a": 1}]
            if not option.nullable:
                bad.append(None)
            if str not in option.types:
                bad.append("text")
            if bool not in option.types:
                bad.append(True)
            if option.min is not None:
                bad.append(option.min - 1)
            if option.max is not None:
                bad.append(option.max + 1)
            if option.choices is not None and str in option.types:
                bad.append("no such choice")
            for value in bad:
                with pytest.raises(FormatOptionError, match=name):
                    get_format(self.fmt, **{name: value})

    def test_manifest_round_trip(self, tmp_path: Any) -> None:
        """A manifest given to ``dump`` comes back from ``read_header``, the data unchanged.

        Runs when the format declares :attr:`~qserial.formats.Capability.MANIFEST`.
        """
        if not self.fmt.supports(Capability.MANIFEST):
            pytest.skip(f"format {self.fmt.name!r} does not store manifests")
        manifest = {"provenance": {"job_id": "d1x9", "tags": ["a", "\u00e9"], "usage": 1.5},
                    "labels": {"n": 3, "none": None, "nested": [{"k": True}]}}
        path = tmp_path / f"result{self.suffix}"
        result = real_results()["sampler"]
        qserial.dump(result, path, format=self.fmt, manifest=manifest)
        assert qserial.read_header(path, format=self.fmt)["manifest"] == manifest
        self.check(qserial.load(path), result)
        qserial.dump(result, path, format=self.fmt)
        assert "manifest" not in qserial.read_header(path, format=self.fmt)

    # -- partial reads ------------------------------------------------------------------

    def test_partial_declared(self) -> None:
        """A format that must honour ``pubs=`` says so."""
        if self.partial:
            assert self.fmt.supports(Capability.PARTIAL), \
                "partial = True, but supports_partial is False: declare Capability.PARTIAL"

    def test_partial_reads(self, tmp_path: Any) -> None:
        """``load(path, pubs=[...])`` gives the selected pubs of a full load, in that order."""
        path = str(tmp_path / f"result{self.suffix}")

        def check(data: Any) -> None:
            result = data.draw(primitive_results().filter(lambda r: len(r) > 0))
            pubs = data.draw(st.lists(st.integers(0, len(result) - 1), unique=True))
            qserial.dump(result, path, format=self.fmt)
            self._check_partial(path, pubs)

        _run(st.data(), check, fraction=0.1)
        for obj in real_results().values():
            qserial.dump(obj, path, format=self.fmt)
            self._check_partial(path, list(range(len(obj)))[::-1])
            self._check_partial(path, [])
            with pytest.raises((IndexError, QSerialError)):
                qserial.load(path, pubs=[len(obj)])

    def _check_partial(self, path: str, pubs: list[int]) -> None:
        # The selected pubs, the execution spans restricted to them (qserial.partial).
        expected = partial_result(qserial.load_tree(path, format=self.fmt), pubs)
        assert_equal(qserial.load(path, format=self.fmt, pubs=pubs), expected)
        if self.partial:
            # The format itself selects, from a path and from a stream.
            assert_equal(qserial.from_tree(self.fmt.load_path(path, pubs=pubs)), expected)
            with open(path, "rb") as f:
                assert_equal(qserial.from_tree(self.fmt.load(f, pubs=pubs)), expected)

    def test_partial_restricts_spans(self, tmp_path: Any) -> None:
        """A partial read keeps only the selected pubs' execution spans, renumbered."""
        from qiskit.primitives.containers import PrimitiveResult

        pytest.importorskip("qiskit_ibm_runtime")
        from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

        sampler = real_results()["sampler"]
        t0 = datetime.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
        t1 = t0 + datetime.timedelta(seconds=2)
        spans = ExecutionSpans([
            DoubleSliceSpan(t0, t1, {0: ((1, 5), slice(0, 1), slice(0, 5)),
                                     2: ((1, 5), slice(0, 1), slice(0, 5))}),
            DoubleSliceSpan(t1, t1 + datetime.timedelta(seconds=1),
                            {1: ((1, 5), slice(0, 1), slice(5, 9))}),
        ])
        result = PrimitiveResult(list(sampler), metadata={"execution": {"execution_spans": spans},
                                                          "version": 2})
        path = str(tmp_path / f"spans{self.suffix}")
        qserial.dump(result, path, format=self.fmt)
        got = qserial.load(path, format=self.fmt, pubs=[2, 1])
        kept = got.metadata["execution"]["execution_spans"]
        assert [sorted(s._data_slices) for s in kept] == [[0], [1]]
        assert kept[0].start == t0 and got.metadata["version"] == 2
        self._check_partial(path, [2, 1])

    # -- lazy reads ---------------------------------------------------------------------

    def test_open(self, tmp_path: Any) -> None:
        """``qserial.open`` gives what ``load`` gives; lazily if the format says it can."""
        from qiskit.primitives.containers import PrimitiveResult

        path = str(tmp_path / f"open{self.suffix}")
        for obj in real_results().values():
            if not isinstance(obj, PrimitiveResult):
                continue
            qserial.dump(obj, path, format=self.fmt)
            full = qserial.load(path, format=self.fmt)
            with qserial.open(path, format=self.fmt) as got:
                assert got.lazy == self.fmt.supports_lazy
                assert len(got) == len(full)
                assert_equal(got[len(full) - 1], full[-1])
                assert_equal(list(got), list(full))
                assert_equal(got.metadata, full.metadata)
            assert got.closed

    def test_partial_needs_a_primitive_result(self, tmp_path: Any) -> None:
        """``pubs=`` on a file that holds no PrimitiveResult is a QSerialError."""
        path = tmp_path / f"meta{self.suffix}"
        qserial.dump({"pub_results": [1, 2]}, path, format=self.fmt)
        with pytest.raises(QSerialError):
            qserial.load(path, pubs=[0])

