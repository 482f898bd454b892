"""Every golden file still loads, as the value it was written from.

The files under tests/data/golden were written once by tests/golden_gen.py and are
never rewritten (see the README there); ``_inward`` files hold formats or format
versions that are no longer written. A registered type tag without a golden file in
some installed format of this repository fails here, so no type ships untested
against the files of older versions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import qserial
from qserial.formats import get_format
from qserial.testing import assert_equal
from tests import golden_gen

REPO = Path(__file__).resolve().parents[1]
GOLDEN = golden_gen.GOLDEN
INSTALLED = [fmt for fmt in golden_gen.GOLDEN_FORMATS if fmt in qserial.list_formats()]


def golden_files(root: Path = GOLDEN) -> list[tuple[str, str, Path]]:
    """(format, value name, path) of every golden file, ``_inward`` ones included."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith((".", "README")):
                found.append((folder.name, path.name.rpartition(".")[0], path))  # tags hold dots
    return found


FILES = golden_files()


def _id(item: tuple[str, str, Path]) -> str:
    return str(item[2].relative_to(GOLDEN))


@pytest.mark.parametrize("item", FILES, ids=_id)
def test_golden_file_loads_as_its_value(item: tuple[str, str, Path]) -> None:
    fmt, name, path = item
    if fmt not in qserial.list_formats():
        pytest.skip(f"format {fmt} is not installed")
    assert name in golden_gen.BUILDERS, f"{path} has no value in golden_gen.BUILDERS"
    got = qserial.load(path)
    assert_equal(got, golden_gen.build(name), exact=fmt not in golden_gen.LOSSY_FORMATS)
    # Recognised from its content, not its name.
    assert qserial.load_tree(path) is not None
    with path.open("rb") as f:
        head = f.read(64)
    assert get_format(fmt).sniff(head)


def _registered_tags() -> set[str]:
    # In a fresh process: tests register types of their own in this one.
    code = ("import json, qserial; qserial.REGISTRY.load_all(); "
            "print(json.dumps(sorted({e.tag for e in qserial.REGISTRY})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    return set(json.loads(done.stdout))


def test_every_registered_tag_has_golden_files() -> None:
    tags = _registered_tags()
    assert {"PrimitiveResult", "BitArray", "ExecutionSpans"} <= tags  # the probe works
    without_value = sorted(tags - set(golden_gen.BUILDERS))
    assert not without_value, (
        f"registered tags without a golden value: {without_value}; add a builder to "
        "tests/golden_gen.py and run python tests/golden_gen.py")
    without_file = [(fmt, tag) for fmt in INSTALLED for tag in sorted(tags)
                    if not golden_gen.path_for(fmt, tag).exists()]
    assert not without_file, (
        f"no golden file for {without_file}; run python tests/golden_gen.py and commit "
        "what it writes")


def test_every_value_has_a_file_in_every_installed_format() -> None:
    assert golden_gen.missing(INSTALLED) == []


def test_every_golden_file_names_a_value() -> None:
    orphans = [str(path) for _fmt, name, path in FILES if name not in golden_gen.BUILDERS]
    assert orphans == []


def test_every_golden_format_is_known() -> None:
    assert {fmt for fmt, _name, _path in FILES} <= set(golden_gen.GOLDEN_FORMATS)


def test_values_are_the_same_on_every_build() -> None:
    for name in golden_gen.BUILDERS:
        assert_equal(golden_gen.build(name), golden_gen.build(name))


def test_corpus_stays_small() -> None:
    total = sum(path.stat().st_size for _fmt, _name, path in FILES)
    assert total < 2 << 20, f"golden corpus is {total} bytes"


def test_generator_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden_gen, "GOLDEN", tmp_path)
    assert golden_gen.main(["--format", "json", "--check"]) == 1
    target = golden_gen.path_for("json", "tuple")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"kept as it is")
    assert golden_gen.main(["--format", "json"]) == 0
    assert target.read_bytes() == b"kept as it is"
    assert golden_gen.main(["--format", "json", "--check"]) == 0
    assert_equal(qserial.load(golden_gen.path_for("json", "set")), golden_gen.build("set"),
                 exact=False)


