"""The Parquet layout: a table useful without qserial (pyarrow, DuckDB), exact with it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qserial_parquet import ParquetFormat

import qserial
from qserial.formats import writer_versions
from qserial.testing import assert_equal
from qserial.testing.conformance import real_results


def _bits(rng: np.random.Generator, shape: tuple[int, ...], num_bits: int,
          padding: bool = False) -> BitArray:
    nbytes = (num_bits + 7) // 8
    array = rng.integers(0, 256, size=(*shape, nbytes), dtype=np.uint8)
    if not padding and num_bits % 8:
        array[..., 0] &= (1 << (num_bits % 8)) - 1
    return BitArray(array, num_bits)


def _bitstring(value: Any, num_bits: int) -> str:
    if isinstance(value, bytes):
        value = int.from_bytes(value, "big")
    return format(value, f"0{num_bits}b")


def _duckdb_counts(path: str, register: str, num_bits: int, where: str) -> dict[str, int]:
    rows = duckdb.sql(
        f"SELECT {register}, count(*) FROM '{path}' WHERE {where} GROUP BY {register}"
    ).fetchall()
    return {_bitstring(v, num_bits): c for v, c in rows}


def _mixed(rng: np.random.Generator) -> PrimitiveResult:
    """Pubs with different registers, widths, shapes and shots, and an estimator pub."""
    return PrimitiveResult(
        [
            SamplerPubResult(DataBin(shape=(2, 3), meas=_bits(rng, (2, 3, 50), 5)),
                             metadata={"shots": 50}),
            SamplerPubResult(DataBin(meas=_bits(rng, (70,), 12), wide=_bits(rng, (70,), 70),
                                     flags=_bits(rng, (70,), 1, padding=True))),
            PubResult(DataBin(shape=(4,), evs=np.linspace(0, 1, 4), stds=np.zeros(4, ">f4"))),
            SamplerPubResult(DataBin(shape=(0,), meas=_bits(rng, (0, 16), 3))),
        ],
        metadata={"version": 2, "dt": np.float32(0.5)},
    )


def test_one_row_per_shot_and_duckdb_counts(tmp_path: Any) -> None:
    """SELECT reg, count(*) ... GROUP BY reg gives BitArray.get_counts(), per pub and param."""
    result = real_results()["sampler"]
    path = str(tmp_path / "out.parquet")
    qserial.dump(result, path)
    table = pq.read_table(path)
    assert table.column_names[:2] == ["pub", "param"]
    rows = 0
    for i, pub in enumerate(result):
        for name, bits in pub.data.items():
            assert table.schema.field(name).type.bit_width >= bits.num_bits
            assert _duckdb_counts(path, name, bits.num_bits, f"pub = {i}") == bits.get_counts()
            per_param = bits.array.reshape(-1, bits.num_shots, bits.array.shape[-1])
            for p, array in enumerate(per_param):
                where = f"pub = {i} AND param = {p}"
                expected = BitArray(array, bits.num_bits).get_counts()
                assert _duckdb_counts(path, name, bits.num_bits, where) == expected
        rows += bits.size * bits.num_shots
    assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0] == table.num_rows == rows
    assert_equal(qserial.load(path), result)


def test_exactly_the_query_from_the_docs(tmp_path: Any) -> None:
    """The single-pub case needs no WHERE clause at all."""
    result = real_results().get("local_mode") or real_results()["sampler"]
    one = PrimitiveResult([result[0]], metadata=result.metadata)
    path = str(tmp_path / "out.parquet")
    qserial.dump(one, path)
    name, bits = next(iter(one[0].data.items()))
    rows = duckdb.sql(f"SELECT {name}, count(*) FROM '{path}' GROUP BY {name}").fetchall()
    assert {_bitstring(v, bits.num_bits): c for v, c in rows} == bits.get_counts()


@pytest.mark.parametrize("page", ["plugins/qserial-parquet/README.md", "docs/formats/parquet.md"])
def test_the_bitstring_query_of_the_docs_gives_get_counts(
        page: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL the docs show for bitstring keys, run as written on a 3-bit register."""
    text = (Path(__file__).resolve().parents[3] / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, re.DOTALL)
    lines = [line for b in blocks for line in b.splitlines() if not line.startswith("--")]
    statements = re.split(r"\n(?=SELECT)", "\n".join(lines))
    query = next(q for q in statements if "lpad" in q)
    rng = np.random.default_rng(3)
    bits = BitArray(rng.integers(0, 8, size=(500, 1), dtype=np.uint8), 3)
    monkeypatch.chdir(tmp_path)
    qserial.dump(PrimitiveResult([SamplerPubResult(DataBin(meas=bits))]), "out.parquet")
    assert dict(duckdb.sql(query).fetchall()) == bits.get_counts()


