"""Bad HDF5 input: every failure is a QSerialError that says what and where."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from typing import Any

import h5py
import numpy as np
import pytest
import qserial_hdf5._layout as hdf5_layout
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qserial_hdf5 import HDF5Format

import qserial
from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    QSerialError,
    TruncatedError,
    UnsupportedVersionError,
)
from qserial.formats import get_format
from qserial.testing import assert_equal, partial_result


def result(pubs: int = 8, seed: int = 3) -> PrimitiveResult:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(pubs):
        arr = rng.integers(0, 256, size=(2, 16, 2), dtype=np.uint8) & np.uint8(0x0F)
        extra = np.arange(6.0).reshape(2, 3) * i
        data = DataBin(meas=BitArray(arr, 12), extra=extra, shape=(2,))
        out.append(SamplerPubResult(data, metadata={"pub": i, "scale": np.float32(i)}))
    return PrimitiveResult(out, metadata={"job": "x"})


@pytest.fixture
def path(tmp_path: Any) -> Any:
    p = tmp_path / "r.h5"
    qserial.dump(result(), p)
    return p


def data_offset(path: Any, name: str) -> int:
    with h5py.File(path, "r") as f:
        return f[name].id.get_offset()


def flip(path: Any, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def test_digest_mismatch_names_the_pub(path: Any) -> None:
    flip(path, data_offset(path, "pub_results/5/meas") + 3)
    with pytest.raises(IntegrityError) as info:
        qserial.load(path)
    assert info.value.path == "$.pub_results[5]"
    assert "/pub_results/5" in str(info.value)
    # verify=False trusts the data and returns the altered bytes.
    altered = qserial.load(path, verify=False)
    assert altered[5].data.meas.array.tobytes() != result()[5].data.meas.array.tobytes()


def test_partial_read_touches_only_selected_pubs(path: Any) -> None:
    # Pub 5 is damaged; reading other pubs never looks at it, reading it does.
    flip(path, data_offset(path, "pub_results/5/extra"), 0x80)
    full = result()
    got = qserial.load(path, pubs=[7, 1, 1])
    assert_equal(got, PrimitiveResult([full[7], full[1], full[1]], metadata=full.metadata))
    with pytest.raises(IntegrityError):
        qserial.load(path, pubs=[5])
    assert_equal(qserial.load(path, pubs=[-1]),
                 PrimitiveResult([full[-1]], metadata=full.metadata))
    with pytest.raises(qserial.PubIndexError):
        qserial.load(path, pubs=[8])


@pytest.mark.parametrize("attr", ["qserial_tree", "qserial_writer", "qserial_manifest"])
def test_root_digest_covers_header_and_metadata(attr: str, tmp_path: Any) -> None:
    p = tmp_path / "m.h5"
    qserial.dump(result(2), p, manifest={"owner": "x"})
    with h5py.File(p, "r+") as f:
        f.attrs[attr] = np.bytes_(f.attrs[attr].replace(b'"x"', b'"y"').replace(b"h5py", b"h6py"))
    with pytest.raises(IntegrityError) as info:
        qserial.load(p, pubs=[0])
    assert info.value.path == "$"
    with pytest.raises(IntegrityError):
        get_format("hdf5").read_header_path(str(p))
    assert qserial.load(p, verify=False)


def test_trailing_and_missing_bytes(path: Any) -> None:
    data = path.read_bytes()
    with pytest.raises(DecodeError, match="unexpected bytes after"):
        qserial.loads(data + b"\x00")
    with pytest.raises(DecodeError, match="unexpected bytes after"):
        qserial.loads(data + data)
    with pytest.raises(TruncatedError):
        qserial.loads(data[:-1])
    with pytest.raises(TruncatedError):
        qserial.loads(data[:30], format="hdf5")
    # A long tail is refused from its first bytes, before it is read.
    with pytest.raises(DecodeError, match="unexpected bytes after"):
        qserial.loads(data + bytes(5 << 20))


def test_damaged_index(path: Any) -> None:
    data = path.read_bytes()
    end = hdf5_layout.check_superblock(data[:48], len(data))
    for at, error in ((end + 3, DecodeError),  # the magic: not qserial's index
                      (end + 8, (TruncatedError, DecodeError)),  # its length
                      (end + 40, IntegrityError)):  # its body
        damaged = bytearray(data)
        damaged[at] ^= 0x04
        with pytest.raises(error):
            qserial.loads(bytes(damaged))
    with pytest.raises(TruncatedError):
        qserial.loads(data[:end + 5])
    # Without any index the file is plain HDF5, read through HDF5.
    assert_equal(qserial.loads(data[:end]), result())


def test_partial_read_reads_only_selected_pubs(tmp_path: Any) -> None:
    rng = np.random.default_rng(5)
    pubs = [SamplerPubResult(DataBin(meas=BitArray(rng.integers(0, 256, (4, 2048, 2),
                                                                dtype=np.uint8), 16),
                                     shape=(4,))) for _ in range(8)]
    full = PrimitiveResult(pubs, metadata={"n": 8})
    data = qserial.dumps(full, format="hdf5")
    per_pub = pubs[0].data.meas.array.nbytes

    class Counting(io.BytesIO):
        count = 0

        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            self.count += len(out)
            return out

        def readinto(self, b: Any) -> int:
            n = super().readinto(b)
            self.count += n
            return n

    stream = Counting(data)
    got = qserial.load(stream, format="hdf5", pubs=[6])
    assert_equal(got, PrimitiveResult([pubs[6]], metadata=full.metadata))
    assert per_pub <= stream.count < len(data) - 6 * per_pub


_MAJOR = int(HDF5Format.version.split(".")[0])


@pytest.mark.parametrize("version, ok", [(f"{_MAJOR}.0", True), (f"{_MAJOR}.7", True),
                                         (f"{_MAJOR + 1}.0", False),
                                         (f"{_MAJOR + 8}.1", False)])
def test_versions(version: str, ok: bool, tmp_path: Any) -> None:
    # A file as a later writer of that version would make it, digests included: a
    # later minor version loads, a later major one is refused.
    later = type("LaterHDF5Format", (HDF5Format,), {"version": version})
    p = tmp_path / "v.h5"
    qserial.dump(result(2), p, format=later)
    if ok:
        assert_equal(qserial.load(p), result(2))
    else:
        with pytest.raises(UnsupportedVersionError) as info:
            qserial.load(p)
        assert version in str(info.value) and get_format("hdf5").version in str(info.value)


def test_garbled_version(path: Any) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["qserial_format_version"] = np.bytes_(b"one")
    with pytest.raises(DecodeError, match="format version"):
        qserial.load(path)


def test_other_hdf5_files_are_refused(tmp_path: Any) -> None:
    p = tmp_path / "plain.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DecodeError, match="not one written by qserial"):
        qserial.load(p)
    with h5py.File(p, "w", libver="earliest") as f:  # superblock version 0
        f.attrs["qserial_format"] = np.bytes_(b"msgpack")
    with pytest.raises(DecodeError, match="not 'hdf5'"):
        qserial.load(p)


def _edit_pub_tree(path: Any, pub: int, edit: Any) -> None:
    """Edit one pub's structure in qserial_tree ("[root,pub0,...]"), as h5py can."""
    with h5py.File(path, "r+") as f:
        tree = json.loads(f.attrs["qserial_tree"])
        edit(tree[1 + pub])
        texts = [json.dumps(t, separators=(",", ":")) for t in tree[1:]]
        tree[0]["v"]["pub_results"]["v"] = [len(t) for t in texts]
        root = json.dumps(tree[0], separators=(",", ":"))
        f.attrs["qserial_tree"] = np.bytes_(("[" + ",".join([root, *texts]) + "]").encode())


