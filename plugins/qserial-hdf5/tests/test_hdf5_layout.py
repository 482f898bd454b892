"""The HDF5 layout: plain HDF5 that h5py reads without qserial, and exact round trips."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import h5py
import numpy as np
import pytest
import qserial_hdf5._layout as hdf5_layout
import qserial_hdf5._reader as hdf5_reader
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

import qserial
from qserial.formats import get_format
from qserial.testing import assert_equal
from qserial.testing.conformance import real_results


def sweep(pubs: int = 4, params: int = 3, shots: int = 64, bits: int = 30,
          seed: int = 7) -> PrimitiveResult:
    rng = np.random.default_rng(seed)
    nbytes = (bits + 7) // 8
    out = []
    for _ in range(pubs):
        arr = rng.integers(0, 256, size=(params, shots, nbytes), dtype=np.uint8)
        arr[..., 0] &= (1 << (bits - 8 * (nbytes - 1))) - 1
        out.append(SamplerPubResult(DataBin(meas=BitArray(arr, bits), shape=(params,)),
                                    metadata={"shots": shots, "circuit_metadata": {"i": 1}}))
    return PrimitiveResult(out, metadata={"version": 2})


def counts_without_qserial(path: Any, pub: int, register: str = "meas") -> dict[str, int]:
    """The recipe of docs/formats/hdf5.md: counts with h5py and numpy only."""
    with h5py.File(path, "r") as f:
        ds = f[f"pub_results/{pub}/{register}"]
        num_bits = int(ds.attrs["num_bits"])
        packed = ds[()]  # (..., shots, bytes per shot), most significant byte first
    bits = np.unpackbits(packed, axis=-1)[..., packed.shape[-1] * 8 - num_bits:]
    return dict(Counter("".join(map(str, row)) for row in bits.reshape(-1, num_bits)))


def test_plain_hdf5_layout(tmp_path: Any) -> None:
    result = sweep()
    path = tmp_path / "r.h5"
    qserial.dump(result, path)
    with h5py.File(path, "r") as f:
        assert f.attrs["qserial_format"] == b"hdf5"
        assert f.attrs["qserial_format_version"] == get_format("hdf5").version.encode()
        writer = json.loads(f.attrs["qserial_writer"])
        assert writer["qserial"] == qserial.__version__ and writer["h5py"] == h5py.__version__
        assert sorted(f["pub_results"], key=int) == [str(i) for i in range(len(result))]
        for i, pub in enumerate(result):
            ds = f[f"pub_results/{i}/meas"]
            assert ds.dtype == np.uint8 and ds.shape == pub.data.meas.array.shape
            assert ds.attrs["num_bits"] == 30
            assert ds.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
            np.testing.assert_array_equal(ds[()], pub.data.meas.array)
        # One JSON array: the root's structure, then each pub's.
        root, *pubs = json.loads(f.attrs["qserial_tree"])
        assert root["v"]["metadata"] == {"version": 2}
        assert len(pubs) == len(result)
        for tree in pubs:
            assert tree["$t"] == "SamplerPubResult"
            assert tree["v"]["metadata"] == {"shots": 64, "circuit_metadata": {"i": 1}}


def test_counts_without_qserial(tmp_path: Any) -> None:
    path = tmp_path / "r.h5"
    result = real_results()["sampler"]
    qserial.dump(result, path)
    for i, pub in enumerate(result):
        for name in pub.data:
            assert counts_without_qserial(path, i, name) == pub.data[name].get_counts()
    big = sweep(pubs=1, bits=13)
    qserial.dump(big, path)
    assert counts_without_qserial(path, 0) == big[0].data.meas.get_counts()


def test_estimator_arrays_are_native_datasets(tmp_path: Any) -> None:
    path = tmp_path / "e.h5"
    result = real_results()["estimator"]
    qserial.dump(result, path)
    with h5py.File(path, "r") as f:
        for i, pub in enumerate(result):
            for name in ("evs", "stds"):
                np.testing.assert_array_equal(f[f"pub_results/{i}/{name}"][()], pub.data[name])
                assert f[f"pub_results/{i}/{name}"].dtype == pub.data[name].dtype


EXOTIC = {
    "f32": np.float32(-0.0),
    "big_int": -(2**200) + 3,
    "edge_ints": [2**63 - 1, -(2**63), 2**63, 0],
    "floats": [float("nan"), float("-inf"), 5e-324, -0.0, 1e308],
    "nan_payload": np.array([np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\xff", "<f8")[0]]),
    "complex": [1 - 2j, complex(float("nan"), -0.0)],
    "bytes": [b"", b"\x00\xff" * 100],
    "times": [dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc),
              dt.date(2020, 2, 29)],
    "keys": {1: "int key", (1, 2): "tuple key", None: 0, "$dollar": 1, "a/b": 2, "": 3},
    "tuple_vs_list": ((1, [2, (3,)]), [()]),
    "sets": [{1, 2}, frozenset({"x"})],
    "be": np.arange(6, dtype=">i4").reshape(2, 3),
    "be_f": np.linspace(0, 1, 5).astype(">f8"),
    "be_c": np.array([1 + 1j], dtype=">c16"),
    "f16": np.array([1.5, -2], dtype=np.float16),
    "ld": np.array([1 / 3], dtype=np.longdouble),
    "bool": np.array([[True, False]]),
    "bool_bytes": np.frombuffer(b"\x00\x01\x02", dtype=np.bool_),
    "unicode": np.array(["ä", "ß€", ""], dtype="<U2"),
    "bytes_arr": np.array([b"ab", b""], dtype="S2"),
    "dt64": np.array(["2024-01-01T00:00:00.000000001"], dtype="M8[ns]"),
    "td64": np.array([3, -4], dtype="m8[s]"),
    "structured": np.zeros(3, dtype=np.dtype({"names": ["a", "b"], "formats": ["<i2", "(2,)>f4"],
                                              "offsets": [0, 4], "itemsize": 16})),
    "empty": np.zeros((0, 4, 0), dtype=np.uint8),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "scalar_array": np.array(7, dtype="<u2"),
    "high_rank": np.zeros((1,) * 32, dtype=np.int8),
    "same_name": [np.arange(2), np.arange(3)],
    "odd_names": {"\ud800x": np.arange(3), "a\x00b": np.arange(2), "..": np.arange(1),
                  "\u00e9/\u00fc": np.arange(4), "x" * 200: np.arange(5), "": np.zeros(2),
                  "pub_results": np.ones(1)},
    "npscalars": [np.int8(-1), np.uint64(2**64 - 1), np.bool_(True), np.complex64(1j),
                  np.str_("s"), np.bytes_(b"b"), np.datetime64("2020-01-01")],
    "bits": BitArray(np.array([[0xFF, 0xFF]], dtype=np.uint8), 9),  # padding bits set
}


@pytest.mark.parametrize("key", sorted(EXOTIC))
def test_exact_round_trip(key: str, tmp_path: Any) -> None:
    obj = {key: EXOTIC[key]}
    data = qserial.dumps(obj, format="hdf5")
    assert_equal(qserial.loads(data), obj)
    # Read through HDF5 too: the file cut at HDF5's end, without qserial's index.
    assert_equal(qserial.loads(data[:hdf5_layout.check_superblock(data[:48], len(data))]), obj)
    path = tmp_path / "x.h5"
    qserial.dump(obj, path)
    assert_equal(qserial.load(path), obj)


def test_byte_order_and_padding_kept_bytewise() -> None:
    obj = {"be": np.arange(3, dtype=">u4"), "bits": EXOTIC["bits"]}
    back = qserial.loads(qserial.dumps(obj, format="hdf5"))
    assert back["be"].dtype == np.dtype(">u4")
    assert back["be"].tobytes() == obj["be"].tobytes()
    assert back["bits"].array.tobytes() == b"\xff\xff"


def test_big_metadata_attribute(tmp_path: Any) -> None:
    # Attributes beyond HDF5's 64 kB object-header limit go to dense storage.
    result = sweep(pubs=2)
    meta = {"notes": ["x" * 1000] * 200}
    result = PrimitiveResult(list(result), metadata=meta)
    path = tmp_path / "big.h5"
    qserial.dump(result, path)
    assert_equal(qserial.load(path), result)


def test_top_level_values_other_than_results() -> None:
    for obj in (None, 3, "text", [np.arange(3)], np.arange(4.0), BitArray.from_counts({"01": 3})):
        assert_equal(qserial.loads(qserial.dumps(obj, format="hdf5")), obj)


def test_stream_targets(tmp_path: Any) -> None:
    result = sweep(pubs=2)
    # A write-only file object and a stream that already holds data.
    path = tmp_path / "w.h5"
    with open(path, "wb") as f:
        qserial.dump(result, f, format="hdf5")
    assert_equal(qserial.load(path), result)
    buf = io.BytesIO()
    buf.write(b"prefix")
    qserial.dump(result, buf, format="hdf5")
    buf.seek(6)
    assert_equal(qserial.load(buf), result)
    assert buf.getvalue()[:6] == b"prefix"
    # A stream that holds older, longer data is written from its position, like a file.
    buf = io.BytesIO(b"x" * 100_000)
    qserial.dump(result, buf, format="hdf5")
    assert_equal(qserial.loads(buf.getvalue()[:buf.tell()]), result)


def test_read_header_and_manifest(tmp_path: Any) -> None:
    path = tmp_path / "h.h5"
    fmt = get_format("hdf5")
    qserial.dump({"a": 1}, path)
    header = fmt.read_header_path(str(path))
    assert header["format"] == "hdf5" and header["version"] == get_format("hdf5").version
    assert header["writer"]["qserial"] == qserial.__version__
    assert "manifest" not in header
    manifest = {"job": "abc", "tags": ["x", "\u00e9"], "n": 1.5}
    buf = io.BytesIO()
    fmt.dump(qserial.to_tree(sweep(pubs=1)), buf, manifest=manifest)
    buf.seek(0)
    assert fmt.read_header(buf)["manifest"] == manifest
    with h5py.File(io.BytesIO(buf.getvalue()), "r") as f:
        assert json.loads(f.attrs["qserial_manifest"]) == manifest
    assert_equal(qserial.loads(buf.getvalue()), sweep(pubs=1))


def test_unknown_options_are_refused(tmp_path: Any) -> None:
    with pytest.raises(qserial.FormatOptionError, match=r"(?s)no option 'chunks'.*level:"):
        qserial.dumps({}, format="hdf5", chunks=True)
    with pytest.raises(qserial.FormatOptionError,
                       match=r"invalid value 'lzf' for option 'compression'"):
        qserial.dumps({}, format="hdf5", compression="lzf")
    with pytest.raises(qserial.FormatOptionError, match="level 12 is no zlib level"):
        qserial.dumps({}, format="hdf5", compression="gzip", level=12)
    qserial.get_format("hdf5", compression="zstd", level=12)  # a zstd level
    data = qserial.dumps({}, format="hdf5")
    with pytest.raises(qserial.FormatOptionError, match="nonsense"):
        qserial.loads(data, nonsense=True)


def test_format_module_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, qserial; from qserial.formats import get_format; "
            "f = get_format('hdf5'); f.sniff(b''); print('h5py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def _structure_texts(tree_text: bytes) -> tuple[bytes, list[bytes]]:
    """qserial_tree's root text and each pub's text, as docs/formats/hdf5.md finds them."""
    root = json.loads(tree_text)[0]
    slot = root["v"].get("pub_results") if root["$t"] == "PrimitiveResult" else None
    lengths = slot["v"] if isinstance(slot, dict) and slot.get("$t") == "$pubs" else []
    # The pubs' texts end the array, one comma between each: the root's text is the rest.
    start = len(tree_text) - 1 - sum(lengths) - len(lengths)
    root_text = tree_text[1:start]
    texts = []
    for n in lengths:
        texts.append(tree_text[start + 1:start + 1 + n])
        start += 1 + n
    return root_text, texts


def test_digests_follow_the_documented_recipe(tmp_path: Any) -> None:
    """docs/formats/hdf5.md's digest recipe, with h5py and xxhash only."""
    import re
    import struct

    import xxhash

    path = tmp_path / "d.h5"
    qserial.dump(real_results()["estimator"], path, manifest={"who": "me"})
    with h5py.File(path, "r") as f:
        digests = f.attrs["qserial_digest"]
        tree_text = bytes(f.attrs["qserial_tree"])
        root_text, texts = _structure_texts(tree_text)
        assert len(texts) == len(f["pub_results"]) and len(digests) == 2 + len(texts)
        for i, text in enumerate(texts):
            h = xxhash.xxh3_64(b"qserial-hdf5 pub %d\0" % i)
            for name in re.findall(rb'"\$a":"([^"]*)"', text):
                h.update(f[f"pub_results/{i}/{name.decode()}"][()].tobytes())
            h.update(text)
            assert h.intdigest() == digests[2 + i]
        assert xxhash.xxh3_64(b"qserial-hdf5 root arrays\0").intdigest() == digests[1]
        h = xxhash.xxh3_64(b"qserial-hdf5\0")
        for part in (f.attrs["qserial_format_version"], f.attrs["qserial_writer"],
                     f.attrs["qserial_manifest"], root_text,
                     digests[1:].astype("<u8").tobytes()):
            h.update(struct.pack("<q", len(part)) + bytes(part))
        assert h.intdigest() == digests[0]


