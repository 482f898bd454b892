"""The archive at scale: 10,000 jobs synced, queried, exported and counted by DuckDB and Spark.

Jobs come through the service double of the test suite (``tests/_service_double.py``):
the "service" lists them with QiskitRuntimeService's filters and hands out each result
as RuntimeEncoder JSON decoded by RuntimeDecoder, as the real service does. Results
have the size and shape of real ones: 1 to 4 pubs, 1,024 to 4,096 shots, some with a
parameter sweep of 4, registers of 2 to 27 bits (a few jobs measure 127), a second
small register on some pubs, low-entropy outcomes (a few ideal outcomes plus readout
bit flips of 0.5-2 %), execution spans in the metadata; one job in ten is an estimator
job. A job's result is drawn from its seed when fetched (so 10,000 of them need not sit
in memory); the time spent drawing and encoding it is the service's and is reported
apart.

Steps, each timed once (they are long; the machine's load shows in the figures):

1. ``archive.sync(service)`` into a new local archive (Parquet files, fsync'd), then
   ``reindex()`` of a lost index from the files' manifests;
2. ``jobs()`` filters, ``job(id)`` and ``find_job(prefix)``: best of 5 after a warm-up;
3. ``export_parquet``: throughput in shots per second, dataset bytes per shot against
   the archive's own Parquet files of the same jobs, and against the earlier layout
   (one '0'/'1' string per shot and register) on a sample of jobs;
4. counts of every job, pub and register by DuckDB and by Spark (local mode) over the
   dataset: by integer outcome, and with bitstrings (``BITSTRING_SQL``). Spark writes
   its counts to Parquet; DuckDB checks they equal its own, and a sample of jobs is
   checked against ``BitArray.get_counts()``.

Run from the repository root (needs the test extra, and Java 17 for Spark):

    .venv/bin/python benchmarks/bench_archive_scale.py              # 10,000 jobs
    .venv/bin/python benchmarks/bench_archive_scale.py --jobs 500   # a quick look
    .venv/bin/python benchmarks/bench_archive_scale.py --json       # figures as JSON

``--folder DIR`` keeps the archive and dataset there (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import qserial  # noqa: E402
from qserial import bench  # noqa: E402
from qserial.archive import BITSTRING_SQL  # noqa: E402
from tests._service_double import RemoteJob, ServiceDouble  # noqa: E402

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
BACKENDS = ["ibm_torino", "ibm_fez", "ibm_marrakesh", "ibm_kingston", "ibm_brisbane",
            "ibm_sherbrooke"]
TAGS = [f"exp{i:02d}" for i in range(20)]
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 27]
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


# -- realistic results, drawn from a seed ------------------------------------------------


def _outcomes(rng: np.random.Generator, n: int, num_bits: int) -> np.ndarray:
    """``(n, num_bits)`` bools: a few ideal outcomes, then readout bit flips."""
    k = int(rng.integers(1, 9))
    ideal = rng.integers(0, 2, (k, num_bits), dtype=np.uint8).astype(bool)
    pick = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 0.7)))
    flips = rng.random((n, num_bits)) < rng.uniform(0.005, 0.02)
    return ideal[pick] ^ flips


def _spans(rng: np.random.Generator, created: dt.datetime, sizes: list[tuple]) -> Any:
    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

    spans = []
    start = created + dt.timedelta(seconds=float(rng.uniform(5, 600)))
    for p, (shape, shots) in enumerate(sizes):
        flat = int(np.prod(shape)) if shape else 1
        stop = start + dt.timedelta(seconds=float(rng.uniform(0.5, 4.0)))
        spans.append(DoubleSliceSpan(start, stop, {p: ((flat, shots), slice(0, flat),
                                                       slice(0, shots))}))
        start = stop + dt.timedelta(seconds=float(rng.uniform(0.01, 0.2)))
    return ExecutionSpans(spans)


def sampler_result(seed: int, created: dt.datetime, wide: bool) -> Any:
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(seed)
    pubs, sizes = [], []
    for _ in range(int(rng.integers(1, 5))):
        shots = int(rng.choice([1024, 2000, 3000, 4000, 4096]))
        shape: tuple[int, ...] = (4,) if rng.random() < 0.2 else ()
        flat = int(np.prod(shape)) if shape else 1
        width = 127 if wide else int(rng.choice(WIDTHS))
        fields = {"meas": BitArray.from_bool_array(
            _outcomes(rng, flat * shots, width).reshape(*shape, shots, width), order="big")}
        if rng.random() < 0.15:  # a mid-circuit measurement register
            small = int(rng.integers(1, 5))
            fields["mid"] = BitArray.from_bool_array(
                _outcomes(rng, flat * shots, small).reshape(*shape, shots, small), order="big")
        pubs.append(SamplerPubResult(DataBin(shape=shape, **fields),
                                     metadata={"circuit_metadata": {}}))
        sizes.append((shape, shots))
    metadata = {"execution": {"execution_spans": _spans(rng, created, sizes)}, "version": 2}
    return PrimitiveResult(pubs, metadata=metadata)


def estimator_result(seed: int) -> Any:
    from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult

    rng = np.random.default_rng(seed)
    pubs = []
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(4, 40))
        pubs.append(PubResult(DataBin(evs=rng.uniform(-1, 1, n), stds=rng.uniform(0, .05, n),
                                      ensemble_standard_error=rng.uniform(0, .05, n),
                                      shape=(n,)),
                              metadata={"target_precision": 0.015625, "shots": 4096}))
    return PrimitiveResult(pubs, metadata={"dynamical_decoupling": {"enable": True},
                                           "version": 2})


class DrawnJob(RemoteJob):
    """A RemoteJob whose RuntimeEncoder JSON is drawn from its seed when fetched."""

    drawing_s = 0.0  # time spent drawing and encoding results: the service's side

    def __init__(self, record: dict[str, Any], seed: int, wide: bool) -> None:
        self.seed, self.wide = seed, wide
        super().__init__(record, "")

    @property
    def result_json(self) -> str:
        from qiskit_ibm_runtime import RuntimeEncoder

        t0 = time.perf_counter()
        created = dt.datetime.fromisoformat(self.record["created"])
        result = (sampler_result(self.seed, created, self.wide)
                  if self.record["program_id"] == "sampler" else estimator_result(self.seed))
        text = json.dumps(result, cls=RuntimeEncoder)
        DrawnJob.drawing_s += time.perf_counter() - t0
        return text

    @result_json.setter
    def result_json(self, value: str) -> None:
        pass  # drawn on demand instead


def make_service(n: int, seed: int = 0) -> ServiceDouble:
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        job_id = "".join(rng.choice(_ALNUM) for _ in range(20))
        created = START + dt.timedelta(seconds=rng.uniform(0, 2 * 365 * 86400))
        sampler = rng.random() < 0.9
        record = {
            "id": job_id, "backend": rng.choice(BACKENDS),
            "program_id": "sampler" if sampler else "estimator",
            "created": created.isoformat(), "status": "DONE",
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "session_id": f"s{rng.randrange(n // 10 + 1):05d}",
            "instance": rng.choice(["crn:a", "crn:b", "crn:c"]), "usage": 2.0,
        }
        jobs.append(DrawnJob(record, seed=i, wide=sampler and rng.random() < 0.02))
    return ServiceDouble(jobs)


# -- timing ------------------------------------------------------------------------------


def best_of(fn: Any, repeat: int = 5) -> float:
    """Best of ``repeat`` calls after a warm-up, as ``qserial bench`` times them."""
    return bench.measure_interleaved({"fn": bench.Step(fn)}, repeat=repeat,
                                     min_repeat=repeat)["fn"].best


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.1f} s"


def folder_bytes(folder: str, names: set[str] | None = None) -> int:
    total = 0
    for top, _dirs, files in os.walk(folder):
        for name in files:
            if names is None or name in names:
                total += os.path.getsize(os.path.join(top, name))
    return total


def old_layout_bytes(table: Any, path: str) -> int:
    """The earlier export layout: every outcome a '0'/'1' string, zstd."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = []
    for value, text, bits in zip(table.column("value").to_pylist(),
                                 table.column("bitstring").to_pylist(),
                                 table.column("num_bits").to_pylist(), strict=True):
        texts.append(text if text is not None else format(value, f"0{bits}b"))
    old = table.drop_columns(["num_bits", "value", "bitstring"]).append_column(
        "bitstring", pa.array(texts, pa.large_string()))
    pq.write_table(old, path, compression="zstd")
    return os.path.getsize(path)


