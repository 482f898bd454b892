"""Bad msgpack input: every failure is a QSerialError that says what and where."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import tracemalloc
from typing import Any

import msgpack
import numpy as np
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qserial_msgpack import MAGIC

import qserial
from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    QSerialError,
    TruncatedError,
    UnknownTagError,
    UnsupportedTypeError,
    UnsupportedVersionError,
)
from qserial.formats import get_format
from qserial.testing import assert_equal

FMT = get_format("msgpack")


def result(pubs: int = 3, seed: int = 5) -> PrimitiveResult:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(pubs):
        bits = rng.integers(0, 256, size=(2, 16, 2), dtype=np.uint8) & np.uint8(0x0F)
        data = DataBin(meas=BitArray(bits, 12), evs=np.arange(6.0).reshape(2, 3) * i, shape=(2,))
        out.append(SamplerPubResult(data, metadata={"pub": i, "scale": np.float32(i)}))
    return PrimitiveResult(out, metadata={"job": "x", "when": (1, 2)})


def build(doc: bytes, data: bytes = b"", *, raw_header: bytes | None = None,
          **header: Any) -> bytes:
    """A file around ``doc`` and a data region ``data``, with a correct digest."""
    fields = {"format": "msgpack", "version": "1.0", "writer": {}, "digest": "xxh3_128",
              "doc_size": len(doc), "data_size": len(data), **header}
    head = raw_header if raw_header is not None else msgpack.packb(fields)
    body = MAGIC + b"\xce" + len(head).to_bytes(4, "big") + head + doc
    body += b"\xc0" * ((-len(body)) % 64) + data
    return body + b"\xc4\x10" + xxhash.xxh3_128_digest(body)


def tag(name: str) -> msgpack.ExtType:
    return msgpack.ExtType(1, name.encode())


def array_ext(descr: Any, shape: list, offset: int, fortran: bool = False) -> msgpack.ExtType:
    return msgpack.ExtType(2, msgpack.packb([descr, shape, offset, fortran]))


def payload(*arrays: bytes) -> tuple[bytes, list[int]]:
    """A data region holding ``arrays`` as the writer lays them out, and their offsets."""
    region, offsets = b"", []
    for raw in arrays:
        offset = -(-(len(region) + 5) // 64) * 64
        region += b"\xc0" * (offset - 5 - len(region)) + b"\xc6" + len(raw).to_bytes(4, "big")
        region += raw
        offsets.append(offset)
    return region, offsets


def loads(data: bytes, **options: Any) -> Any:
    return qserial.loads(data, format="msgpack", **options)


def test_builder_makes_valid_files() -> None:
    region, (offset,) = payload(b"\x01\x02\x03")
    doc = msgpack.packb([tag("tuple"), [array_ext("|u1", [3], offset)]])
    assert loads(build(doc, region))[0].tolist() == [1, 2, 3]
    real = qserial.dumps(result(), format="msgpack")
    assert_equal(loads(real), result())


# -- truncated, padded, joined, zeroed, flipped --------------------------------------------


@pytest.mark.parametrize("obj", [result(), {"a": [1, 2.5, None]}, None])
def test_truncation_at_every_offset_is_a_truncated_error(obj: Any) -> None:
    data = qserial.dumps(obj, format="msgpack")
    for cut in range(len(data)):
        with pytest.raises(TruncatedError):
            FMT.load(io.BytesIO(data[:cut]))


def test_padded_and_joined_files_are_refused() -> None:
    data = qserial.dumps(result(), format="msgpack")
    with pytest.raises(DecodeError, match="unexpected bytes follow the end"):
        loads(data + b"\x00")
    with pytest.raises(DecodeError, match=f"{len(data)} unexpected bytes"):
        loads(data + data)


def test_zeroed_blocks_are_refused() -> None:
    data = qserial.dumps(result(), format="msgpack")
    for start in range(0, len(data), 16):
        bad = data[:start] + bytes(16) + data[start + 16:]
        if bad == data:
            continue
        with pytest.raises(QSerialError):
            loads(bad[: len(data)])


def test_digest_mismatch_names_the_bytes() -> None:
    data = bytearray(qserial.dumps(result(), format="msgpack"))
    data[-40] ^= 0x01  # inside the last array payload
    with pytest.raises(IntegrityError, match=r"digest mismatch: xxh3-128 of bytes 0-\d+"):
        loads(bytes(data))
    # Without the check, the damaged payload is read as it is.
    got = loads(bytes(data), verify=False)
    assert isinstance(got, PrimitiveResult)


FLIPS_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import qserial
    from qserial import QSerialError
    from qserial.testing import first_difference

    data = bytes.fromhex(sys.stdin.read())
    original = qserial.loads(data)
    rng = np.random.default_rng(int(sys.argv[1]))
    counts = {"error": 0, "same": 0, "different": 0, "other": []}
    for verify in (True, False):
        for _ in range(int(sys.argv[2])):
            bad = bytearray(data)
            bit = int(rng.integers(len(bad) * 8))
            bad[bit // 8] ^= 1 << (bit % 8)
            try:
                got = qserial.loads(bytes(bad), verify=verify)
            except QSerialError:
                counts["error"] += 1
                continue
            except Exception as exc:
                counts["other"].append(repr(exc)[:200])
                continue
            key = "same" if first_difference(got, original) is None else "different"
            counts[key + ("" if verify else "_unverified")] = \\
                counts.get(key + ("" if verify else "_unverified"), 0) + 1
    print(json.dumps(counts))
""")


