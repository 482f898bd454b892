"""Shots of many archived jobs as one Parquet dataset, partitioned by backend and month."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._layout import file_name
from ._progress import ProgressBar
from ._storage import open_storage

if TYPE_CHECKING:
    from ._jobs import ArchivedJob

__all__ = ["ExportReport", "export_shots", "shots_table", "SCHEMA_FIELDS", "BITSTRING_SQL",
           "MAX_VALUE_BITS"]

#: Columns of every exported file (the partition columns backend and month come from paths).
SCHEMA_FIELDS = ("job_id", "created", "pub", "param", "shot", "register", "num_bits", "value",
                 "bitstring")
#: Registers up to this many bits are stored as the integer ``value``, wider ones as text.
MAX_VALUE_BITS = 64
#: SQL giving each row's outcome as ``BitArray.get_counts()`` keys it, per engine.
BITSTRING_SQL = {
    "duckdb": "coalesce(bitstring, lpad(bin(value), num_bits, '0'))",
    # Spark reads Parquet's unsigned 64-bit integers as DECIMAL(20, 0); conv() takes the
    # decimal digits and, unlike bin(), all 64 bits.
    "spark": "coalesce(bitstring, lpad(conv(CAST(value AS STRING), 10, 2), num_bits, '0'))",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_UTC = dt.timezone.utc


@dataclass
class ExportReport:
    """Files of :meth:`qserial.Archive.export_parquet`, relative to its ``dest``."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.written)} files written, {len(self.kept)} already there"


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("created", pa.timestamp("us", tz="UTC")),
        pa.field("pub", pa.uint32(), nullable=False),
        pa.field("param", pa.uint32(), nullable=False),
        pa.field("shot", pa.uint32(), nullable=False),
        pa.field("register", pa.string(), nullable=False),
        pa.field("num_bits", pa.int32(), nullable=False),
        pa.field("value", pa.uint64()),
        pa.field("bitstring", pa.large_string()),
    ])


def _values(array: np.ndarray) -> np.ndarray:
    """BitArray bytes ``(n, nbytes <= 8)``, big-endian, as the unsigned integers they spell."""
    n, nbytes = array.shape
    padded = np.zeros((n, 8), np.uint8)
    padded[:, 8 - nbytes:] = array
    return padded.view(">u8").reshape(n).astype(np.uint64)


def _bitstrings(array: np.ndarray, num_bits: int) -> Any:
    """BitArray bytes ``(n, nbytes)`` as ``"0101..."`` strings, without a Python loop."""
    import pyarrow as pa

    n, nbytes = array.shape
    bits = np.unpackbits(array, axis=1)[:, nbytes * 8 - num_bits:]  # big-endian: drop padding
    chars = np.ascontiguousarray(bits + np.uint8(ord("0")))
    offsets = np.arange(0, (n + 1) * num_bits, num_bits, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def shots_table(job_id: str, created: dt.datetime | None, result: Any) -> Any:
    """One row per shot and register of ``result``'s BitArrays (see :data:`SCHEMA_FIELDS`).

    A register of at most :data:`MAX_VALUE_BITS` bits gives ``value``, the integer
    ``BitArray.get_int_counts()`` keys the outcome by, and a null ``bitstring``; a
    wider one gives the ``bitstring`` and a null ``value``.
    """
    import pyarrow as pa
    from qiskit.primitives.containers import BitArray, PrimitiveResult

    schema = _schema()
    if not isinstance(result, PrimitiveResult):
        return schema.empty_table()
    pieces = []
    for p, pub in enumerate(result):
        for name, value in pub.data.items():
            if not isinstance(value, BitArray) or value.num_bits == 0:
                continue
            params, shots = math.prod(value.shape), value.num_shots
            n = params * shots
            flat = value.array.reshape(n, -1)
            if value.num_bits <= MAX_VALUE_BITS:
                ints = pa.array(_values(flat), pa.uint64())
                text = pa.nulls(n, pa.large_string())
            else:
                ints = pa.nulls(n, pa.uint64())
                text = _bitstrings(flat, value.num_bits)
            pieces.append(pa.Table.from_arrays([
                pa.repeat(pa.scalar(job_id, pa.string()), n),
                pa.repeat(pa.scalar(created, schema.field("created").type), n),
                pa.array(np.full(n, p, np.uint32)),
                pa.array(np.repeat(np.arange(params, dtype=np.uint32), shots)),
                pa.array(np.tile(np.arange(shots, dtype=np.uint32), params)),
                pa.repeat(pa.scalar(name, pa.string()), n),
                pa.array(np.full(n, value.num_bits, np.int32)),
                ints,
                text,
            ], schema=schema))
    return pa.concat_tables(pieces) if pieces else schema.empty_table()


def write_shots(table: Any, path: str) -> None:
    """Write a :func:`shots_table` as Parquet, encoded for what each column holds."""
    import pyarrow.parquet as pq

    # Outcomes repeat (results are low-entropy) and job, register, pub and widths are
    # constant over long runs: dictionaries with run-length-encoded indices store them
    # in a few bits a shot. The shot and parameter counters are runs of +1 steps, which
    # delta encoding stores in almost nothing. Parquet's own types say all a reader
    # needs (unsigned, UTC), so the Arrow schema, a third of a small file, is left out.
    pq.write_table(
        table, path, compression="zstd", store_schema=False,
        use_dictionary=["job_id", "created", "pub", "register", "num_bits", "value",
                        "bitstring"],
        column_encoding={"shot": "DELTA_BINARY_PACKED", "param": "DELTA_BINARY_PACKED"},
    )


def partition(job: ArchivedJob) -> str:
    """``backend=<name>/month=<YYYY-MM>`` (UTC) of a job's exported file."""
    backend = job.backend().name or "unknown"
    when = job.creation_date
    month = "unknown" if when is None else f"{when.astimezone(_UTC):%Y-%m}"
    # Hive partition values are not unescaped by every reader: keep them plain.
    return f"backend={_UNSAFE.sub('_', backend)}/month={month}"


def export_shots(jobs: list[ArchivedJob], dest: str, *, overwrite: bool,
                 storage_options: dict[str, Any] | None, progress: bool | None) -> ExportReport:
    storage = open_storage(dest, storage_options)
    report = ExportReport()
    with ProgressBar(progress, len(jobs), "exporting jobs") as advance:
        for job in jobs:
            rel = f"{partition(job)}/{file_name(job.job_id())}.parquet"
            if not overwrite and storage.exists(rel):
                report.kept.append(rel)
            else:
                when = job.creation_date
                table = shots_table(job.job_id(), when and when.astimezone(_UTC), job.result())
                storage.write(rel, lambda path, t=table: write_shots(t, path))
                report.written.append(rel)
            advance()
    return report