def _meas(tree: dict) -> dict:
    return tree["v"]["data"]["v"]["fields"]["meas"]["v"]["array"]


def test_declared_size_refused_before_allocating(path: Any) -> None:
    _edit_pub_tree(path, 2, lambda t: _meas(t).update(shape=[2**40, 2**20, 2]))
    with pytest.raises(LimitExceededError):
        qserial.load(path, verify=False)


@pytest.mark.parametrize("edit, match", [
    (lambda t: _meas(t).update(shape=[2, 16, 3]), "shape"),
    (lambda t: _meas(t).update(dtype="<u2"), "shape|element type|sizes"),
    (lambda t: _meas(t).update(dtype="|O"), "dtype"),
    (lambda t: _meas(t).update(dtype={"names": ["a"], "formats": ["|O"], "offsets": [0],
                                       "itemsize": 8}), "dtype"),
    (lambda t: _meas(t).update({"$a": "nothing"}), "missing"),
    (lambda t: t.update({"$t": 5}), "malformed"),
    (lambda t: t.update({"$zzz": 1}), "malformed|marker"),
    (lambda t: t["v"].update(metadata={"$b": "!!"}), "base64"),
])
def test_inconsistent_structure(path: Any, edit: Any, match: str) -> None:
    _edit_pub_tree(path, 2, edit)
    with pytest.raises(DecodeError, match=match) as info:
        qserial.load(path, verify=False)
    assert info.value.path.startswith("$.pub_results[2]")