def test_columns_for_pubs_that_differ(tmp_path: Any) -> None:
    rng = np.random.default_rng(7)
    result = _mixed(rng)
    path = str(tmp_path / "mixed.parquet")
    qserial.dump(result, path)
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    assert schema.names == ["pub", "param", "meas", "wide", "flags"]
    # The narrowest unsigned type for the widest register; wider than 64 bits: binary.
    assert schema.field("meas").type == pa.uint16()
    assert schema.field("wide").type == pa.binary(9)
    assert schema.field("flags").type == pa.uint8()
    assert not schema.field("pub").nullable and not schema.field("meas").nullable
    assert schema.field("wide").nullable and schema.field("flags").nullable
    # One row group per pub that has shots; the estimator and the empty pub have none.
    assert [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)] == [300, 70]
    table = pf.read()
    assert table.column("wide").null_count == 300
    assert table.column("param").to_pylist()[:3] == [0, 0, 0]
    assert table.column("param").to_pylist()[250] == 5
    assert set(table.column("pub").to_pylist()) == {0, 1}
    for name in ("meas", "wide", "flags"):
        bits = result[1].data[name]
        assert _duckdb_counts(path, name, bits.num_bits, "pub = 1") == bits.get_counts()
    assert _duckdb_counts(path, "meas", 5, "pub = 0") == result[0].data.meas.get_counts()
    assert_equal(qserial.load(path), result)
    assert_equal(qserial.load(path, pubs=[3, 1])[1], result[1])


def test_padding_bits_round_trip_but_stay_out_of_the_column(tmp_path: Any) -> None:
    rng = np.random.default_rng(3)
    bits = _bits(rng, (1000,), 11, padding=True)
    assert (bits.array[:, 0] >> 3).any()
    result = PrimitiveResult([SamplerPubResult(DataBin(c=bits))])
    path = str(tmp_path / "pad.parquet")
    qserial.dump(result, path)
    values = pq.read_table(path).column("c").to_numpy()
    assert values.max() < 2**11
    assert _duckdb_counts(path, "c", 11, "true") == bits.get_counts()
    back = qserial.load(path)
    assert back[0].data.c.array.tobytes() == bits.array.tobytes()


def test_header_and_readable_metadata(tmp_path: Any) -> None:
    path = str(tmp_path / "out.parquet")
    qserial.dump(_mixed(np.random.default_rng(1)), path)
    meta = pq.ParquetFile(path).metadata.metadata
    assert b"ARROW:schema" not in meta  # a plain Parquet file, nothing pyarrow-specific
    header = json.loads(meta[b"qserial"])
    assert header["format"] == "parquet" and header["version"] == ParquetFormat.version
    assert header["writer"] == writer_versions(ParquetFormat)
    assert {"qserial-parquet", "pyarrow"} <= set(header["writer"])
    assert header["options"] == ParquetFormat().write_options()
    assert header["pubs"] == [[300, 1], [70, 1], [0, 0], [0, 0]]
    pub = json.loads(meta[b"qserial.pub.1"])
    assert "$column" in json.dumps(pub) and "$array" not in json.dumps(pub)
    tree = json.loads(meta[b"qserial.tree"])
    assert tree["$node"][0] == "PrimitiveResult"


def test_shot_column_and_compression_options(tmp_path: Any) -> None:
    rng = np.random.default_rng(5)
    result = PrimitiveResult([SamplerPubResult(DataBin(shape=(3,), meas=_bits(rng, (3, 40), 4)))])
    path = str(tmp_path / "opts.parquet")
    qserial.dump(result, path, shot_column=True, compression="zstd", compression_level=3)
    pf = pq.ParquetFile(path)
    assert pf.schema_arrow.names == ["pub", "param", "shot", "meas"]
    assert pf.metadata.row_group(0).column(3).compression == "ZSTD"
    shots = pf.read().column("shot").to_pylist()
    assert shots[:2] == [0, 1] and shots[40] == 0 and max(shots) == 39
    assert_equal(qserial.load(path), result)


def test_bit_arrays_that_cannot_be_columns_stay_exact(tmp_path: Any) -> None:
    """Registers named like index columns, or of another shape, live in the tree."""
    rng = np.random.default_rng(9)
    result = PrimitiveResult([
        SamplerPubResult(DataBin(shape=(2,), pub=_bits(rng, (2, 5), 3), a=_bits(rng, (2, 5), 3),
                                 b=_bits(rng, (2, 6), 3), zero=BitArray(np.zeros((2, 4, 0),
                                                                                 np.uint8), 0))),
    ], metadata={"nested": _bits(rng, (3,), 9)})
    path = str(tmp_path / "odd.parquet")
    qserial.dump(result, path)
    assert pq.ParquetFile(path).schema_arrow.names == ["pub", "param", "a"]
    assert_equal(qserial.load(path), result)


