"""The msgpack layout as docs/formats/msgpack.md specifies it, and what it keeps exactly."""

from __future__ import annotations

import datetime as dt
import io

import msgpack
import numpy as np
import pytest
import qserial_msgpack
import qserial_msgpack._codec as codec
import xxhash
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

import qserial
from qserial import Node
from qserial.formats import get_format, writer_versions
from qserial.testing import assert_equal


def sampler_result(pubs: int = 3, seed: int = 7) -> PrimitiveResult:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(pubs):
        bits = rng.integers(0, 256, size=(4, 32, 2), dtype=np.uint8)  # padding bits set too
        data = DataBin(meas=BitArray(bits, 13), evs=np.arange(4.0) * i, shape=(4,))
        out.append(SamplerPubResult(data, metadata={"pub": i, "scale": np.float32(i / 3)}))
    return PrimitiveResult(out, metadata={"version": 2})


def objects(data: bytes) -> list:
    """The file as a plain msgpack reader sees it (extension types left as ExtType)."""
    return list(msgpack.Unpacker(io.BytesIO(data), strict_map_key=False))


def test_registered_and_recognised() -> None:
    fmt = get_format("msgpack")
    assert isinstance(fmt, qserial_msgpack.MsgpackFormat)
    assert fmt.suffixes == (".msgpack", ".mpk")
    assert fmt.version == qserial_msgpack.FORMAT_VERSION == "1.2"
    data = qserial.dumps({"x": 1}, format="msgpack")
    assert data.startswith(b"\xafqserial-msgpack")
    assert fmt.sniff(data[:64]) and fmt.sniff(qserial_msgpack.MAGIC)
    assert not fmt.sniff(qserial_msgpack.MAGIC[:15]) and not fmt.sniff(b"\xafqserial-msgpacK")


@pytest.mark.parametrize("suffix", [".msgpack", ".mpk"])
def test_suffix_selects_the_format(suffix: str, tmp_path) -> None:
    path = tmp_path / f"r{suffix}"
    qserial.dump({"a": 1}, path)
    assert path.read_bytes().startswith(qserial_msgpack.MAGIC)


def test_file_is_a_plain_msgpack_stream() -> None:
    result = sampler_result(pubs=2)
    data = qserial.dumps(result, format="msgpack")
    objs = objects(data)
    magic, _hlen, header, doc = objs[:4]
    assert magic == "qserial-msgpack"
    assert header["format"] == "msgpack" and header["version"] == qserial_msgpack.FORMAT_VERSION
    assert header["writer"] == {**writer_versions(), "qserial-msgpack": qserial_msgpack.__version__,
                                "msgpack": ".".join(map(str, msgpack.version))}
    assert header["digest"] == "xxh3_128"
    # The document: Nodes are [ExtType(1, tag), value] pairs.
    assert doc[0] == msgpack.ExtType(1, b"PrimitiveResult")
    pub = doc[1]["pub_results"][0]
    assert pub[0] == msgpack.ExtType(1, b"SamplerPubResult")
    meas = pub[1]["data"][1]["fields"]["meas"]
    assert meas[0] == msgpack.ExtType(1, b"BitArray") and meas[1]["num_bits"] == 13
    descr, shape, _offset, fortran = msgpack.unpackb(meas[1]["array"].data)
    assert (descr, shape, fortran) == ("|u1", [4, 32, 2], False)
    # Then nil padding, one bin per array in document order (numpy scalars in the
    # metadata are 0-d arrays), and the digest.
    rest = [o for o in objs[4:] if o is not None]
    order = list(_arrays(qserial.to_tree(result)))
    assert len(order) == 6  # per pub: meas, evs, the float32 scale
    assert [bytes(b) for b in rest[:-1]] == [a.tobytes() for a in order]
    assert rest[-1] == xxhash.xxh3_128_digest(data[:-18])