def test_replaced_dataset(path: Any) -> None:
    with h5py.File(path, "r+") as f:
        del f["pub_results/3/meas"]
        f.create_dataset("pub_results/3/meas", data=np.zeros((2, 16, 2), np.float32))
    with pytest.raises(DecodeError, match="element type"):
        qserial.load(path)
    with h5py.File(path, "r+") as f:
        del f["pub_results/3/meas"]
        f.create_dataset("pub_results/3/meas", data=np.zeros((2, 16, 2), np.uint8),
                         chunks=(1, 16, 2), compression="gzip")
    with pytest.raises(DecodeError, match="not stored contiguously"):
        qserial.load(path)
    with h5py.File(path, "r+") as f:
        del f["pub_results/3"]
    with pytest.raises(DecodeError, match="dataset /pub_results/3/meas is missing") as info:
        qserial.load(path)
    assert info.value.path.startswith("$.pub_results[3]")


def test_deep_nesting_is_a_limit() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(QSerialError):
        qserial.dumps(deep, format="hdf5")


def test_pubs_on_other_values(tmp_path: Any) -> None:
    p = tmp_path / "m.h5"
    qserial.dump({"a": np.arange(3)}, p)
    with pytest.raises(DecodeError):
        get_format("hdf5").load_path(str(p), pubs=[0])


_CAMPAIGN = textwrap.dedent('''
    import sys, io, numpy as np, qserial
    from qserial.testing import assert_equal
    sys.path.insert(0, sys.argv[1])
    from test_hdf5_errors import result
    original = result(3)
    data = qserial.dumps(original, format="hdf5")
    n = len(data)
    start, stop = int(sys.argv[2]), int(sys.argv[3])
    for case in range(start, stop):
        rng = np.random.default_rng(case)
        buf = bytearray(data)
        kind = case % 4
        if kind < 2:                                    # one flipped bit
            buf[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
        elif kind == 2:                                 # an overwritten block
            at, size = int(rng.integers(n)), int(rng.integers(1, 64))
            fill = rng.bytes(size) if rng.integers(2) else bytes(size)
            buf[at:at + size] = fill[:n - at]
        else:                                           # truncated
            del buf[int(rng.integers(n)):]
        try:
            got = qserial.loads(bytes(buf), format="hdf5")
        except qserial.QSerialError:
            status = "error"
        except BaseException as exc:
            status = "escaped " + type(exc).__name__ + " " + str(exc)[:200].replace(chr(10), " ")
        else:
            try:
                assert_equal(got, original)
                status = "same"
            except AssertionError:
                status = "WRONG"
        print(case, status, flush=True)
''')


