"""Damaged, altered, foreign and newer files; partial reads touch only their pubs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qserial_parquet import ParquetFormat, _layout, _reader

import qserial
from qserial.testing import assert_equal


def _result(pubs: int = 4, seed: int = 0) -> PrimitiveResult:
    rng = np.random.default_rng(seed)
    return PrimitiveResult(
        [SamplerPubResult(DataBin(shape=(3,), meas=BitArray(
            rng.integers(0, 32, size=(3, 64, 1), dtype=np.uint8), 5)), metadata={"i": i})
         for i in range(pubs)],
        metadata={"note": "test"},
    )


def _rewrite(src: str, dst: str, edit: Any, seal: bool = True) -> None:
    """Copy a qserial Parquet file row group by row group with edited key-value metadata.

    The copy is sealed again: a forger can do that, so the digests behind the seal still
    have to catch the edit.
    """
    pf = pq.ParquetFile(src)
    meta = {k.decode(): v.decode() for k, v in pf.metadata.metadata.items()}
    edit(meta)
    with pq.ParquetWriter(dst, pf.schema_arrow, use_dictionary=False, write_statistics=False,
                          store_schema=False, compression="none") as writer:
        for g in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(g), row_group_size=1 << 20)
        writer.add_key_value_metadata(meta)
    if seal:
        _layout.seal_path(dst)


@pytest.fixture
def written(tmp_path: Any) -> tuple[str, PrimitiveResult]:
    result = _result()
    path = str(tmp_path / "r.parquet")
    qserial.dump(result, path)
    return path, result


def test_foreign_parquet_file(tmp_path: Any) -> None:
    path = str(tmp_path / "plain.parquet")
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    with pytest.raises(qserial.DecodeError, match="not one qserial wrote"):
        qserial.load(path)


def test_newer_major_version_is_refused(written: Any, tmp_path: Any) -> None:
    path, _ = written
    newer = str(tmp_path / "newer.parquet")
    major = int(ParquetFormat.version.partition(".")[0])
    refused = rf"{major + 1}\.3.* up to {major}\.x"

    def bump(meta: dict) -> None:
        header = json.loads(meta["qserial"])
        header["version"] = f"{major + 1}.3"
        meta["qserial"] = json.dumps(header)

    _rewrite(path, newer, bump)
    with pytest.raises(qserial.UnsupportedVersionError, match=refused):
        qserial.load(newer)
    # Also when the seal does not hold (a newer version may seal differently).
    _rewrite(path, newer, bump, seal=False)
    for source in (newer, open(newer, "rb").read()):
        with pytest.raises(qserial.UnsupportedVersionError, match=refused):
            _reader.read(source)
    # A newer minor version of the same major is read.
    minor = str(tmp_path / "minor.parquet")
    _rewrite(path, minor, lambda m: m.update(qserial=m["qserial"].replace(
        f'"{ParquetFormat.version}"', f'"{major}.7"')))
    assert_equal(qserial.load(minor, verify=False), qserial.load(path))


def test_altered_tree_fails_the_digest(written: Any, tmp_path: Any) -> None:
    path, result = written
    altered = str(tmp_path / "altered.parquet")
    _rewrite(path, altered,
             lambda m: m.update({"qserial.pub.2": m["qserial.pub.2"].replace('"i":2', '"i":9')}))
    with pytest.raises(qserial.IntegrityError, match=r"pub 2") as info:
        qserial.load(altered)
    assert info.value.path == "$.pub_results[2]"
    # Other pubs are still readable, and verify=False shows the altered value.
    assert_equal(qserial.load(altered, pubs=[1])[0], result[1])
    assert qserial.load(altered, verify=False)[2].metadata == {"i": 9}


def test_altered_register_data_fails_the_digest(written: Any, tmp_path: Any) -> None:
    """A changed shot in one pub's row group; reading other pubs does not touch it."""
    path, result = written
    qserial.dump(result, path, compression="none", dictionary=False)  # PLAIN values
    pf = pq.ParquetFile(path)
    chunk = pf.metadata.row_group(1).column(2)
    data = bytearray(open(path, "rb").read())
    # The low byte of the last value (uint8 is stored as little-endian INT32 in Parquet).
    offset = chunk.data_page_offset + chunk.total_compressed_size - 4
    data[offset] ^= 0x01
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    with pytest.raises(qserial.IntegrityError, match="pub 1"):
        qserial.load(damaged)
    back = qserial.load(damaged, pubs=[0, 3])
    assert_equal(back[0], result[0])
    assert_equal(back[1], result[3])


@pytest.mark.parametrize("at", [0.3, 0.6, 0.9])
def test_altered_compressed_shots_never_load(at: float, tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.ghz(shots=5000)
    path = tmp_path / "ghz.parquet"
    qserial.dump(result, path)
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(2)
    assert chunk.compression == "ZSTD"
    data = bytearray(path.read_bytes())
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start + int(at * chunk.total_compressed_size)] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(qserial.QSerialError):
        qserial.load(path)


