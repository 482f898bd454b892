"""Damaged, altered, foreign and newer files; partial reads touch only their pubs."""

from __future__ import annotations

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
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

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


def _rewrite(src: str, dst: str, edit: Any) -> None:
    """Copy a qserial Parquet file row group by row group with edited key-value metadata."""
    pf = pq.ParquetFile(src)
    meta = {k.decode(): v.decode() for k, v in pf.metadata.metadata.items()}
    edit(meta)
    with pq.ParquetWriter(dst, pf.schema_arrow, use_dictionary=False, write_statistics=False,
                          store_schema=False, compression="none") as writer:
        for g in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(g), row_group_size=1 << 20)
        writer.add_key_value_metadata(meta)


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

    def bump(meta: dict) -> None:
        header = json.loads(meta["qserial"])
        header["version"] = "2.3"
        meta["qserial"] = json.dumps(header)

    _rewrite(path, newer, bump)
    with pytest.raises(qserial.UnsupportedVersionError, match=r"2\.3.*1\.0"):
        qserial.load(newer)
    # A newer minor version of the same major is read.
    minor = str(tmp_path / "minor.parquet")
    _rewrite(path, minor, lambda m: m.update(qserial=m["qserial"].replace('"1.0"', '"1.7"')))
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


def test_schema_that_disagrees_with_the_header(written: Any, tmp_path: Any) -> None:
    path, _ = written
    pf = pq.ParquetFile(path)
    table = pf.read()
    table = table.set_column(2, "meas", table.column("meas").cast(pa.int16()))
    other = str(tmp_path / "other.parquet")
    pq.write_table(table.replace_schema_metadata(pf.metadata.metadata), other,
                   row_group_size=192)
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