def test_offsets_sizes_and_alignment() -> None:
    result = sampler_result()
    data = qserial.dumps(result, format="msgpack")
    header = objects(data)[2]
    doc_start = 21 + int.from_bytes(data[17:21], "big")
    doc_end = doc_start + header["doc_size"]
    data_start = -(-doc_end // 64) * 64
    assert set(data[doc_end:data_start]) <= {0xC0}
    assert len(data) == data_start + header["data_size"] + 18
    assert data[-18:-16] == b"\xc4\x10"
    # Every array payload starts on a 64-byte boundary of the file.
    loaded = get_format("msgpack").load(io.BytesIO(data))
    base = None
    for arr in _arrays(loaded):
        assert arr.base is not None
        base = arr.base if base is None else base
        addr = arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        assert addr % 64 == 0 and data[addr - 5] == 0xC6
        assert int.from_bytes(data[addr - 4:addr], "big") == arr.nbytes
        assert data[addr:addr + arr.nbytes] == arr.tobytes()


def _arrays(tree):
    if type(tree) is np.ndarray:
        yield tree
    elif type(tree) is Node:
        yield from _arrays(tree.value)
    elif type(tree) is list:
        for x in tree:
            yield from _arrays(x)
    elif type(tree) is dict:
        for x in tree.values():
            yield from _arrays(x)


def test_arrays_are_writable_views_of_one_buffer(tmp_path) -> None:
    result = sampler_result()
    path = tmp_path / "r.msgpack"
    qserial.dump(result, path)
    loaded = qserial.load(path)
    arrays = [pub.data.meas.array for pub in loaded] + [pub.data.evs for pub in loaded]
    assert all(a.flags.writeable and not a.flags.owndata for a in arrays)
    assert all(np.shares_memory(arrays[0].base, a) for a in arrays)
    arrays[0][0, 0, 0] ^= 0xFF  # writable without a copy; nothing else changes
    assert_equal(loaded[1], result[1])
    copied = qserial.load(path, copy=True)
    assert all(pub.data.meas.array.flags.owndata for pub in copied)
    assert_equal(copied, result)


def test_header_of_a_file(tmp_path) -> None:
    path = tmp_path / "r.mpk"
    qserial.dump(sampler_result(), path)
    header = get_format("msgpack").read_header_path(str(path))
    assert header["format"] == "msgpack" and header["version"] == qserial_msgpack.FORMAT_VERSION
    assert header["writer"]["qserial"] == qserial.__version__
    assert "manifest" not in header


def test_manifest_is_kept_in_the_header(tmp_path) -> None:
    manifest = {"provenance": {"job_id": "abc", "shots": [1024, 2048]}, "note": "\u00e9",
                "when": (1, 2)}
    path = tmp_path / "r.msgpack"
    qserial.dump(sampler_result(), path, manifest=manifest)
    fmt = get_format("msgpack")
    header = fmt.read_header_path(str(path))
    assert header["manifest"] == {**manifest, "when": [1, 2]}  # as JSON keeps it
    assert objects(path.read_bytes())[2]["manifest"] == header["manifest"]
    assert_equal(qserial.load(path), sampler_result())
    # A large manifest still fits the header.
    big = {"items": ["x" * 100] * 20_000}
    qserial.dump(sampler_result(), path, manifest=big)
    with open(path, "rb") as f:
        assert fmt.read_header(f)["manifest"] == big


EXACT_VALUES = {
    "float32": np.float32(1.5),
    "int_keys": {1: "a", -2**70: "b", (1, 2): "c", None: 0, 2.5: [1]},
    "tuple_vs_list": ((1, [2, (3,)]), [()]),
    "floats": [float("nan"), float("inf"), -float("inf"), -0.0, 5e-324],
    "complex": [1 + 2j, complex(-0.0, float("inf")), np.complex64(1 - 1j)],
    "datetimes": [dt.datetime(2024, 1, 2, 3, 4, 5, 6),
                  dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
                  dt.date(2020, 2, 29)],
    "bytes": [b"", b"\x00\xff" * 100],
    "big_ints": [2**64, 2**64 - 1, -2**63, -2**63 - 1, 10**100, -10**100, 0, -1],
    "strings": ["", "ü€𝄞", "\ud800 lone surrogate", "\x00"],
    "scalars": [np.bool_(True), np.int8(-1), np.uint64(2**64 - 1), np.float16(0.1),
                np.longdouble(1) / 3, np.datetime64("2024-01-01T00:00:00.123", "ms"),
                np.str_("x"), np.bytes_(b"y")],
    "sets": [{1, 2}, frozenset({"a"})],
}


@pytest.mark.parametrize("name", sorted(EXACT_VALUES))
def test_values_come_back_exactly(name: str) -> None:
    obj = EXACT_VALUES[name]
    assert_equal(qserial.loads(qserial.dumps(obj, format="msgpack")), obj)


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(20, dtype="<u2")[::3],
    np.zeros((0, 5), dtype=np.complex128),
    np.array(7, dtype=np.int16),
    np.array(["ab", "c"], dtype="<U2"),
    np.array([b"xyz"], dtype="S3"),
    np.frombuffer(b"abcdefgh", dtype="V4"),
    np.array(["2020-01-01"], dtype="M8[D]"),
    np.array([3], dtype="m8[ns]"),
    np.zeros(3, dtype=[("a", "<i4"), ("b", ">f8", (2,)), (("title", "c"), "u1")]),
    np.zeros(2, dtype=np.dtype({"names": ["x"], "formats": ["<i2"], "offsets": [2],
                                "itemsize": 8})),
], ids=lambda a: f"{a.dtype.str}-{a.shape}")
def test_arrays_keep_dtype_byte_order_and_shape(arr: np.ndarray) -> None:
    back = qserial.loads(qserial.dumps({"a": arr}, format="msgpack"))["a"]
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes(order="A") == arr.tobytes(order="A")
    assert back.flags.f_contiguous == (arr.flags.f_contiguous and not arr.flags.c_contiguous) \
        or back.flags.c_contiguous