def test_schema_that_disagrees_with_the_header(written: Any, tmp_path: Any) -> None:
    path, _ = written
    pf = pq.ParquetFile(path)
    table = pf.read()
    table = table.set_column(2, "meas", table.column("meas").cast(pa.int16()))
    other = str(tmp_path / "other.parquet")
    pq.write_table(table.replace_schema_metadata(pf.metadata.metadata), other,
                   row_group_size=192)
    _layout.seal_path(other)
    with pytest.raises(qserial.IntegrityError, match="schema"):
        qserial.load(other)


def test_hostile_tree_values(written: Any, tmp_path: Any) -> None:
    path, _ = written
    cases = {
        "object": ({"$array": ["|O", [2], "AAAAAAAAAAAAAAAAAAAAAA=="]}, qserial.ForbiddenTypeError),
        "too big": ({"$array": ["<f8", [1000000, 1000000], "AAAA"]}, qserial.DecodeError),
        "bad marker": ({"$eval": "os.system('true')"}, qserial.DecodeError),
        "bad base64": ({"$bytes": "!!!!"}, qserial.DecodeError),
        "bad column": ({"$column": ["nope", [3, 64, 1], None]}, qserial.DecodeError),
    }
    for name, (value, error) in cases.items():
        bad = str(tmp_path / f"{name}.parquet")

        def plant(meta: dict, value: Any = value) -> None:
            pub = json.loads(meta["qserial.pub.0"])
            pub["$node"][1]["metadata"] = value
            meta["qserial.pub.0"] = json.dumps(pub)

        _rewrite(path, bad, plant)
        with pytest.raises(error):
            qserial.load(bad, verify=False)
        with pytest.raises(qserial.IntegrityError):
            qserial.load(bad)


def test_declared_sizes_over_the_limit(written: Any) -> None:
    path, _ = written
    with pytest.raises(qserial.LimitExceededError, match="max_bytes"):
        qserial.load(path, max_bytes=100)


def test_pubs_out_of_range_and_negative(written: Any) -> None:
    path, result = written
    with pytest.raises(qserial.PubIndexError, match="out of range for 4 pubs"):
        qserial.load(path, pubs=[4])
    assert_equal(qserial.load(path, pubs=[-1])[0], result[3])


_DESTRUCTIVE = textwrap.dedent("""
    import io, json, sys
    import numpy as np
    import qserial
    from qserial.testing import first_difference
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
    rng = np.random.default_rng(11)
    result = PrimitiveResult(
        [SamplerPubResult(DataBin(shape=(2,), meas=BitArray(
            rng.integers(0, 256, size=(2, 24, 2), dtype=np.uint8) & 0x3F, 14)))
         for _ in range(2)], metadata={"x": 1.5})
    good = qserial.dumps(result, format="parquet")
    counts = {"cases": 0, "raised": 0, "same": 0, "wrong": 0, "other": []}
    def attempt(data):
        counts["cases"] += 1
        try:
            back = qserial.loads(data)
        except qserial.QSerialError:
            counts["raised"] += 1
            return
        except Exception as exc:
            counts["other"].append(repr(exc)[:200])
            return
        if first_difference(back, result) is None:
            counts["same"] += 1
        else:
            counts["wrong"] += 1
    for cut in range(len(good)):
        attempt(good[:cut])
    for offset in range(len(good)):
        data = bytearray(good)
        data[offset] ^= 1 << int(rng.integers(8))
        attempt(bytes(data))
    for _ in range(200):
        attempt(b"PAR1" + rng.integers(0, 256, int(rng.integers(0, 2000)), np.uint8).tobytes())
    attempt(good + good)
    attempt(good + b"\\0" * 100)
    print(json.dumps(counts))
""")


def test_truncation_bit_flips_and_garbage_in_a_subprocess() -> None:
    """Every truncation and one bit flip per byte: a QSerialError or the exact result.

    Run in a subprocess so a crash in a C library fails this test instead of the run.
    """
    proc = subprocess.run([sys.executable, "-c", _DESTRUCTIVE], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["wrong"] == 0, counts
    assert counts["other"] == [], counts
    assert counts["cases"] == counts["raised"] + counts["same"] > 1000


# -- the footer seal --------------------------------------------------------------------------


def _footer_span(data: bytes) -> tuple[int, int]:
    """Where the footer (Thrift FileMetaData) starts and ends in a Parquet file."""
    end = len(data) - 8
    return end - int.from_bytes(data[-8:-4], "little"), end


def test_the_seal_holds_the_size_and_the_footer_digest(written: Any) -> None:
    path, _ = written
    data = open(path, "rb").read()
    seal = pq.ParquetFile(path).metadata.metadata[b"qserial.seal"]
    size, digest = seal.decode().removeprefix("size=").split(";xxh3_128=")
    assert int(size, 16) == len(data)
    start, end = _footer_span(data)
    at = data.index(seal, start) + len(seal) - 32
    zeroed = data[start:at] + b"0" * 32 + data[at + 32:end]
    assert xxhash.xxh3_128_hexdigest(zeroed) == digest


def test_stream_and_path_writes_are_the_same_bytes(written: Any) -> None:
    path, result = written

    class Pipe:  # a stream that cannot seek or tell, like a pipe
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, data: Any) -> int:
            self.parts.append(bytes(data))
            return len(data)

    pipe = Pipe()
    qserial.dump(result, pipe, format="parquet")
    assert b"".join(pipe.parts) == open(path, "rb").read()