def test_index_follows_the_documented_layout(tmp_path: Any) -> None:
    """docs/formats/hdf5.md's index after HDF5's end, with h5py, numpy and xxhash only."""
    import struct

    import xxhash

    path = tmp_path / "i.h5"
    result = sweep(pubs=3)
    qserial.dump(result, path)
    data = path.read_bytes()
    end = struct.unpack_from("<Q", data, 28)[0]  # the superblock's end-of-file address
    index = data[end:]
    assert index[:8] == b"QSHDF5IX"
    length, digest = struct.unpack_from("<QQ", index, 8)
    assert length == len(index)
    body = index[24:]
    assert xxhash.xxh3_64(b"qserial-hdf5 index\0" + body).intdigest() == digest
    fields, pos = [], 0

    def take(n: int) -> bytes:
        nonlocal pos
        pos += n
        return body[pos - n:pos]

    def u64() -> int:
        return struct.unpack("<Q", take(8))[0]

    for _ in range(3):  # version, writer, manifest (absent: length 2**64 - 1)
        n = u64()
        fields.append(None if n == 2**64 - 1 else take(n))
    layout, count = u64(), u64()
    regions = np.frombuffer(take(16 * count), "<u8").reshape(-1, 2)
    digests = np.frombuffer(take(8 * u64()), "<u8")
    tree_text = take(u64())
    assert pos == len(body)
    with h5py.File(path, "r") as f:  # HDF5 ignores what follows its end
        assert fields == [f.attrs["qserial_format_version"], f.attrs["qserial_writer"], None]
        np.testing.assert_array_equal(digests, f.attrs["qserial_digest"])
        assert tree_text == f.attrs["qserial_tree"]
        ranges = sorted((f[f"pub_results/{i}/meas"].id.get_offset(),
                         f[f"pub_results/{i}/meas"].id.get_storage_size()) for i in range(3))
    assert regions.tolist() == [list(r) for r in ranges]
    # The layout digest: every byte before HDF5's end that is not a dataset's.
    h = xxhash.xxh3_64(b"qserial-hdf5 layout\0")
    pos = 0
    for offset, n in regions.tolist():
        h.update(data[pos:offset])
        pos = offset + n
    h.update(data[pos:end])
    assert h.intdigest() == layout