def test_corruption_campaign(tmp_path: Any) -> None:
    """Seeded bit flips, overwritten blocks and cuts: never wrong data, never another error.

    Each case runs in a child process; a crash of the HDF5 library there is counted and
    the campaign goes on after it.
    """
    cases = 2000
    script = tmp_path / "campaign.py"
    script.write_text(_CAMPAIGN)
    here = str(__import__("pathlib").Path(__file__).parent)
    seen: dict[int, str] = {}
    start = 0
    for _restart in range(50):
        proc = subprocess.run([sys.executable, str(script), here, str(start), str(cases)],
                              capture_output=True, text=True, timeout=600)
        for line in proc.stdout.splitlines():
            case, _, status = line.partition(" ")
            seen[int(case)] = status
        if proc.returncode == 0:
            break
        if not seen:  # the child failed before its first case: a broken set-up
            raise AssertionError(f"campaign did not start: {proc.stderr[-2000:]}")
        start = max(seen) + 1
        seen[start] = f"crash (exit {proc.returncode}): {proc.stderr[-300:]}"
        start += 1
        if start >= cases:
            break
    statuses = list(seen.values())
    bad = {c: s for c, s in seen.items() if s not in ("error", "same")}
    assert len(seen) == cases
    assert not bad, f"{len(bad)} bad cases, e.g. {list(bad.items())[:5]}"
    assert statuses.count("error") > cases * 0.9


def test_loads_from_non_seekable_stream() -> None:
    data = qserial.dumps(result(2), format="hdf5")

    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            return self.inner.readinto(b)

    assert_equal(get_format("hdf5").load(OneWay()) and qserial.load(OneWay(), format="hdf5"),
                 result(2))


# -- execution spans stored apart (layout 2.0) ---------------------------------------------

_SPAN_GROUPS = [[0, 1, 2], [2, 3], [4, 5], [1]]


def spans_result() -> PrimitiveResult:
    """:func:`result` with execution spans as qiskit-ibm-runtime reports them."""
    import datetime as dt

    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

    t0 = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    spans = [DoubleSliceSpan(t0 + dt.timedelta(seconds=k), t0 + dt.timedelta(seconds=k + 1),
                             {i: ((2, 16), slice(0, 2), slice(0, 16)) for i in group})
             for k, group in enumerate(_SPAN_GROUPS)]
    return PrimitiveResult(list(result(6)), metadata={
        "job": "x", "execution": {"execution_spans": ExecutionSpans(spans)}})


def _tree_parts(path: Any) -> tuple[dict, list[bytes], list[bytes]]:
    """qserial_tree as [root, span texts, pub texts], cut by the lengths it holds."""
    with h5py.File(path, "r") as f:
        text = bytes(f.attrs["qserial_tree"])
    root, end = json.JSONDecoder().raw_decode(text.decode(), 1)
    entries = root["v"]["metadata"]["execution"]["execution_spans"]["v"]["spans"]["v"]
    pos, texts = end + 1, []
    for n in [e[0] for e in entries] + root["v"]["pub_results"]["v"]:
        texts.append(text[pos:pos + n])
        pos += n + 1
    assert pos == len(text)
    return root, texts[:len(entries)], texts[len(entries):]


def _write_tree(path: Any, root: dict, spans: list[bytes], pubs: list[bytes]) -> None:
    """Store qserial_tree back as h5py can (HDF5 drops qserial's index on writing)."""
    parts = [json.dumps(root, separators=(",", ":")).encode(), *spans, *pubs]
    with h5py.File(path, "r+") as f:
        f.attrs["qserial_tree"] = np.bytes_(b"[" + b",".join(parts) + b"]")


@pytest.fixture
def spans_path(tmp_path: Any) -> Any:
    p = tmp_path / "s.h5"
    qserial.dump(spans_result(), p)
    return p