def test_inward_files_are_found(tmp_path: Path) -> None:
    inward = tmp_path / "json" / "_inward" / "0.9"
    inward.mkdir(parents=True)
    (inward / "tuple.json").write_text("[1]")
    (tmp_path / "json" / "tuple.json").write_text("[1]")
    found = [(fmt, name, path.relative_to(tmp_path).as_posix())
             for fmt, name, path in golden_files(tmp_path)]
    assert found == [("json", "tuple", "json/_inward/0.9/tuple.json"),
                     ("json", "tuple", "json/tuple.json")]


def test_sampler_value_is_shaped_like_a_real_result() -> None:
    # The realistic values are built from fixed data; they must keep the structure of
    # what qiskit's primitives return.
    from qiskit import QuantumCircuit
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler
    from qiskit.quantum_info import SparsePauliOp

    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    real = StatevectorSampler(seed=1).run([bell], shots=1024).result()
    ours = golden_gen.build("sampler_result")
    assert type(ours[0]) is type(real[0]) and type(ours) is type(real)
    meas, real_meas = ours[0].data.meas, real[0].data.meas
    assert (meas.num_bits, meas.num_shots, meas.array.dtype) == (
        real_meas.num_bits, real_meas.num_shots, real_meas.array.dtype)
    assert set(meas.get_counts()) == set(real_meas.get_counts()) == {"00", "11"}

    est = StatevectorEstimator(seed=1).run([(QuantumCircuit(1), SparsePauliOp("Z"))]).result()
    ours = golden_gen.build("estimator_result")
    assert type(ours[0]) is type(est[0])
    assert {"evs", "stds"} <= set(ours[0].data) and set(est[0].data) == {"evs", "stds"}
    assert ours[0].data.evs.dtype == est[0].data.evs.dtype


# -- the compatibility promise: newer versions -----------------------------------------------


def _with_version(fmt: str, path: Path, version: str) -> None:
    """Rewrite the file at ``path`` (holding ``{"x": [1, 2]}``) as layout ``version``, with
    an unknown header entry, keeping its digests valid."""
    from tests import test_limits as craft

    if fmt == "json":
        doc = {"__type__": "tuple", "__value__": [1, 2],
               "__qserial__": {"format": "qserial-json", "version": version,
                               "writer": {}, "future": {"field": 1}}}
        path.write_text(json.dumps(doc))
    elif fmt == "msgpack":
        import msgpack

        doc = [msgpack.ExtType(1, b"tuple"), [1, 2]]
        path.write_bytes(craft.msgpack_file(doc, version=version, future={"field": 1}))
    elif fmt == "hdf5":
        import h5py
        import numpy as np

        # The layout version is covered by the root digest, which only the plugin's
        # internals compute: these files are loaded with verify=False (see below).
        with h5py.File(path, "r+") as f:
            del f.attrs["qserial_format_version"]
            f.attrs["qserial_format_version"] = np.bytes_(version.encode())
            f.attrs["qserial_future"] = np.bytes_(b'{"field": 1}')
    elif fmt == "parquet":
        def edit(text: bytes) -> bytes:
            header = json.loads(text)
            header.update(version=version, future={"field": 1})
            return json.dumps(header, separators=(",", ":")).encode("ascii")

        craft.parquet_edit(path, path, b"qserial", edit)


def _major(fmt: str) -> int:
    return int(get_format(fmt).version.partition(".")[0])


@pytest.mark.parametrize("fmt", INSTALLED)
@pytest.mark.parametrize("minor", [0, 9])
def test_newer_minor_version_and_unknown_header_entries_are_read(
        fmt: str, minor: int, tmp_path: Path) -> None:
    path = tmp_path / f"x{get_format(fmt).suffixes[0]}"
    qserial.dump((1, 2), path)
    _with_version(fmt, path, f"{_major(fmt)}.{minor}")
    options = {"verify": False} if fmt == "hdf5" else {}
    assert_equal(qserial.load(path, **options), (1, 2),
                 exact=fmt not in golden_gen.LOSSY_FORMATS)


@pytest.mark.parametrize("fmt", INSTALLED)
def test_newer_major_version_is_refused_naming_both(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"x{get_format(fmt).suffixes[0]}"
    qserial.dump((1, 2), path)
    newer = f"{_major(fmt) + 1}.0"
    _with_version(fmt, path, newer)
    with pytest.raises(qserial.UnsupportedVersionError) as info:
        qserial.load(path)
    message = str(info.value)
    assert newer in message and f"{_major(fmt)}." in message