def test_seeded_bit_flips_never_load_silently() -> None:
    """Thousands of single-bit flips, in a subprocess so a crash would be caught too."""
    data = qserial.dumps(result(), format="msgpack")
    proc = subprocess.run(
        [sys.executable, "-c", FLIPS_SCRIPT, "1234", "2000"], input=data.hex(),
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout)
    assert counts["other"] == []
    # With the digest checked, no flip loads at all; without it, no crash either.
    assert counts.get("same", 0) == 0 and counts.get("different", 0) == 0
    assert counts["error"] >= 2000


def test_overwritten_blocks_and_garbage_are_refused() -> None:
    data = qserial.dumps(result(), format="msgpack")
    rng = np.random.default_rng(99)
    for _ in range(300):
        start = int(rng.integers(len(data)))
        size = int(rng.integers(1, 64))
        bad = data[:start] + rng.bytes(size) + data[start + size:]
        if bad[: len(data)] == data:
            continue
        with pytest.raises(QSerialError):
            loads(bad[: len(data)])
    for size in (0, 1, 20, 21, 100, 5000):
        with pytest.raises(QSerialError):
            loads(MAGIC + rng.bytes(size))


# -- header and version -------------------------------------------------------------------


def test_newer_major_version_names_both_versions() -> None:
    data = build(msgpack.packb(None), version="2.0")
    with pytest.raises(UnsupportedVersionError, match=r"version 2\.0.*up to 1\.x.*writes 1\.2"):
        loads(data)
    # Checked before anything else in the file is trusted: the layout may differ.
    with pytest.raises(UnsupportedVersionError):
        loads(data[:-1] + bytes([data[-1] ^ 1]))


def test_newer_minor_version_loads() -> None:
    data = build(msgpack.packb({"x": [1, 2]}), version="1.7", added_later="ignored")
    assert loads(data) == {"x": [1, 2]}