def test_loads_without_opening_hdf5(tmp_path: Any, monkeypatch: Any) -> None:
    """With the index valid and HDF5's bytes as written, HDF5 is never opened."""
    path = tmp_path / "f.h5"
    result = sweep(pubs=4)
    qserial.dump(result, path)
    opened = []
    real_open = hdf5_reader._open
    monkeypatch.setattr(hdf5_reader, "_open", lambda source: opened.append(source) or
                        real_open(source))
    assert_equal(qserial.load(path), result)
    assert_equal(qserial.load(path, pubs=[2]),
                 PrimitiveResult([result[2]], metadata=result.metadata))
    assert_equal(qserial.loads(path.read_bytes()), result)
    assert opened == []
    # Without its index (an HDF5 tool rewrote or edited the file), HDF5 reads it.
    data = path.read_bytes()
    assert_equal(qserial.loads(data[:hdf5_layout.check_superblock(data[:48], len(data))]), result)
    assert len(opened) == 1
    with h5py.File(path, "r+") as f:  # HDF5 cuts a file to its own end when writing
        f.attrs["note"] = "edited"
    edited = path.read_bytes()
    assert hdf5_layout.check_superblock(edited[:48], len(edited)) == len(edited)  # no index
    assert_equal(qserial.load(path), result)
    assert len(opened) == 2