def test_bit_array_padding_bits_survive() -> None:
    bits = np.full((5, 2), 0xFF, dtype=np.uint8)  # 3 padding bits set in every shot
    result = BitArray(bits, 13)
    back = qserial.loads(qserial.dumps(result, format="msgpack"))
    assert back.array.tobytes() == bits.tobytes() and back.num_bits == 13


def test_arrays_of_several_bins(monkeypatch) -> None:
    """Arrays longer than one bin32 (4 GiB) span several bins; shown with a small limit."""
    monkeypatch.setattr(codec, "MAX_BIN", 100)
    arrays = {"a": np.arange(130, dtype=np.uint16), "b": np.arange(7, dtype=np.uint8),
              "c": np.arange(100, dtype=np.uint8), "d": np.arange(201, dtype=np.uint8)}
    data = qserial.dumps(arrays, format="msgpack")
    bins = [o for o in objects(data)[4:-1] if o is not None]
    assert [len(b) for b in bins] == [100, 100, 60, 7, 100, 100, 100, 1]
    back = qserial.loads(data)
    assert_equal(back, arrays)
    assert back["a"].flags.owndata or back["a"].base is not None


def test_empty_and_scalar_documents() -> None:
    for obj in [None, 0, "", [], {}, b"", np.zeros(0)]:
        data = qserial.dumps(obj, format="msgpack")
        assert_equal(qserial.loads(data), obj)


def test_same_tree_same_bytes() -> None:
    result = sampler_result()
    assert qserial.dumps(result, format="msgpack") == qserial.dumps(result, format="msgpack")


def test_writes_to_unbuffered_streams(tmp_path) -> None:
    result = sampler_result()
    path = tmp_path / "raw.msgpack"
    with open(path, "wb", buffering=0) as f:
        qserial.dump(result, f, format="msgpack")
    assert_equal(qserial.load(path), result)