# -- the run -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--folder", help="keep the archive and dataset here")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark step")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix="qserial-archive-scale-")
    os.makedirs(folder, exist_ok=True)
    figures: dict[str, Any] = {"jobs": args.jobs}
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    try:
        run(args, folder, figures, say)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def run(args: argparse.Namespace, folder: str, figures: dict[str, Any], say: Any) -> None:
    import duckdb

    root, dest = os.path.join(folder, "archive"), os.path.join(folder, "shots")
    service = make_service(args.jobs)

    # 1. sync and index ----------------------------------------------------------------
    archive = qserial.Archive(root)
    report, sync_s = timed(lambda: archive.sync(service))
    assert report.ok and len(report.fetched) == args.jobs, str(report)
    files = folder_bytes(os.path.join(root, "jobs"))
    figures["sync"] = {"seconds": sync_s, "drawing_and_encoding_s": DrawnJob.drawing_s,
                       "archive_file_bytes": files}
    say(f"sync: {args.jobs:,} jobs in {fmt_s(sync_s)} ({args.jobs / sync_s:.0f} jobs/s; of "
        f"which {fmt_s(DrawnJob.drawing_s)} the double drawing and encoding results), "
        f"{files / 1e6:.1f} MB of {archive.format} files")
    archive.close()
    os.remove(os.path.join(root, "index.sqlite"))
    for extra in ("-wal", "-shm"):
        if os.path.exists(os.path.join(root, "index.sqlite" + extra)):
            os.remove(os.path.join(root, "index.sqlite" + extra))
    archive = qserial.Archive(root)
    added, reindex_s = timed(archive.reindex)
    assert added == args.jobs
    figures["reindex_s"] = reindex_s
    say(f"reindex of a lost index: {added:,} files' headers in {fmt_s(reindex_s)}")

    # 2. queries -------------------------------------------------------------------------
    every = archive.jobs(limit=None)
    some = every[len(every) // 3]
    month = (dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 31, 23, 59, tzinfo=UTC))
    queries = {
        "jobs() (10 newest)": lambda: archive.jobs(),
        "jobs(skip=half)": lambda: archive.jobs(skip=args.jobs // 2),
        "jobs(backend_name=...)": lambda: archive.jobs(backend_name="ibm_fez"),
        "jobs(job_tags=[a, b], limit=None)":
            lambda: archive.jobs(job_tags=["exp03", "exp11"], limit=None),
        "jobs(session_id=..., limit=None)":
            lambda: archive.jobs(session_id=some.session_id, limit=None),
        "jobs(a month, limit=None)":
            lambda: archive.jobs(created_after=month[0], created_before=month[1], limit=None),
        "jobs(backend, program, tag, 7 months, limit=50)":
            lambda: archive.jobs(limit=50, backend_name="ibm_torino", program_id="sampler",
                                 job_tags=["exp07"],
                                 created_after=month[0] - dt.timedelta(days=180),
                                 created_before=month[1]),
        "job(job_id)": lambda: [archive.job(some.job_id())],
        "find_job(8-character prefix)": lambda: [archive.find_job(some.job_id()[:8])],
        "jobs(limit=None) (all, as objects)": lambda: archive.jobs(limit=None),
        "job(job_id).result()": lambda: [archive.job(some.job_id()).result()],
    }
    figures["queries"] = {}
    say(f"\n{'query':<50} {'jobs':>6} {'best of 5':>10}")
    for name, query in queries.items():
        seconds = best_of(query)
        figures["queries"][name] = {"jobs": len(query()), "best_s": seconds}
        say(f"{name:<50} {len(query()):>6} {fmt_s(seconds):>10}")

    # 3. export ----------------------------------------------------------------------------
    export, export_s = timed(lambda: archive.export_parquet(dest))
    assert len(export.written) == args.jobs
    con = duckdb.connect()
    glob = f"{dest}/**/*.parquet"
    scan = f"read_parquet('{glob}', hive_partitioning = true)"
    shots, rows = con.execute(f"""
        SELECT count(DISTINCT (job_id, pub, param, shot)), count(*) FROM {scan}""").fetchall()[0]
    dataset = folder_bytes(dest)
    samplers = {f"{j.job_id()}.parquet" for j in every if j.primitive_id == "sampler"}
    own = folder_bytes(os.path.join(root, "jobs"), samplers)
    figures["export"] = {"seconds": export_s, "shots": shots, "rows": rows,
                         "shots_per_s": shots / export_s, "dataset_bytes": dataset,
                         "dataset_bytes_per_shot": dataset / shots,
                         "archive_parquet_bytes_of_sampler_jobs": own,
                         "archive_parquet_bytes_per_shot": own / shots}
    say(f"\nexport_parquet: {args.jobs:,} files, {shots:,} shots ({rows:,} rows, one per "
        f"register) in {fmt_s(export_s)}: {shots / export_s:,.0f} shots/s")
    say(f"dataset {dataset / 1e6:.1f} MB = {dataset / shots:.2f} bytes/shot; qserial's own "
        f"Parquet files of the same (sampler) jobs {own / 1e6:.1f} MB = {own / shots:.2f} "
        f"bytes/shot; ratio {dataset / own:.2f}")

    # The earlier layout (text outcomes) on a sample, against this one on the same jobs.
    import pyarrow.parquet as pq

    sample = [f for f in export.written if f.rpartition("/")[2] in samplers][:500]
    new_b = old_b = sample_shots = 0
    for rel in sample:
        table = pq.read_table(os.path.join(dest, rel))
        new_b += os.path.getsize(os.path.join(dest, rel))
        old_b += old_layout_bytes(table, os.path.join(folder, "old.parquet"))
        sample_shots += len({(a, b, c) for a, b, c in zip(
            table.column("pub").to_pylist(), table.column("param").to_pylist(),
            table.column("shot").to_pylist(), strict=True)})
    figures["text_layout_sample"] = {"jobs": len(sample), "shots": sample_shots,
                                     "bytes_per_shot": old_b / sample_shots,
                                     "integer_layout_bytes_per_shot": new_b / sample_shots}
    say(f"on {len(sample)} jobs: {new_b / sample_shots:.2f} bytes/shot against "
        f"{old_b / sample_shots:.2f} with '0'/'1' text outcomes (ratio "
        f"{new_b / old_b:.2f})")

    # 4. counts of every job and register ---------------------------------------------
    by_value = (f"SELECT job_id, pub, register, value, bitstring, count(*) AS shots "
                f"FROM {scan} GROUP BY ALL")
    with_text = (f"SELECT job_id, pub, register, {BITSTRING_SQL['duckdb']} AS bitstring, "
                 f"count(*) AS shots FROM {scan} GROUP BY ALL")
    # The same, grouping on the integer first and making bitstrings of the counts only.
    grouped_first = (f"SELECT job_id, pub, register, {BITSTRING_SQL['duckdb']} AS bitstring, "
                     f"shots FROM (SELECT job_id, pub, register, num_bits, value, bitstring, "
                     f"count(*) AS shots FROM {scan} GROUP BY ALL)")
    figures["duckdb"] = {}
    for name, sql in (("counts by integer outcome", by_value),
                      ("counts with bitstrings", with_text),
                      ("counts with bitstrings, grouped first", grouped_first)):
        (n,), seconds = timed(lambda sql=sql: con.execute(
            f"SELECT count(*) FROM ({sql})").fetchall()[0])
        figures["duckdb"][name] = {"seconds": seconds, "count_rows": n}
        say(f"DuckDB {name}: {n:,} (job, pub, register, outcome) rows in {fmt_s(seconds)}")
    counts_path = os.path.join(folder, "duckdb_counts.parquet")
    con.sql(f"COPY ({with_text}) TO '{counts_path}' (FORMAT parquet)")

    # A sample of jobs against BitArray.get_counts().
    rng = random.Random(1)
    checked = 0
    pool = [j for j in every if j.primitive_id == "sampler"]
    for job in rng.sample(pool, min(200, len(pool))):
        got = {(p, r, s): n for p, r, s, n in con.execute(
            f"SELECT pub, register, bitstring, shots FROM '{counts_path}' "
            f"WHERE job_id = '{job.job_id()}'").fetchall()}
        want = {(p, name, s): n for p, pub in enumerate(job.result())
                for name, bits in pub.data.items() for s, n in bits.get_counts().items()}
        assert got == want, job.job_id()
        checked += 1
    figures["duckdb"]["jobs checked against get_counts"] = checked
    say(f"DuckDB counts of {checked} jobs checked against get_counts(): equal")

    if args.no_spark:
        return
    figures["spark"] = spark_counts(dest, folder, counts_path, con, say)


def spark_counts(dest: str, folder: str, duck_counts: str, con: Any, say: Any) -> dict:
    from pyspark.sql import SparkSession

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("qserial-bench")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "3g")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out["session_start_s"] = time.perf_counter() - t0
    say(f"\nSpark local[2]: session in {fmt_s(out['session_start_s'])}")
    try:
        t0 = time.perf_counter()
        spark.read.parquet(dest).createOrReplaceTempView("shots")
        out["read_and_discover_s"] = time.perf_counter() - t0
        say(f"Spark reads the dataset's schema and partitions in "
            f"{fmt_s(out['read_and_discover_s'])}")
        by_value = ("SELECT job_id, pub, register, value, bitstring, count(*) AS shots "
                    "FROM shots GROUP BY ALL")
        with_text = (f"SELECT job_id, pub, register, {BITSTRING_SQL['spark']} AS bitstring, "
                     "count(*) AS shots FROM shots GROUP BY ALL")
        (n,), seconds = timed(lambda: spark.sql(
            f"SELECT count(*) FROM ({by_value})").collect()[0])
        out["counts by integer outcome"] = {"seconds": seconds, "count_rows": n}
        say(f"Spark counts by integer outcome: {n:,} rows in {fmt_s(seconds)}")
        spark_path = os.path.join(folder, "spark_counts")
        _, seconds = timed(lambda: spark.sql(with_text).write.mode("overwrite")
                           .parquet(spark_path))
        out["counts with bitstrings, written"] = {"seconds": seconds}
        say(f"Spark counts with bitstrings, written to Parquet: {fmt_s(seconds)}")
    finally:
        spark.stop()
    diff = con.execute(f"""
        SELECT (SELECT count(*) FROM (SELECT job_id, pub::BIGINT AS pub, register, bitstring,
                                             shots FROM '{duck_counts}'
                                      EXCEPT SELECT job_id, pub, register, bitstring, shots
                                      FROM '{spark_path}/*.parquet')),
               (SELECT count(*) FROM (SELECT job_id, pub, register, bitstring, shots
                                      FROM '{spark_path}/*.parquet'
                                      EXCEPT SELECT job_id, pub::BIGINT, register, bitstring,
                                             shots FROM '{duck_counts}'))
    """).fetchall()[0]
    assert diff == (0, 0), diff
    out["equal_to_duckdb"] = True
    say("Spark's counts equal DuckDB's, row for row")
    return out


if __name__ == "__main__":
    sys.exit(main())