def test_hdf5_metadata_lies_in_at_most_two_pieces(tmp_path: Any) -> None:
    """HDF5's own bytes, which every load hashes, are one block at the front and the
    root attributes at the end: not a piece between every few datasets."""
    path = tmp_path / "s.h5"
    result = sweep(pubs=60, params=2, shots=512)
    qserial.dump(result, path)
    data = path.read_bytes()
    end = hdf5_layout.check_superblock(data[:48], len(data))
    with h5py.File(path, "r") as f:
        ranges = sorted((f[f"pub_results/{i}/meas"].id.get_offset(),
                         f[f"pub_results/{i}/meas"].id.get_storage_size()) for i in range(60))
    pieces, pos = [], 0
    for offset, n in ranges:
        if offset > pos:
            pieces.append((pos, offset - pos))
        pos = offset + n
    if end > pos:
        pieces.append((pos, end - pos))
    assert len(pieces) <= 2 and pieces[0][0] == 0
    assert sum(n for _, n in pieces) < 120 * 1024  # no more than HDF5's own metadata


def test_changed_hdf5_bytes_are_read_through_hdf5(tmp_path: Any, monkeypatch: Any) -> None:
    """A change to HDF5's own bytes that kept the index sends the read through HDF5."""
    path = tmp_path / "f.h5"
    result = sweep(pubs=2)
    qserial.dump(result, path)
    data = bytearray(path.read_bytes())
    with h5py.File(path, "r") as f:
        assert f["pub_results/0/meas"].id.get_offset() > 48
    data[48] ^= 0x01  # HDF5's first byte after the superblock
    path.write_bytes(bytes(data))
    opened = []
    real_open = hdf5_reader._open
    monkeypatch.setattr(hdf5_reader, "_open", lambda source: opened.append(source) or
                        real_open(source))
    try:
        assert_equal(qserial.load(path), result)
    except qserial.QSerialError:
        pass
    assert opened, "the layout digest did not notice the change"