@pytest.mark.parametrize(("fields", "message"), [
    ({"version": "one"}, "invalid format version"),
    ({"version": 1}, "invalid format version"),
    ({"version": "0.9"}, "unknown msgpack format version"),
    ({"format": "hdf5"}, "names format 'hdf5'"),
    ({"digest": "md5"}, "unknown digest"),
    ({"doc_size": -1}, "invalid doc_size"),
    ({"data_size": "big"}, "invalid data_size"),
])
def test_bad_header_fields(fields: dict, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        loads(build(msgpack.packb(None), **fields))


def test_bad_preamble() -> None:
    good = build(msgpack.packb(None))
    with pytest.raises(DecodeError, match="byte 16"):
        loads(good[:16] + b"\xcd" + good[17:])
    with pytest.raises(DecodeError, match="exceeds 16777216"):
        loads(good[:17] + (1 << 30).to_bytes(4, "big") + good[21:])
    with pytest.raises(DecodeError, match="not a map"):
        loads(build(msgpack.packb(None), raw_header=msgpack.packb([1, 2])))
    with pytest.raises(DecodeError, match="invalid header"):
        loads(build(msgpack.packb(None), raw_header=b"\xc1"))
    with pytest.raises(DecodeError, match="not a qserial msgpack file"):
        loads(b"\xafqserial-msgpacX" + good[16:])


def test_header_alone_is_checked_too() -> None:
    data = build(msgpack.packb(None), version="3.1")
    with pytest.raises(UnsupportedVersionError):
        FMT.read_header(io.BytesIO(data))
    good = qserial.dumps({"a": 1}, format="msgpack")
    for cut in (0, 5, 16, 20, 30):
        with pytest.raises(TruncatedError):
            FMT.read_header(io.BytesIO(good[:cut]))
    with pytest.raises(DecodeError):
        FMT.read_header(io.BytesIO(b"PAR1" + bytes(60)))


def test_damaged_trailer_and_padding() -> None:
    good = build(msgpack.packb(None))
    with pytest.raises(DecodeError, match="no digest at byte"):
        loads(good[:-18] + b"\xc5\x10" + good[-16:])
    doc = msgpack.packb(None)
    bad = bytearray(build(doc))
    bad[-19] = 0x00  # a padding byte before the (empty) data region
    body = bytes(bad[:-18])
    with pytest.raises(DecodeError, match="invalid padding after the document"):
        loads(body + b"\xc4\x10" + xxhash.xxh3_128_digest(body))


# -- crafted documents (valid digest, hostile content) ------------------------------------


TIMESTAMPS = [msgpack.packb(msgpack.Timestamp(1, 0)), msgpack.packb(msgpack.Timestamp(2**40, 5)),
              msgpack.packb(msgpack.Timestamp(-(2**40), 5)),
              b"\xc7\x08\xff" + bytes(8), b"\xc8\x00\x04\xff" + bytes(4),
              b"\xc9\x00\x00\x00\x0c\xff" + bytes(12)]


@pytest.mark.parametrize("stamp", TIMESTAMPS, ids=lambda b: b[:3].hex())
def test_timestamps_are_not_tree_values(stamp: bytes) -> None:
    for doc in (stamp, b"\x91" + stamp, b"\x81\xa1k" + stamp, b"\x92\x01" + stamp,
                b"\x92" + msgpack.packb(tag("tuple")) + stamp):
        with pytest.raises(DecodeError, match=r"not a qserial tree value|misplaced|holds a"):
            loads(build(doc))


def test_bytes_keys_are_refused() -> None:
    with pytest.raises(DecodeError, match="keys other than strings"):
        loads(build(msgpack.packb({b"k": 1})))
    with pytest.raises(DecodeError, match=r"invalid document \(bytes \d+-\d+\)"):
        loads(build(msgpack.packb({1: 1})))


@pytest.mark.parametrize("doc", [
    tag("tuple"),
    [tag("tuple")],
    [tag("tuple"), [], []],
    [1, tag("tuple")],
    {"k": tag("tuple")},
    [tag("tuple"), tag("tuple")],
    [tag("tuple"), {"k": [2, tag("x")]}],
], ids=repr)
def test_stray_tags_are_refused(doc: Any) -> None:
    with pytest.raises(DecodeError):
        loads(build(msgpack.packb(doc)))


def test_unknown_extension_types_and_bad_tags() -> None:
    with pytest.raises(DecodeError, match="unknown msgpack extension type 9"):
        loads(build(msgpack.packb([msgpack.ExtType(9, b"x")])))
    with pytest.raises(DecodeError, match="not UTF-8"):
        loads(build(msgpack.packb([msgpack.ExtType(1, b"\xff\xfe"), 1])))
    with pytest.raises(DecodeError, match="empty big integer"):
        loads(build(msgpack.packb([msgpack.ExtType(3, b"")])))


def test_unknown_tags_are_the_registry_s_business() -> None:
    data = build(msgpack.packb([tag("os.system"), ["rm -rf /"]]))
    with pytest.raises(UnknownTagError, match=r"os\.system"):
        loads(data)
    got = loads(data, strict=False)
    assert got.tag == "os.system" and got.value == ["rm -rf /"]


@pytest.mark.parametrize(("descr", "message"), [
    ("O", "refused"),
    ("|O", "refused"),
    ([["a", "<i4"], ["b", "|O"]], "refused"),
    ("not a dtype", "invalid dtype"),
    (5, "invalid dtype"),
    ([["a"]], "invalid dtype"),
    ("V0", "refused"),
    ("(2,)<i4", "refused"),
    ("T", "refused|invalid dtype"),
])
def test_unsafe_or_invalid_dtypes_are_refused(descr: Any, message: str) -> None:
    region, (offset,) = payload(bytes(8))
    with pytest.raises(DecodeError, match=message):
        loads(build(msgpack.packb([array_ext(descr, [1], offset)]), region))


def test_declared_sizes_beyond_the_data_are_refused_before_allocating() -> None:
    region, (offset,) = payload(bytes(64))
    tracemalloc.start()
    try:
        for shape in ([2**40], [2**31, 2**31], [2**64 - 1, 2**64 - 1], [9, 9]):
            with pytest.raises(DecodeError, match="do not fit the data region"):
                loads(build(msgpack.packb([array_ext("<f8", shape, offset)]), region))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


@pytest.mark.parametrize(("doc_arrays", "message"), [
    # Two arrays over the same bytes would share memory.
    (lambda o: [array_ext("|u1", [8], o[0]), array_ext("|u1", [8], o[0])], "do not fit"),
    # Out of document order.
    (lambda o: [array_ext("|u1", [8], o[1]), array_ext("|u1", [8], o[0])], "padding|do not fit"),
    # Not where the bin header is.
    (lambda o: [array_ext("|u1", [8], o[0] + 1), array_ext("|u1", [7], o[1])], "padding|bin32"),
    (lambda o: [array_ext("|u1", [4], o[0]), array_ext("|u1", [8], o[1])], "bin32 header"),
    # Leaves bytes of the data region unused.
    (lambda o: [array_ext("|u1", [8], o[0])], "no array uses"),
    (lambda o: [array_ext("|u1", [-1], o[0])], "invalid shape"),
    (lambda o: [array_ext("|u1", [8.0], o[0])], "invalid shape"),
    (lambda o: [msgpack.ExtType(2, msgpack.packb(["|u1", [8], o[0]]))], "descriptor"),
    (lambda o: [msgpack.ExtType(2, b"\xc1")], "descriptor"),
    (lambda o: [msgpack.ExtType(2, msgpack.packb(["|u1", [8], "x", False]))], "descriptor"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_inconsistent_array_layouts_are_refused(doc_arrays: Any, message: str) -> None:
    region, offsets = payload(bytes(range(8)), bytes(range(8)))
    with pytest.raises(DecodeError, match=message):
        loads(build(msgpack.packb(doc_arrays(offsets)), region))


def test_bad_padding_inside_the_data_region() -> None:
    region, offsets = payload(bytes(8), bytes(8))
    bad = bytearray(region)
    bad[offsets[1] - 6] = 0x00  # the last padding nil before the second bin header
    doc = msgpack.packb([array_ext("|u1", [8], offsets[0]), array_ext("|u1", [8], offsets[1])])
    with pytest.raises(DecodeError, match="invalid padding before it"):
        loads(build(doc, bytes(bad)))


def test_deep_nesting_is_a_limit() -> None:
    with pytest.raises(LimitExceededError, match="nests too deeply"):
        loads(build(b"\x91" * 100_000 + b"\xc0"))


def test_invalid_msgpack_in_the_document() -> None:
    for doc in (b"\xc1", b"\x92\x01", b"\xa3ab", b"\xa2\xff\xfe"):
        with pytest.raises(DecodeError, match=r"invalid document \(bytes \d+-\d+\)"):
            loads(build(doc))


# -- writing ------------------------------------------------------------------------------


def test_writer_refuses_what_is_not_a_tree() -> None:
    for tree in [(1, 2), {"a": object()}, np.float32(1), [np.array([object()], dtype=object)],
                 qserial.Node(5, None)]:
        with pytest.raises(UnsupportedTypeError):
            FMT.dump(tree, io.BytesIO())
    deep: Any = None
    for _ in range(1024):  # as deep as msgpack packs, and reads back
        deep = [deep]
    back, depth = FMT.load(io.BytesIO(_dump(deep))), 0
    while back is not None:
        back, depth = back[0], depth + 1
    assert depth == 1024
    with pytest.raises(LimitExceededError):
        FMT.dump([deep], io.BytesIO())


def _dump(tree: Any) -> bytes:
    buf = io.BytesIO()
    FMT.dump(tree, buf)
    return buf.getvalue()


def test_unbuffered_short_writes_are_completed() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self.out = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            chunk = bytes(memoryview(b)[:7])
            self.out += chunk
            return len(chunk)

    sink = Trickle()
    FMT.dump(qserial.to_tree(result()), sink)
    assert_equal(loads(bytes(sink.out)), result())


# -- fuzzing ------------------------------------------------------------------------------

_VALID = qserial.dumps(result(pubs=2), format="msgpack")


@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    for blob in (data, MAGIC + data):
        try:
            FMT.load(io.BytesIO(blob))
        except QSerialError:
            pass


@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)),
                min_size=1, max_size=8), st.booleans())