def test_spans_are_stored_apart_and_read_by_pub(spans_path: Any) -> None:
    root, spans, pubs = _tree_parts(spans_path)
    placeholder = root["v"]["metadata"]["execution"]["execution_spans"]["v"]["spans"]
    assert placeholder == {"$t": "$spans", "v": [[len(t), g] for t, g in
                                                  zip(spans, _SPAN_GROUPS, strict=True)]}
    assert [json.loads(t)["$t"] for t in spans] == ["DoubleSliceSpan"] * 4
    assert len(pubs) == 6
    full = spans_result()
    assert_equal(qserial.load(spans_path), full)
    tree = qserial.to_tree(full)
    for selection in ([2], [5, 1], [3, 3], []):
        expected = partial_result(tree, selection)
        assert_equal(qserial.load(spans_path, pubs=selection), expected)
    with qserial.open(spans_path) as lazy:
        assert_equal(lazy[4], full[4])
        assert_equal(lazy.metadata, full.metadata)


def test_flipped_span_byte_is_a_digest_mismatch(spans_path: Any) -> None:
    # The root digest covers every span's text: a changed span fails every load, a
    # partial one of pubs it did not run too.
    root, spans, pubs = _tree_parts(spans_path)
    spans[2] = spans[2].replace(b"04:", b"05:", 1)
    _write_tree(spans_path, root, spans, pubs)
    for selection in (None, [0], [4]):
        with pytest.raises(IntegrityError) as info:
            qserial.load(spans_path, pubs=selection)
        assert info.value.path == "$"
    assert qserial.load(spans_path, verify=False)


def _placeholder(root: dict) -> dict:
    return root["v"]["metadata"]["execution"]["execution_spans"]["v"]["spans"]


@pytest.mark.parametrize("edit, match, where", [
    # A span text one byte longer than stored: the texts no longer fit.
    (lambda root, spans: _placeholder(root)["v"][1].__setitem__(0, len(spans[1]) + 1),
     "span texts|not valid JSON", "$"),
    (lambda root, spans: _placeholder(root)["v"][0].__setitem__(0, 0),
     "span text lengths", "$"),
    (lambda root, spans: _placeholder(root).__setitem__("v", {"a": 1}),
     "placeholder", "$"),
    (lambda root, spans: _placeholder(root)["v"].__setitem__(3, [len(spans[3])]),
     "placeholder", "$"),
    # A table row that does not match its span.
    (lambda root, spans: _placeholder(root)["v"][1].__setitem__(1, [2, 3, 4]),
     "did not run the pubs", "$.metadata.execution.execution_spans"),
    (lambda root, spans: _placeholder(root)["v"][1].__setitem__(1, [3, 2]),
     "malformed table", "$.metadata.execution.execution_spans"),
    # A span text that is not JSON.
    (lambda root, spans: spans.__setitem__(1, b"{" * len(spans[1])),
     "execution span 1 is not valid JSON", "$.metadata.execution.execution_spans[1]"),
])
def test_damaged_spans_are_decode_errors(spans_path: Any, edit: Any, match: str,
                                         where: str) -> None:
    root, spans, pubs = _tree_parts(spans_path)
    edit(root, spans)
    _write_tree(spans_path, root, spans, pubs)
    for selection in (None, [3]):  # span 1 ran pubs 2 and 3
        with pytest.raises(DecodeError, match=match) as info:
            qserial.load(spans_path, pubs=selection, verify=False)
        assert info.value.path == where
    with pytest.raises((DecodeError, IntegrityError)):
        qserial.load(spans_path)


def test_spans_that_name_missing_pubs_stay_in_the_root(tmp_path: Any) -> None:
    # Spans of pubs the result does not hold cannot be selected by pub: stored whole.
    full = spans_result()
    cut = PrimitiveResult(list(full)[:3], metadata=full.metadata)
    p = tmp_path / "c.h5"
    qserial.dump(cut, p)
    with h5py.File(p, "r") as f:
        root = json.JSONDecoder().raw_decode(f.attrs["qserial_tree"].decode(), 1)[0]
    assert type(_placeholder(root)) is list
    assert_equal(qserial.load(p), cut)
    assert len(qserial.load(p, pubs=[1]).metadata["execution"]["execution_spans"]) == 2
