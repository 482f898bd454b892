"""Execution spans stored apart (layout 2.0): what a load reads of them, and damage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import xxhash
from qserial_parquet import _layout

import qserial
from qserial import scenarios
from qserial.testing import assert_equal, partial_result

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "golden" / "parquet"


def _meta(path: Path) -> dict[str, bytes]:
    return {k.decode(): v for k, v in pq.ParquetFile(path).metadata.metadata.items()}


def _parts(*parts: bytes) -> str:
    # The writer's own length-prefixed digest (docs/formats/parquet.md).
    h = _layout.hasher()
    for part in parts:
        _layout.digest_part(h, part)
    return h.hexdigest()


def _rewrite(src: Path, dst: Path, edit: Any) -> None:
    """Copy ``src`` with edited key-value metadata, its digests and seal made anew.

    A forger can do all that: what is left to catch an edit is the reader's own checks.
    """
    pf = pq.ParquetFile(src)
    meta = _meta(src)
    edit(meta)
    header = json.loads(meta["qserial"])
    digests = [_parts(meta["qserial"], meta["qserial.tree"])]
    old = meta["qserial.digest"].decode()
    for i in range(len(header["pubs"])):
        pub = meta.get(f"qserial.pub.{i}", b"")
        digests += [xxhash.xxh3_128_hexdigest(pub), old[64 + 64 * i:96 + 64 * i]]
    for j in range(header["spans"]):
        digests.append(xxhash.xxh3_128_hexdigest(meta.get(f"qserial.span.{j}", b"")))
    meta["qserial.digest"] = "".join(digests).encode()
    with pq.ParquetWriter(dst, pf.schema_arrow, use_dictionary=False, write_statistics=False,
                          store_schema=False, compression="none") as writer:
        for g in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(g), row_group_size=1 << 20)
        writer.add_key_value_metadata(meta)
    _layout.seal_path(str(dst))


def _tree_replaced(src: Path, dst: Path, old: bytes, new: bytes) -> None:
    """:func:`_rewrite` with ``old`` replaced by ``new`` in the stored tree."""
    def edit(meta: dict) -> None:
        meta["qserial.tree"] = meta["qserial.tree"].replace(old, new)

    _rewrite(src, dst, edit)


@pytest.fixture(scope="module")
def sweep() -> Any:
    # 25 pubs in spans of 10, 10 and 5 pubs.
    return scenarios.sweep(pubs=25, params=2, shots=8, bits=5)


def test_each_span_is_an_entry_of_its_own(written: Path, sweep: Any) -> None:
    meta = _meta(written)
    assert json.loads(meta["qserial"])["spans"] == 3
    tree = json.loads(meta["qserial.tree"])
    spans = tree["$node"][1]["metadata"]["execution"]["execution_spans"]["$node"][1]["spans"]
    assert spans == {"$node": ["$spans", [list(range(10)), list(range(10, 20)),
                                          list(range(20, 25))]]}
    for j in range(3):
        assert json.loads(meta[f"qserial.span.{j}"])["$node"][0] == "DoubleSliceSpan"
    assert len(meta["qserial.digest"]) == 32 * (1 + 2 * 25 + 3)
    assert_equal(qserial.load(written), sweep)
    with qserial.open(written) as lazy:
        assert_equal(lazy.metadata, sweep.metadata)
    for pubs in ([12], [24, 3], [], [7, 7]):
        assert_equal(qserial.load(written, pubs=pubs), partial_result(sweep, pubs))


def test_a_partial_read_reads_only_its_own_spans(written: Path, sweep: Any,
                                                 tmp_path: Path) -> None:
    """Without the entries of spans 0 and 2, pubs of span 1 still load; the rest do not."""
    other = tmp_path / "other.parquet"

    def drop(meta: dict) -> None:
        del meta["qserial.span.0"], meta["qserial.span.2"]

    _rewrite(written, other, drop)
    assert_equal(qserial.load(other, pubs=[15, 11]), partial_result(sweep, [15, 11]))
    with qserial.open(other) as lazy:
        assert_equal(lazy[3], sweep[3])  # a pub alone never touches the spans
        with pytest.raises(qserial.DecodeError, match=r"execution span 0 \('qserial.span.0'\)"):
            lazy.metadata  # noqa: B018
    for pubs in (None, [15, 22]):
        with pytest.raises(qserial.DecodeError, match="no entry for execution span") as info:
            qserial.load(other, pubs=pubs)
        assert info.value.path == "$.metadata.execution.execution_spans"


def test_a_span_entry_that_is_not_json(written: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    _rewrite(written, other, lambda m: m.update({"qserial.span.1": b'{"$node": ["Dou'}))
    with pytest.raises(qserial.DecodeError, match=r"span 1 .* not valid JSON"):
        qserial.load(other, pubs=[10])
    assert qserial.load(other, pubs=[0])  # span 1 is not read


def test_a_table_row_that_does_not_match_its_span(written: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    _tree_replaced(written, other, b"[20,21,22,23,24]", b"[20,21]")
    with pytest.raises(qserial.DecodeError, match="span 2 did not run the pubs"):
        qserial.load(other)
    with pytest.raises(qserial.DecodeError, match="span 2 did not run"):
        qserial.load(other, pubs=[21])
    # Pubs the row leaves out no longer find their span: a partial read must not miss it
    # silently, yet it only checks the spans it reads.
    assert qserial.load(other, pubs=[5])


def test_a_table_that_does_not_list_every_span(written: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    _tree_replaced(written, other, b",[20,21,22,23,24]", b"")
    with pytest.raises(qserial.DecodeError, match="table of the file's 3 execution spans"):
        qserial.load(other, pubs=[1])


def test_a_flipped_byte_in_a_span_fails_its_digest(written: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    pf = pq.ParquetFile(written)
    meta = dict(pf.metadata.metadata)
    meta[b"qserial.span.2"] = meta[b"qserial.span.2"].replace(b"[20,", b"[21,", 1)
    with pq.ParquetWriter(other, pf.schema_arrow, store_schema=False,
                          write_statistics=False) as writer:
        for g in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(g))
        writer.add_key_value_metadata(meta)
    _layout.seal_path(str(other))  # the footer's seal holds; the span's digest does not
    with pytest.raises(qserial.IntegrityError, match=r"execution span 2 \('qserial.span.2'\)"):
        qserial.load(other, pubs=[22])
    with pytest.raises(qserial.IntegrityError, match="execution span 2"):
        qserial.load(other)
    assert qserial.load(other, pubs=[0])
    with pytest.raises(qserial.DecodeError, match="span 2 did not run"):
        qserial.load(other, verify=False)


def test_spans_that_cannot_be_split_stay_in_the_tree(tmp_path: Path) -> None:
    from qiskit.primitives.containers import PrimitiveResult

    result = scenarios.sweep(pubs=3, params=2, shots=8, bits=5)
    odd = PrimitiveResult(list(result), metadata={"execution": {"execution_spans": [1, 2]}})
    path = tmp_path / "odd.parquet"
    qserial.dump(odd, path)
    meta = _meta(path)
    assert json.loads(meta["qserial"])["spans"] is None
    assert not any(k.startswith("qserial.span.") for k in meta)
    assert_equal(qserial.load(path, pubs=[2]), partial_result(odd, [2]))


@pytest.mark.parametrize("version", ["1.2"])
def test_older_layouts_keep_their_spans_inline(version: str) -> None:
    path = DATA / "_inward" / version / "sampler_result.parquet"
    header = json.loads(_meta(path)["qserial"])
    assert header["version"] == version and "spans" not in header
    full = qserial.load(path)
    assert full.metadata["execution"]["execution_spans"]
    for pubs in ([1], [1, 0]):
        assert_equal(qserial.load(path, pubs=pubs), partial_result(full, pubs))