def test_fuzz_mutated_files(edits: list[tuple[int, int]], verify: bool) -> None:
    data = bytearray(_VALID)
    for pos, value in edits:
        data[pos] = value
    try:
        got = FMT.load(io.BytesIO(bytes(data)), verify=verify)
    except QSerialError:
        return
    if verify:  # only edits that changed nothing get through the digest
        assert bytes(data) == _VALID
    try:
        qserial.from_tree(got)
    except QSerialError:
        pass


# -- compressed arrays -------------------------------------------------------------------


def packed_ext(shape: list, offset: int, stored: int, codec: Any = "zstd") -> msgpack.ExtType:
    return msgpack.ExtType(2, msgpack.packb(["|u1", shape, offset, False, codec, stored]))


def zstd_file(raw: bytes, shape: list, *, frame: bytes | None = None, codec: Any = "zstd",
              stored: int | None = None) -> bytes:
    import zstandard

    frame = zstandard.ZstdCompressor(level=1).compress(raw) if frame is None else frame
    region, [offset] = payload(frame)
    doc = msgpack.packb(packed_ext(shape, offset, len(frame) if stored is None else stored,
                                   codec))
    return build(doc, region, version="1.1")


def test_a_compressed_array_reads_back() -> None:
    raw = bytes(range(16)) * 512
    out = loads(zstd_file(raw, [512, 16]))
    assert out.tobytes() == raw and out.shape == (512, 16) and out.flags.writeable


