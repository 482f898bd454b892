"""The footer index (layout 2.1, 2.2): a partial read hands pyarrow only its row groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from qserial_parquet import _groups, _layout, _reader, _seal

import qserial
from qserial import scenarios
from qserial.testing import assert_equal, partial_result

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "golden" / "parquet"


@pytest.fixture(scope="module")
def sweep() -> Any:
    # 20 pubs, so the list of row groups needs the long form of a Thrift list header.
    return scenarios.sweep(pubs=20, params=2, shots=8, bits=5)


def _footer(path: Path) -> tuple[bytes, int]:
    with pa.OSFile(str(path)) as src:
        return _seal.checked_footer_at(src.size(), lambda offset, n: src.read_at(n, offset))


def test_the_index_locates_every_row_group_and_entry(written: Path) -> None:
    footer, after_seal = _footer(written)
    at, groups = _groups.find(footer, after_seal)
    _at, entries = _groups.find(footer, at + len(groups), b"qserial.entries")
    meta = pq.ParquetFile(written).metadata
    assert meta.metadata[b"qserial.groups"] == groups
    assert meta.metadata[b"qserial.entries"] == entries
    spans = json.loads(meta.metadata[b"qserial"])["spans"]
    assert spans == 2 and len(groups) == 8 * (20 + 2)
    assert len(entries) == 8 * (2 + 2 * (2 + 20 + spans))
    index = _groups.Index(footer, groups + entries, 20, 2 + 20 + spans)
    # Each slice, alone in the list, is that row group as pyarrow reads it.
    for g in (0, 7, 19):
        alone = pq.read_metadata(pa.BufferReader(index.file([g])))
        assert alone.num_row_groups == 1 and alone.metadata is None
        assert alone.row_group(0).to_dict() == meta.row_group(g).to_dict()
        assert alone.schema.equals(meta.schema)
    for k, key in ((0, b"qserial.tree"), (1, b"qserial.digest"), (2 + 7, b"qserial.pub.7"),
                   (2 + 20 + 1, b"qserial.span.1")):
        assert index.entry(k, key) == meta.metadata[key]
    with pytest.raises(qserial.DecodeError, match=r"misplaces 'qserial\.pub\.8'"):
        index.entry(2 + 7, b"qserial.pub.8")


@pytest.mark.parametrize("pubs", [[13], [19, 2, 2], [], list(range(16))])
def test_a_partial_read_parses_only_its_row_groups(written: Path, sweep: Any,
                                                   pubs: list[int]) -> None:
    with pa.OSFile(str(written)) as src:
        reader = _reader.open_reader(src, True, pubs=pubs)
        assert reader.pf.metadata.num_row_groups == len(set(pubs))
        got = qserial.from_tree(reader.read(pubs))
    expected = partial_result(sweep, pubs)
    assert_equal(got, expected)
    assert_equal(qserial.load(written, pubs=pubs), expected)


def test_an_index_pointing_at_another_pub_is_caught(written: Path) -> None:
    """Pub 5's entry of a forged index (resealed) names pub 4's row group: its shots'
    digest tells."""
    data = bytearray(written.read_bytes())
    footer, after_seal = _footer(written)
    start = len(data) - 8 - len(footer)
    at, value = _groups.find(footer, after_seal)
    forged = value[:8 * 6] + value[8 * 5:8 * 6] + value[8 * 7:]  # pub 5 starts where 4 does
    forged = forged[:8 * 7] + value[8 * 6:8 * 7] + forged[8 * 8:]  # and ends where 4 ends
    data[start + at:start + at + len(value)] = forged
    footer = bytes(data[start:-8])
    seal_at, seal = _seal.seal(footer, len(data))
    data[start + seal_at:start + seal_at + len(seal)] = seal
    written.write_bytes(bytes(data))
    with pytest.raises(qserial.IntegrityError, match="pub 5's shots"):
        qserial.load(written, pubs=[5])
    with pytest.raises(qserial.DecodeError, match="does not fit the footer"):
        qserial.load(written, pubs=[4])  # now an empty slice
    assert qserial.load(written, pubs=[3])  # the rest of the index still holds
    assert qserial.load(written)  # a whole read does not use the index


def test_an_index_that_does_not_fit_the_footer(written: Path) -> None:
    data = bytearray(written.read_bytes())
    footer, after_seal = _footer(written)
    start = len(data) - 8 - len(footer)
    at, _value = _groups.find(footer, after_seal)
    data[start + at + 8 * 21:start + at + 8 * 22] = b"%08x" % (len(footer) + 5)
    footer = bytes(data[start:-8])
    seal_at, seal = _seal.seal(footer, len(data))
    data[start + seal_at:start + seal_at + len(seal)] = seal
    written.write_bytes(bytes(data))
    with pytest.raises(qserial.DecodeError, match=r"'qserial\.groups' entry does not fit"):
        qserial.load(written, pubs=[5])


def test_files_without_the_index_parse_the_whole_footer(sweep: Any, tmp_path: Path) -> None:
    # Another order of the entries: the index is no longer where the seal's entry ends.
    path, other = tmp_path / "a.parquet", tmp_path / "b.parquet"
    qserial.dump(sweep, path)
    pf = pq.ParquetFile(path)
    meta = {k: v for k, v in pf.metadata.metadata.items() if k != b"qserial.seal"}
    meta[b"qserial.seal"] = pf.metadata.metadata[b"qserial.seal"]  # written last
    with pq.ParquetWriter(other, pf.schema_arrow, store_schema=False,
                          write_statistics=False) as writer:
        for g in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(g))
        writer.add_key_value_metadata(meta)
    _layout.seal_path(str(other))
    footer, after_seal = _footer(other)
    assert _groups.find(footer, after_seal) is None
    with pa.OSFile(str(other)) as src:
        assert _reader.open_reader(src, True, pubs=[3]).pf.metadata.num_row_groups == 20
    assert_equal(qserial.load(other, pubs=[3])[0], sweep[3])


@pytest.mark.parametrize("version", ["1.2", "2.0", "2.1"])
def test_older_layouts_read_in_part(version: str) -> None:
    path = DATA / "_inward" / version / "sampler_result.parquet"
    assert json.loads(pq.ParquetFile(path).metadata.metadata[b"qserial"])["version"] == version
    full = qserial.load(path)
    assert_equal(qserial.load(path, pubs=[1]), partial_result(full, [1]))


def _registers_of_every_kind(shots: int) -> Any:
    """Three pubs of two parameter sets with a register of each stored kind (uint of 1,
    2, 4 with a spare byte, and 8 bytes; fixed-size binary): random shots, zero padding."""
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(5)
    pubs = []
    for _ in range(3):
        fields = {}
        for name, bits in (("a", 3), ("b", 12), ("c", 20), ("d", 64), ("e", 70)):
            array = rng.integers(0, 256, (2, shots, (bits + 7) // 8), dtype=np.uint8)
            array[..., 0] &= (1 << (bits % 8 or 8)) - 1
            fields[name] = BitArray(array, bits)
        pubs.append(SamplerPubResult(DataBin(shape=(2,), **fields)))
    return PrimitiveResult(pubs, metadata={"version": 2})


def test_pubs_of_more_rows_than_a_row_group(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Each pub's 2 x 10 rows in row groups of 7: its registers are read a row group at a
    # time, byte swapped into one array and checked against the pub's digest piece by piece.
    monkeypatch.setattr(_layout, "ROW_GROUP_ROWS", 7)
    result = _registers_of_every_kind(10)
    path = tmp_path / "r.parquet"
    qserial.dump(result, path, compression="none", dictionary=False)
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 3 * 3
    assert_equal(qserial.load(path), result)
    for pubs in ([1], [2, 0]):
        assert_equal(qserial.load(path, pubs=pubs), partial_result(result, pubs))
    with qserial.open(path) as lazy:
        assert_equal(lazy[1], result[1])
    # A shot changed in pub 1's last row group, in its 8-byte register.
    column = metadata.row_group(5).column(pq.ParquetFile(path).schema_arrow.get_field_index("d"))
    data = bytearray(path.read_bytes())
    data[column.data_page_offset + column.total_compressed_size - 1] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(qserial.IntegrityError, match="pub 1's shots"):
        qserial.load(path, pubs=[1])
    assert_equal(qserial.load(path, pubs=[2]), partial_result(result, [2]))
