"""Apache Spark (local mode) counts the archive's exported shots as BitArray.get_counts() does."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

from qserial import Archive  # noqa: E402
from qserial.archive._export import BITSTRING_SQL  # noqa: E402
from tests._service_double import service_with_real_jobs, wide_result  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Any:
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("qserial-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def _expected_counts(archive: Archive) -> dict[tuple[str, str, int, str, str], int]:
    """(backend, job, pub, register, bitstring) -> shots, from the archived results."""
    out: dict[tuple[str, str, int, str, str], int] = {}
    for job in archive.jobs(limit=None):
        for p, pub in enumerate(job.result()):
            for name, value in pub.data.items():
                if hasattr(value, "get_counts") and value.num_bits:
                    for bits, n in value.get_counts().items():
                        out[(job.backend().name or "unknown", job.job_id(), p, name, bits)] = n
    return out


def test_spark_counts_equal_get_counts(spark: Any, tmp_path: Any) -> None:
    archive = Archive(tmp_path / "archive")
    archive.sync(service_with_real_jobs())
    archive.save(wide_result())  # registers of 1 to 130 bits, around the 64-bit limit
    dest = tmp_path / "shots"
    assert len(archive.export_parquet(dest).written) == 7

    shots = spark.read.parquet(str(dest))  # Hive partitions: backend and month columns
    shots.createOrReplaceTempView("shots")
    rows = spark.sql(f"""
        SELECT backend, job_id, pub, register, {BITSTRING_SQL['spark']} AS bitstring,
               count(*) AS shots
        FROM shots GROUP BY ALL
    """).collect()
    got = {(r.backend, r.job_id, r.pub, r.register, r.bitstring): r.shots for r in rows}
    expected = _expected_counts(archive)
    assert got == expected
    assert {key[3] for key in got} >= {"meas", "a", "b", "c", "d", "e", "f"}

    # Partition pruning by the path columns, and the month of a job's creation (UTC).
    quito = spark.sql("SELECT DISTINCT month FROM shots WHERE backend = 'fake_quito'")
    assert sorted(r.month for r in quito.collect()) == ["2025-02", "2025-03"]
    total = spark.sql("SELECT count(*) AS n FROM shots").collect()[0].n
    assert total == sum(expected.values())