@pytest.mark.parametrize(("change", "message"), [
    ({"codec": "lz4"}, "unknown codec 'lz4'"),
    ({"stored": 0}, "invalid stored size"),
    ({"stored": 10**6}, "do not fit the data region"),
    ({"frame": b"\x28\xb5\x2f\xfd" + b"\x00" * 40}, "zstd"),
    ({"frame": b"not a zstd frame at all" * 3}, "zstd frame"),
], ids=["codec", "zero-size", "too-long", "bad-frame", "not-zstd"])
def test_bad_compressed_arrays(change: dict, message: str) -> None:
    data = zstd_file(bytes(4096), [4096], **change)
    with pytest.raises(DecodeError, match=message):
        loads(data)


def test_frame_must_hold_what_the_shape_declares() -> None:
    import zstandard

    frame = zstandard.ZstdCompressor().compress(bytes(4000))
    with pytest.raises(DecodeError, match="holds 4000 bytes, its shape and dtype 4096"):
        loads(zstd_file(b"", [4096], frame=frame))
    # Data after the frame, inside its bin (the digest is rebuilt, so only the layout
    # check can see it).
    with pytest.raises(DecodeError, match="follow the zstd frame"):
        loads(zstd_file(b"", [4000], frame=frame + b"\x00\x01"))


def test_a_compression_bomb_is_refused_unless_trusted() -> None:
    import zstandard

    big = 64 << 20
    frame = zstandard.ZstdCompressor().compress(bytes(big))
    data = zstd_file(b"", [big], frame=frame)
    assert len(data) < 1 << 16
    with pytest.raises(LimitExceededError, match="max_expansion"):
        loads(data)
    assert loads(data, max_expansion=None).nbytes == big