@pytest.mark.parametrize("extra", ["itself", "another", "zeros"])
def test_bytes_after_the_end_are_refused(written: Any, tmp_path: Any, extra: str) -> None:
    """Two files one after the other used to load as the second one."""
    path, _ = written
    data = open(path, "rb").read()
    other = qserial.dumps(_result(pubs=2, seed=5), format="parquet")
    joined = {"itself": data + data, "another": other + data,
              "zeros": data + b"\0" * 64 + data[-8:]}[extra]
    target = tmp_path / "joined.parquet"
    target.write_bytes(joined)
    for source in (lambda: target, lambda: io.BytesIO(joined)):
        with pytest.raises(qserial.IntegrityError, match="added after its end") as info:
            qserial.load(source(), format="parquet")
        assert info.value.path == "$"
        with pytest.raises(qserial.IntegrityError, match="added after its end"):
            qserial.read_header(source(), format="parquet")


def test_a_file_cut_short_is_truncated(written: Any) -> None:
    path, _ = written
    data = open(path, "rb").read()
    # Cut out a data byte but keep the footer: only the size tells.
    with pytest.raises(qserial.TruncatedError, match="cut short"):
        qserial.loads(data[:100] + data[101:], format="parquet")
    with pytest.raises(qserial.TruncatedError, match="PAR1"):
        qserial.loads(data[:-1], format="parquet")


def test_every_footer_flip_is_refused_before_pyarrow_parses(
        written: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged footer can abort the process inside pyarrow: it must never get there."""
    path, result = written
    data = open(path, "rb").read()
    start, _end = _footer_span(data)
    parsed: list[Any] = []
    real = pq.ParquetFile
    monkeypatch.setattr(_reader.pq, "ParquetFile",
                        lambda *a, **k: parsed.append(a) or real(*a, **k))
    monkeypatch.setattr(_reader.pq, "read_metadata",
                        lambda *a, **k: parsed.append(a) or pq.read_metadata(*a, **k))
    rng = np.random.default_rng(3)
    for offset in range(start, len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 1 << int(rng.integers(8))
        for verify in (True, False):
            with pytest.raises(qserial.QSerialError):
                qserial.loads(bytes(damaged), format="parquet", verify=verify)
        with pytest.raises(qserial.QSerialError):
            qserial.read_header(io.BytesIO(bytes(damaged)), format="parquet")
    assert parsed == []
    # The intact file still reaches pyarrow and loads.
    assert_equal(qserial.loads(data, format="parquet"), result)
    assert parsed


def test_files_without_a_seal_are_refused(written: Any, tmp_path: Any) -> None:
    path, _ = written
    pf = pq.ParquetFile(path)
    meta = {k: v for k, v in pf.metadata.metadata.items() if k != b"qserial.seal"}
    unsealed = str(tmp_path / "unsealed.parquet")
    pq.write_table(pf.read().replace_schema_metadata(meta), unsealed)
    with pytest.raises(qserial.DecodeError, match=r"qserial\.seal"):
        qserial.load(unsealed)
    with pytest.raises(qserial.DecodeError, match=r"qserial\.seal"):
        qserial.read_header(unsealed)


def test_read_header_of_a_stream_that_starts_inside_a_buffer(written: Any) -> None:
    path, _ = written
    data = open(path, "rb").read()
    stream = io.BytesIO(b"some other bytes" + data)
    stream.seek(16)
    assert qserial.read_header(stream, format="parquet") == qserial.read_header(path)


@pytest.mark.parametrize(("value", "where"), [
    ({"a": [1, {"b": {"$eval": 1}}]}, ".metadata.a[1].b"),
    ({"x": [0, 2**70]}, ".metadata.x[1]"),
    ({"$map": {"$z": {"$bytes": "!!"}}}, ".metadata['$z']"),
    ({"$node": ["tuple", [1, {"$int": "zz"}]]}, ".metadata[1]"),
])
def test_errors_name_the_member_that_failed(written: Any, tmp_path: Any, value: Any,
                                            where: str) -> None:
    path, _ = written
    bad = str(tmp_path / "bad.parquet")

    def plant(meta: dict) -> None:
        pub = json.loads(meta["qserial.pub.2"])
        pub["$node"][1]["metadata"] = value
        meta["qserial.pub.2"] = json.dumps(pub)

    _rewrite(path, bad, plant)
    with pytest.raises(qserial.DecodeError) as info:
        qserial.load(bad, pubs=[2], verify=False)
    assert info.value.path == "$.pub_results[2]" + where