def test_partial_selection_through_the_core(tmp_path) -> None:
    result = sampler_result(pubs=5)
    path = tmp_path / "r.msgpack"
    qserial.dump(result, path)
    got = qserial.load(path, pubs=[3, 1])
    assert_equal(got, PrimitiveResult([result[3], result[1]], metadata=result.metadata))


# -- compression ------------------------------------------------------------------------


def _descriptors(data: bytes) -> list[list]:
    found = []

    def ext(code: int, payload: bytes) -> object:
        if code == codec.EXT_ARRAY:
            found.append(msgpack.unpackb(payload))
        return msgpack.ExtType(code, payload)

    header_len = int.from_bytes(data[17:21], "big")
    header = msgpack.unpackb(data[21:21 + header_len])
    start = 21 + header_len
    msgpack.unpackb(data[start:start + header["doc_size"]], ext_hook=ext, strict_map_key=False)
    return found


def test_low_entropy_arrays_are_zstd_frames_random_ones_raw() -> None:
    import zstandard

    from qserial import scenarios

    result = scenarios.mixed_sweep(pubs=1, params=2, shots=5000)
    data = qserial.dumps(result, format="msgpack")
    by_shape = {}
    for desc in _descriptors(data):
        by_shape.setdefault(len(desc), []).append(desc)
    # meas: 27 random bits, stored as they are; mid1-mid3: compressed.
    raw, packed = by_shape[4], by_shape[6]
    assert [d[1] for d in raw if d[0] == "|u1"] == [[2, 5000, 4]]
    assert [d[1] for d in packed] == [[2, 5000, 1]] * 3
    data_start = -(-(21 + int.from_bytes(data[17:21], "big")
                     + objects(data)[2]["doc_size"]) // 64) * 64
    fields = result[0].data
    for desc, name in zip(packed, ("mid1", "mid2", "mid3"), strict=True):
        _dtype, _shape, offset, _fortran, codec_name, stored = desc
        assert codec_name == "zstd" and stored < 10_000 / 2
        at = data_start + offset
        assert data[at - 5] == 0xC6 and int.from_bytes(data[at - 4:at], "big") == stored
        frame = data[at:at + stored]
        assert zstandard.ZstdDecompressor().decompress(frame) == fields[name].array.tobytes()
    assert_equal(qserial.loads(data), result)


@pytest.mark.parametrize("compression", ["auto", "zstd", "none"])
def test_every_compression_option_round_trips(compression: str) -> None:
    from qserial import scenarios

    result = scenarios.mixed_sweep(pubs=2, params=2, shots=3000)
    data = qserial.dumps(result, format="msgpack", compression=compression, level=3)
    kinds = {len(d) for d in _descriptors(data) if d[1][-1:] in ([1], [4])}
    assert kinds == {"auto": {4, 6}, "zstd": {6}, "none": {4}}[compression]
    loaded = qserial.loads(data)
    assert_equal(loaded, result)
    assert all(pub.data.mid1.array.flags.writeable for pub in loaded)


@pytest.mark.parametrize("options", [{"compression": "lz4"}, {"level": 99},
                                     {"level": "fast"}])
def test_bad_compression_options_name_the_valid_ones(options: dict) -> None:
    with pytest.raises(qserial.FormatOptionError) as info:
        qserial.dumps(sampler_result(), format="msgpack", **options)
    message = str(info.value)
    assert f"for option {next(iter(options))!r}" in message
    assert "compression: str in {'auto', 'zstd', 'none'}, default 'auto'" in message
    assert "level: int -7..22, default 1" in message


def test_ghz_is_far_smaller_than_its_raw_bits() -> None:
    from qserial import scenarios

    result = scenarios.ghz()
    data = qserial.dumps(result, format="msgpack")
    assert len(data) < 0.25 * result[0].data.meas.array.nbytes
    assert len(data) < len(qserial.dumps(result))  # smaller than the JSON file