# -- compressed datasets -----------------------------------------------------------------


def test_low_entropy_arrays_are_gzip_chunks_plain_h5py_reads(tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.mixed_sweep(pubs=2, params=2, shots=4000)
    path = tmp_path / "mixed.h5"
    qserial.dump(result, path)
    with h5py.File(path, "r") as f:  # plain h5py, no plugin
        assert "qserial_requires" not in f.attrs
        for i, pub in enumerate(result):
            group = f[f"pub_results/{i}"]
            assert group["meas"].compression is None  # random bits: contiguous
            assert group["meas"].id.get_offset() is not None
            for name in ("mid1", "mid2", "mid3"):
                dataset = group[name]
                assert dataset.compression == "gzip" and dataset.chunks == dataset.shape
                assert dataset.id.get_storage_size() < dataset.nbytes / 2
                assert np.array_equal(dataset[()], pub.data[name].array)
    assert_equal(qserial.load(path), result)
    assert_equal(qserial.load(path, pubs=[1])[0], result[1])


@pytest.mark.parametrize("compression", ["auto", "gzip", "zstd", "none"])
def test_every_compression_option_round_trips(compression: str, tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.mixed_sweep(pubs=2, params=2, shots=3000)
    path = tmp_path / "r.h5"
    qserial.dump(result, path, compression=compression)
    expected = {"auto": "gzip", "gzip": "gzip", "zstd": "unknown", "none": None}[compression]
    with h5py.File(path, "r") as f:
        mid = f["pub_results/0/mid3"]
        assert mid.compression == expected  # h5py names only the filters it ships
        if compression == "zstd":
            assert mid.id.get_create_plist().get_filter(0)[0] == 32015
            assert b"import hdf5plugin" in f.attrs["qserial_requires"]
        meas = f["pub_results/0/meas"]
        # Random bits are compressed only when asked for every array.
        assert (meas.compression == "gzip") == (compression == "gzip")
    assert_equal(qserial.load(path), result)  # qserial needs no plugin for zstd either


def test_zstd_datasets_read_in_h5py_with_hdf5plugin(tmp_path: Any) -> None:
    pytest.importorskip("hdf5plugin")
    from qserial import scenarios

    result = scenarios.ghz(shots=5000)
    path = tmp_path / "z.h5"
    qserial.dump(result, path, compression="zstd")
    code = ("import sys, h5py, hdf5plugin, numpy as np; "
            "print(h5py.File(sys.argv[1], 'r')['pub_results/0/meas'][()].tobytes().hex())")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert bytes.fromhex(out) == result[0].data.meas.array.tobytes()


def test_damaged_compressed_chunk_is_an_error(tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.ghz(shots=5000)
    path = tmp_path / "ghz.h5"
    qserial.dump(result, path)
    with h5py.File(path, "r") as f:
        info = f["pub_results/0/meas"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[info.byte_offset + info.size // 2] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(qserial.QSerialError):
        qserial.load(path)


def test_compression_bomb_needs_a_trusted_load(tmp_path: Any) -> None:
    big = np.zeros((40 << 20) // 4, np.uint32)
    path = tmp_path / "zeros.h5"
    qserial.dump({"zeros": big}, path, format="hdf5")
    assert path.stat().st_size < 1 << 20
    with pytest.raises(qserial.LimitExceededError, match="max_expansion"):
        qserial.load(path)
    assert np.array_equal(qserial.load(path, max_expansion=None)["zeros"], big)