def test_values_that_json_cannot_say(tmp_path: Any) -> None:
    import datetime as dt

    value = {
        "floats": [float("nan"), float("inf"), -0.0, 1e-310],
        "ints": [2**64, -(2**200), 2**63 - 1],
        "keys": {1: "int", (2, 3): "tuple", None: "none"},
        "$looks_special": {"$node": 1},
        "times": [dt.datetime(2024, 1, 2, 3, 4, 5),
                  dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)],
        "arrays": [np.arange(6, dtype=">i2").reshape(2, 3), np.zeros((0, 3), "c16"),
                   np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", ">f8")]),
                   np.array(["ab", "c"]), np.array(7, np.uint64)],
        "scalars": [np.float32(1.5), np.bool_(True), np.complex64(1 - 2j)],
        "bytes": b"\x00\x01\xff",
    }
    path = tmp_path / "values.parquet"
    qserial.dump(value, path)
    assert_equal(qserial.load(path), value)


# -- encodings chosen per column ------------------------------------------------------


def test_auto_encodings_follow_the_shots(tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.mixed_sweep(pubs=2, params=3, shots=3000)
    path = str(tmp_path / "mixed.parquet")
    qserial.dump(result, path)
    pf = pq.ParquetFile(path)
    header = json.loads(pf.metadata.metadata[b"qserial"])
    assert header["encodings"] == {
        "meas": {"codec": "none", "dictionary": False},  # random bits: as before
        **{f"mid{w}": {"codec": "zstd", "dictionary": True} for w in (1, 2, 3)}}
    group = pf.metadata.row_group(0)
    columns = {group.column(j).path_in_schema: group.column(j) for j in range(group.num_columns)}
    assert columns["meas"].compression == "UNCOMPRESSED"
    assert "RLE_DICTIONARY" not in columns["meas"].encodings
    assert columns["mid3"].compression == "ZSTD"
    assert "RLE_DICTIONARY" in columns["mid3"].encodings
    # Still analysis-ready: unsigned integer columns, counts as get_counts() gives them.
    assert pf.schema_arrow.field("mid3").type == pa.uint8()
    for name, bits in (("meas", 27), ("mid3", 3)):
        assert _duckdb_counts(path, name, bits, "pub = 1 AND param = 2") == \
            result[1].data[name][2].get_counts()
    assert_equal(qserial.load(path), result)


def test_biased_bits_compress_without_a_dictionary(tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.biased_sweep(pubs=2, params=2, shots=4000)
    path = str(tmp_path / "biased.parquet")
    qserial.dump(result, path)
    header = json.loads(pq.ParquetFile(path).metadata.metadata[b"qserial"])
    assert header["encodings"] == {"meas": {"codec": "zstd", "dictionary": False}}
    raw = sum(pub.data.meas.array.nbytes for pub in result)
    assert os.path.getsize(path) < 0.75 * raw
    assert _duckdb_counts(path, "meas", 27, "pub = 0 AND param = 1") == \
        result[0].data.meas[1].get_counts()


@pytest.mark.parametrize("options", [
    {"compression": "none", "dictionary": True},
    {"compression": "lz4", "dictionary": False},
    {"compression": "auto", "dictionary": False},
    {"compression": "zstd", "compression_level": 9},
])
def test_explicit_encodings(options: dict, tmp_path: Any) -> None:
    from qserial import scenarios

    result = scenarios.ghz(shots=3000)
    path = str(tmp_path / "ghz.parquet")
    qserial.dump(result, path, **options)
    header = json.loads(pq.ParquetFile(path).metadata.metadata[b"qserial"])
    encoding = header["encodings"]["meas"]
    if options["compression"] != "auto":
        assert encoding["codec"] == options["compression"]
    if "dictionary" in options:
        assert encoding["dictionary"] is options["dictionary"]
    assert_equal(qserial.load(path), result)


@pytest.mark.parametrize("options", [{"compression": "zip"}, {"dictionary": "yes"},
                                     {"compression_level": 99}])
def test_bad_encoding_options_name_the_valid_ones(options: dict) -> None:
    from qserial import scenarios

    with pytest.raises(qserial.FormatOptionError) as info:
        qserial.dumps(scenarios.ghz(shots=100), format="parquet", **options)
    message = str(info.value)
    assert f"for option {next(iter(options))!r}" in message
    assert "compression: str in {'auto', 'none', 'zstd', 'lz4', 'snappy'" in message
    assert "dictionary: str or bool in {'auto', True, False}, default 'auto'" in message
    assert "compression_level: int or None -7..22, default None" in message
