"""qserial.Archive: save, query like QiskitRuntimeService.jobs, sync, reindex, export."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import shutil
import sqlite3
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qserial
from qserial import Archive, Format, QSerialError, UnsupportedFeatureError, UnsupportedTypeError
from qserial.archive import ArchivedJob, JobNotFoundError
from qserial.archive._archive import default_format
from qserial.archive._export import BITSTRING_SQL, SCHEMA_FIELDS
from qserial.testing import assert_equal
from tests._service_double import (
    RemoteJob,
    ServiceDouble,
    real_local_jobs,
    service_with_real_jobs,
    wide_result,
)

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def synced(tmp_path_factory: Any) -> tuple[Archive, ServiceDouble]:
    """An archive synced from the double; tests using it only read."""
    service = service_with_real_jobs()
    archive = Archive(tmp_path_factory.mktemp("archive"))
    archive.sync(service)
    return archive, service


def _ids(jobs: list[Any]) -> list[str]:
    return [job.job_id() for job in jobs]


# -- the service's API, checked against the installed qiskit-ibm-runtime ---------------


def _params(func: Any, drop: int = 1) -> list[tuple[str, Any, Any]]:
    sig = inspect.signature(func)
    return [(p.name, p.kind, p.default) for p in list(sig.parameters.values())[drop:]]


def test_jobs_and_job_have_the_services_signatures() -> None:
    from qiskit_ibm_runtime import QiskitRuntimeService

    service = _params(QiskitRuntimeService.jobs)
    assert _params(Archive.jobs) == service
    assert _params(ServiceDouble.jobs) == service
    assert _params(ServiceDouble.job) == _params(QiskitRuntimeService.job)
    assert list(inspect.signature(Archive.job).parameters) == ["self", "job_id"]
    # sync takes the same filters after the service, with no limit by default.
    sync = _params(Archive.sync, drop=2)
    positional = [p for p in sync if p[1] is not inspect.Parameter.KEYWORD_ONLY]
    assert [p[:2] for p in positional] == [p[:2] for p in service]
    assert {p[0]: p[2] for p in positional} == {**{p[0]: p[2] for p in service}, "limit": None}


def test_archived_jobs_answer_with_runtime_job_v2s_api() -> None:
    from qiskit_ibm_runtime import RuntimeJobV2

    methods = ("job_id", "backend", "status", "result", "usage", "metrics", "done",
               "errored", "cancelled", "running", "in_final_state")
    properties = ("creation_date", "tags", "primitive_id", "session_id", "instance")
    for cls in (RuntimeJobV2, ArchivedJob, RemoteJob):
        for name in methods:
            if cls is RemoteJob and name not in ("job_id", "backend", "status", "result",
                                                 "usage", "metrics"):
                continue
            assert inspect.isfunction(getattr(cls, name)), (cls, name)
        for name in properties:
            assert isinstance(inspect.getattr_static(cls, name), property), (cls, name)


# -- sync ------------------------------------------------------------------------------


def test_sync_archives_each_finished_job_once(tmp_path: Any) -> None:
    service = service_with_real_jobs()
    archive = Archive(tmp_path)
    report = archive.sync(service)
    assert report.ok and report.listed == 6
    assert sorted(report.fetched) == sorted(service.fetches) == sorted(_ids(service.jobs(None)))
    assert service.list_calls[0]["pending"] is False and service.list_calls[0]["limit"] is None
    again = archive.sync(service)
    assert again.fetched == [] and sorted(again.already) == sorted(report.fetched)
    assert len(service.fetches) == 6
    assert len(archive) == 6
    for job in archive.jobs(limit=None):
        assert job.path.startswith(os.path.join(str(tmp_path), "jobs", ""))
        assert_equal(job.result(), service.job(job.job_id()).result())
    assert not [n for _, _, files in os.walk(tmp_path) for n in files if n.endswith(".tmp")]


def test_sync_passes_the_filters_to_the_service(tmp_path: Any) -> None:
    service = service_with_real_jobs()
    archive = Archive(tmp_path)
    report = archive.sync(service, backend_name="fake_manila", job_tags=["ghz"])
    assert report.listed == 1 and len(archive) == 1
    assert archive.jobs()[0].tags == ["ghz", "calib"]
    assert service.list_calls[-1]["backend_name"] == "fake_manila"


def test_sync_indexes_a_file_written_by_a_killed_run_without_fetching(tmp_path: Any) -> None:
    service = service_with_real_jobs()
    archive = Archive(tmp_path)
    archive.sync(service)
    lost = archive.jobs()[2]
    archive._index.remove(lost.job_id())  # as if killed between the file and its row
    assert lost.job_id() not in archive
    report = archive.sync(service)
    assert report.adopted == [lost.job_id()] and report.fetched == []
    assert len(service.fetches) == 6
    assert archive.job(lost.job_id()).tags == lost.tags


def test_sync_replaces_a_damaged_unindexed_file(tmp_path: Any) -> None:
    service = service_with_real_jobs()
    archive = Archive(tmp_path)
    archive.sync(service)
    victim = archive.jobs()[0]
    archive._index.remove(victim.job_id())
    with open(victim.path, "wb") as f:
        f.write(b"PAR1 not really")
    report = archive.sync(service)
    assert report.fetched == [victim.job_id()] and report.adopted == []
    assert_equal(archive.job(victim.job_id()).result(),
                 service.job(victim.job_id()).result())


def test_sync_skips_unfinished_jobs_and_reports_failures(tmp_path: Any) -> None:
    service = service_with_real_jobs()
    jobs = service.jobs(limit=None, descending=False)
    jobs[0].record["status"] = "ERROR"
    jobs[1].record["status"] = "RUNNING"
    broken = jobs[2]
    broken.result_json = '{"__type__": "PrimitiveResult", "__value__": '  # cut short
    archive = Archive(tmp_path)
    report = archive.sync(service, pending=None)
    assert report.listed == 5  # pending=False by default: the running job is not listed
    assert report.not_done == [jobs[0].job_id()]
    assert list(report.failed) == [broken.job_id()] and not report.ok
    assert "JSONDecodeError" in report.failed[broken.job_id()]
    assert len(archive) == 3 and broken.job_id() not in archive
    assert "1 failed" in str(report)
    # its claim was released: the next run tries it again
    broken.result_json = jobs[3].result_json
    assert archive.sync(service).fetched == [broken.job_id()]


def test_sync_progress_bar(tmp_path: Any, capsys: Any) -> None:
    Archive(tmp_path).sync(service_with_real_jobs(), limit=2, progress=True)
    assert "archiving jobs" in capsys.readouterr().err


def test_claims(tmp_path: Any) -> None:
    archive = Archive(tmp_path)
    db = sqlite3.connect(archive.index_path)
    host = __import__("socket").gethostname()
    with db:
        db.execute("INSERT INTO claims VALUES ('by-parent', ?, ?, ?)",
                   (host, os.getppid(), __import__("time").time()))
        db.execute("INSERT INTO claims VALUES ('by-dead', ?, ?, ?)",
                   (host, 2**22 + 12345, __import__("time").time()))
        db.execute("INSERT INTO claims VALUES ('stale', 'elsewhere', 1, 0)")
        db.execute("INSERT INTO claims VALUES ('fresh-elsewhere', 'elsewhere', 1, ?)",
                   (__import__("time").time(),))
    assert archive.claim("by-parent") == "busy"
    assert archive.claim("by-dead") == "ok"
    assert archive.claim("stale") == "ok"
    assert archive.claim("fresh-elsewhere", timeout=3600) == "busy"
    assert archive.claim("fresh-elsewhere", timeout=0) == "ok"  # older than the timeout
    assert archive.claim("new") == "ok"
    assert archive.claim("new") == "ok"  # our own claim
    archive.release("new")
    archive.release("by-parent")  # another process's claim stays
    assert sorted(r[0] for r in db.execute("SELECT job_id FROM claims")) == \
        ["by-dead", "by-parent", "fresh-elsewhere", "stale"]
    saved = archive.save(_FakeJob("by-dead"))  # saving drops the claim...
    assert archive.claim(saved.job_id()) == "archived"  # ... and it is archived now
    assert db.execute("SELECT count(*) FROM claims WHERE job_id = 'by-dead'").fetchone() == (0,)


# -- queries ---------------------------------------------------------------------------


def test_archived_jobs_answer_like_the_service_jobs(synced: tuple[Archive, Any]) -> None:
    archive, service = synced
    for mine, theirs in zip(archive.jobs(limit=None), service.jobs(limit=None), strict=True):
        assert mine.job_id() == theirs.job_id()
        assert mine.backend().name == theirs.backend().name
        assert mine.creation_date == theirs.creation_date
        assert mine.creation_date.tzinfo is not None
        assert mine.tags == theirs.tags and mine.status() == theirs.status() == "DONE"
        assert mine.primitive_id == theirs.primitive_id
        assert mine.session_id == theirs.session_id and mine.instance == theirs.instance
        assert mine.usage() == theirs.usage() and mine.done() and mine.in_final_state()
        assert mine.provenance == qserial.provenance(theirs)
        assert mine.format == default_format() and mine.size == os.path.getsize(mine.path)


_NAIVE = dt.datetime(2025, 2, 3, 12, 30).replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
FILTER_CASES = [
    {},
    {"limit": None},
    {"limit": 2, "skip": 1},
    {"limit": None, "descending": False},
    {"backend_name": "fake_quito"},
    {"backend_name": "nowhere"},
    {"program_id": "estimator"},
    {"instance": "crn:a", "limit": None},
    {"job_tags": ["calib"]},
    {"job_tags": ["calib", "sweep"]},
    {"job_tags": ["calib", "zz"]},
    {"session_id": "s1"},
    {"created_after": dt.datetime(2025, 2, 3, 12, 30, tzinfo=UTC)},  # inclusive
    {"created_before": _NAIVE},  # naive: local time, inclusive
    {"created_after": dt.datetime(2025, 1, 15, tzinfo=UTC),
     "created_before": dt.datetime(2025, 3, 1, tzinfo=UTC), "descending": False},
    {"pending": False},
    {"pending": True},
    {"include_mocks": True, "program_id": "sampler", "instance": "crn:b"},
]


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_jobs_filters_as_the_service_does(filters: dict, synced: tuple[Archive, Any]) -> None:
    archive, service = synced
    expected = _ids(service.jobs(**filters))
    assert _ids(archive.jobs(**filters)) == expected


_dates = st.datetimes(min_value=dt.datetime(2024, 12, 1), max_value=dt.datetime(2025, 4, 30),
                      timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-5))]))


@given(filters=st.fixed_dictionaries({}, optional={
    "limit": st.none() | st.integers(0, 7),
    "skip": st.integers(0, 7),
    "backend_name": st.sampled_from(["fake_manila", "fake_quito", "other"]),
    "pending": st.none() | st.booleans(),
    "program_id": st.sampled_from(["sampler", "estimator"]),
    "instance": st.sampled_from(["crn:a", "crn:b"]),
    "job_tags": st.lists(st.sampled_from(["ghz", "calib", "sweep", "zz", "x"]), max_size=2),
    "session_id": st.sampled_from(["s1", "s2", "s3"]),
    "created_after": _dates,
    "created_before": _dates,
    "descending": st.booleans(),
}))
def test_any_filter_combination_as_the_service(filters: dict,
                                               synced: tuple[Archive, Any]) -> None:
    archive, service = synced
    assert _ids(archive.jobs(**filters)) == _ids(service.jobs(**filters))


def test_bad_filter_values_are_refused(synced: tuple[Archive, Any]) -> None:
    archive, _ = synced
    for bad in ({"limit": -1}, {"skip": -2}, {"limit": "5"}, {"job_tags": "calib"},
                {"created_after": "yesterday"}):
        with pytest.raises(ValueError):
            archive.jobs(**bad)


def test_job_by_id_and_missing_ids(synced: tuple[Archive, Any]) -> None:
    archive, service = synced
    some = service.jobs()[3]
    assert archive.job(some.job_id()).job_id() == some.job_id()
    assert some.job_id() in archive and "nope" not in archive
    with pytest.raises(JobNotFoundError) as info:
        archive.job("nope")
    assert isinstance(info.value, QSerialError) and isinstance(info.value, LookupError)


def test_results_are_loaded_lazily_and_partially(synced: tuple[Archive, Any],
                                                 monkeypatch: Any) -> None:
    archive, service = synced
    import qserial.archive._files as module

    calls: list[Any] = []
    real_load = module.load
    monkeypatch.setattr(module, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    sweep = archive.jobs(job_tags=["sweep"], backend_name="fake_manila")[0]
    assert calls == []  # listing reads the index only
    full = sweep.result()
    part = sweep.result(pubs=[1])
    assert [c["pubs"] for c in calls] == [None, [1]]
    assert len(full) == 2 and len(part) == 1
    assert_equal(part[0], full[1])
    assert_equal(full, service.job(sweep.job_id()).result())


# -- save, labels, formats, index ------------------------------------------------------


def test_save_jobs_and_bare_results_with_labels(tmp_path: Any) -> None:
    archive = Archive(tmp_path, format="json")
    local = real_local_jobs()[0]
    saved = archive.save(local, experiment="ghz", run=3, nested={"ok": [True, None]})
    assert saved.job_id() == local.job_id() and saved.backend().name == "fake_manila"
    assert saved.labels == {"experiment": "ghz", "run": 3, "nested": {"ok": [True, None]}}
    assert saved.path.endswith(".json")
    assert qserial.read_header(saved.path)["manifest"]["labels"] == saved.labels
    assert_equal(saved.result(), local.result(), exact=False)
    bare = archive.save(local.result())
    assert bare.job_id().startswith("local-") and bare.status() == "DONE"
    assert bare.provenance["backend"] is None and len(archive) == 2
    assert archive.save(local).job_id() == local.job_id() and len(archive) == 2  # replaced
    with pytest.raises(UnsupportedTypeError):
        archive.save(local.result(), when=dt.datetime.now())
    assert len(archive) == 2


def test_format_is_remembered_and_must_store_manifests(tmp_path: Any) -> None:
    Archive(tmp_path, format="json").close()
    assert Archive(tmp_path).format == "json"

    class NoManifest(Format):
        name = "nomanifest"
        suffixes = (".nm",)

    with pytest.raises(UnsupportedFeatureError):
        Archive(tmp_path / "other", format=NoManifest)


def test_index_is_sqlite_in_wal_mode(tmp_path: Any) -> None:
    archive = Archive(tmp_path)
    assert archive.index_path == os.path.join(str(tmp_path), "index.sqlite")
    db = sqlite3.connect(archive.index_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version = 99")
    db.close()
    archive.close()
    with pytest.raises(qserial.UnsupportedVersionError, match="upgrade qserial"):
        Archive(tmp_path)


def test_reindex_rebuilds_a_lost_index(synced: tuple[Archive, Any], tmp_path: Any) -> None:
    archive, _ = synced
    copy = tmp_path / "copy"
    shutil.copytree(os.path.join(archive.root, "jobs"), copy / "jobs")
    rebuilt = Archive(copy)
    assert len(rebuilt) == 0
    assert rebuilt.reindex() == 6 and rebuilt.reindex() == 0
    for mine, theirs in zip(rebuilt.jobs(limit=None), archive.jobs(limit=None), strict=True):
        assert mine.to_dict() | {"path": None} == theirs.to_dict() | {"path": None}
    os.remove(rebuilt.jobs()[0].path)
    assert rebuilt.reindex(prune=True) == 1 and len(rebuilt) == 5


def test_exists_tells_an_archive_without_making_one(synced: tuple[Archive, Any],
                                                   tmp_path: Any) -> None:
    archive, _ = synced
    assert Archive.exists(archive.root)
    files_only = tmp_path / "files-only"  # job files, no index: reindex() rebuilds it
    shutil.copytree(os.path.join(archive.root, "jobs"), files_only / "jobs")
    assert Archive.exists(files_only) and not (files_only / "index.sqlite").exists()
    (tmp_path / "empty" / "jobs").mkdir(parents=True)
    assert not Archive.exists(tmp_path / "empty")
    assert not Archive.exists(tmp_path / "missing")
    assert Archive.exists("s3://bucket/prefix")  # a remote index is rebuilt on opening
    assert sorted(os.listdir(tmp_path)) == ["empty", "files-only"]
    assert Archive(files_only).reindex() == 6


def test_index_file_indexes_one_file_from_its_manifest(tmp_path: Any) -> None:
    archive = Archive(tmp_path)
    archive.sync(service_with_real_jobs())
    job = archive.jobs()[1]
    rel = os.path.relpath(job.path, archive.root).replace(os.sep, "/")
    assert rel == archive.path_for(job.job_id(), job.creation_date)
    archive._index.remove(job.job_id())
    assert archive.index_file(rel, job_id="someone-else") is None
    assert job.job_id() not in archive
    assert archive.index_file("jobs/2025/01/missing.parquet") is None
    again = archive.index_file(rel, job_id=job.job_id())
    assert again is not None and again.to_dict() == job.to_dict()
    assert archive.job(job.job_id()).to_dict() == job.to_dict()
    with open(os.path.join(archive.root, "jobs", "notes.parquet"), "wb") as f:
        f.write(b"not a qserial file")
    assert archive.index_file("jobs/notes.parquet") is None


def test_find_job_by_unique_prefix(tmp_path: Any) -> None:
    archive = Archive(tmp_path, format="json")
    for job_id in ("d1x9q2", "d1x9r7", "d2aa", "a_c", "abc", "ABd"):
        archive.save(_FakeJob(job_id))
    assert archive.find_job("d2").job_id() == "d2aa"
    assert archive.find_job("d1x9q").job_id() == "d1x9q2"
    assert archive.find_job("abc").job_id() == "abc"  # a whole id
    assert archive.find_job("AB").job_id() == "ABd"  # case matters
    assert archive.find_job("a_").job_id() == "a_c"  # no wildcards
    with pytest.raises(qserial.archive.AmbiguousJobError, match="d1x9q2, d1x9r7") as info:
        archive.find_job("d1")
    assert isinstance(info.value, QSerialError) and isinstance(info.value, LookupError)
    with pytest.raises(JobNotFoundError, match="no job id starts with 'e'"):
        archive.find_job("e")
    with pytest.raises(ValueError, match="non-empty"):
        archive.find_job("")


def test_job_ids_cannot_leave_the_archive(tmp_path: Any) -> None:
    archive = Archive(tmp_path / "root", format="json")
    job = _FakeJob("../../escape/../x")
    saved = archive.save(job)
    assert os.path.realpath(saved.path).startswith(os.path.realpath(tmp_path / "root" / "jobs"))
    assert archive.job("../../escape/../x").result() == 1j
    assert os.listdir(tmp_path) == ["root"]


class _FakeJob:
    def __init__(self, job_id: str) -> None:
        self._id = job_id

    def job_id(self) -> str:
        return self._id

    def result(self) -> complex:
        return 1j


# -- the Parquet dataset of shots ------------------------------------------------------


def test_export_parquet_is_read_by_duckdb(synced: tuple[Archive, Any], tmp_path: Any) -> None:
    duckdb = pytest.importorskip("duckdb")
    archive, service = synced
    dest = tmp_path / "shots"
    report = archive.export_parquet(dest)
    assert len(report.written) == 6 and report.kept == []
    assert sorted(os.listdir(dest)) == ["backend=fake_manila", "backend=fake_quito"]
    assert sorted(os.listdir(dest / "backend=fake_manila")) == ["month=2025-01", "month=2025-02"]
    again = archive.export_parquet(dest)
    assert again.written == [] and len(again.kept) == 6

    # The query of docs/archive.md: counts per backend and outcome, across all jobs.
    rows = duckdb.sql(f"""
        SELECT backend, register, {BITSTRING_SQL['duckdb']} AS bitstring, count(*) AS shots
        FROM read_parquet('{dest}/**/*.parquet', hive_partitioning = true)
        GROUP BY ALL
    """).fetchall()
    expected: dict[tuple[str, str, str], int] = {}
    for job in service.jobs(limit=None):
        for pub in job.result():
            for name, value in pub.data.items():
                if hasattr(value, "get_counts"):
                    for bits, n in value.get_counts().items():
                        key = (job.backend().name, name, bits)
                        expected[key] = expected.get(key, 0) + n
    assert {(b, r, s): n for b, r, s, n in rows} == expected

    # Per-shot rows keep their place: pub, parameter index and shot.
    sweep = archive.jobs(job_tags=["sweep"], backend_name="fake_manila")[0]
    bits = sweep.result()[0].data.meas  # shape (4,), 64 shots
    got = duckdb.sql(f"""
        SELECT param, shot, value, {BITSTRING_SQL['duckdb']}
        FROM read_parquet('{dest}/**/*.parquet', hive_partitioning = true)
        WHERE job_id = '{sweep.job_id()}' AND pub = 0 ORDER BY param, shot
    """).fetchall()
    assert [s for *_, s in got] == [s for i in range(4) for s in bits[i].get_bitstrings()]
    assert [v for _, _, v, _ in got] == [int(s, 2) for *_, s in got]
    assert got[-1][:2] == (3, 63)
    created = duckdb.sql(f"""
        SELECT DISTINCT created, month FROM read_parquet('{dest}/**/*.parquet',
            hive_partitioning = true) WHERE job_id = '{sweep.job_id()}'
    """).fetchall()
    assert created == [(sweep.creation_date, "2025-01")]


def test_export_stores_integers_up_to_64_bits_and_text_beyond(tmp_path: Any) -> None:
    duckdb = pytest.importorskip("duckdb")
    import pyarrow.parquet as pq

    archive = Archive(tmp_path / "archive")
    result = wide_result()
    saved = archive.save(result)
    (rel,) = archive.export_parquet(tmp_path / "shots").written
    path = tmp_path / "shots" / rel
    table = pq.read_table(path)
    assert table.column_names == list(SCHEMA_FIELDS)
    rows = duckdb.sql(f"""
        SELECT pub, register, num_bits, value, bitstring, {BITSTRING_SQL['duckdb']}
        FROM read_parquet('{path}') ORDER BY pub, register, param, shot
    """).fetchall()
    expected = []
    for p, pub in enumerate(result):
        for name in sorted(pub.data.keys()):
            value = pub.data[name]
            for text in value.get_bitstrings():
                expected.append((p, name, value.num_bits, text))
    assert [(p, r, n, s) for p, r, n, _, _, s in rows] == expected
    for _, _, num_bits, value, text, _ in rows:
        assert (value is None) == (num_bits > 64) and (text is None) == (num_bits <= 64)
    # The integers are those BitArray.get_int_counts() keys outcomes by.
    counted = duckdb.sql(f"""
        SELECT register, value, count(*) FROM read_parquet('{path}')
        WHERE value IS NOT NULL GROUP BY ALL
    """).fetchall()
    ints: dict[tuple[str, int], int] = {}
    for pub in result:
        for name, value in pub.data.items():
            if value.num_bits <= 64:
                for key, n in value.get_int_counts().items():
                    ints[(name, key)] = ints.get((name, key), 0) + n
    assert {(r, v): n for r, v, n in counted} == ints
    assert saved.job_id() in {r[0] for r in duckdb.sql(
        f"SELECT DISTINCT job_id FROM read_parquet('{path}')").fetchall()}


def test_docs_give_the_bitstring_expressions_the_tests_use() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "archive.md").read_text("utf-8")
    for engine, expression in BITSTRING_SQL.items():
        assert f"`{expression}`" in text, engine  # the table of expressions
        assert expression in text.split("```sql", 1)[1], engine  # and the recipes
    assert qserial.archive.BITSTRING_SQL is BITSTRING_SQL


def test_export_of_chosen_jobs(synced: tuple[Archive, Any], tmp_path: Any) -> None:
    archive, _ = synced
    chosen = archive.jobs(program_id="estimator", limit=None)
    report = archive.export_parquet(tmp_path, jobs=chosen)
    assert len(report.written) == 2
    import pyarrow.parquet as pq

    for rel in report.written:
        table = pq.read_table(os.path.join(tmp_path, rel))
        assert table.num_rows == 0 and table.column_names == list(SCHEMA_FIELDS)


def test_to_dict_is_json(synced: tuple[Archive, Any]) -> None:
    archive, _ = synced
    for job in archive.jobs(limit=None):
        assert json.loads(json.dumps(job.to_dict()))["job_id"] == job.job_id()


def test_docs_examples_run(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    import re
    from pathlib import Path

    pytest.importorskip("qserial_parquet")  # the examples write .parquet files
    text = (Path(__file__).resolve().parents[1] / "docs" / "archive.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    runnable = [b for b in blocks if "QiskitRuntimeService" not in b]  # needs an account
    assert len(runnable) == 4
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for block in runnable:
        exec(compile(block, "docs/archive.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "fake_manila sampler DONE"
    assert out[1] == "True fake_manila {'experiment': 'ghz'}"
    assert out[2].startswith(namespace["job"].job_id())
    assert out[3] == "1 files written, 0 already there"
    assert out[4] == "True"
    month = f"{namespace['job'].creation_date.astimezone(UTC):%Y-%m}"
    assert namespace["top"][0][:3] == ("fake_manila", month, "meas")
    assert sum(namespace["counts"].values()) == 500


@pytest.mark.parametrize("name", qserial.list_formats())
def test_archive_in_every_format_that_stores_manifests(name: str, tmp_path: Any) -> None:
    from qserial.formats import get_format

    if not get_format(name).supports_manifest:
        pytest.skip(f"format {name!r} does not store manifests yet")
    archive = Archive(tmp_path, format=name)
    local = real_local_jobs()[1]
    saved = archive.save(local, run=1)
    assert saved.path.endswith(get_format(name).suffixes[0])
    assert_equal(saved.result(), local.result(), exact=name != "json")
    assert_equal(saved.result(pubs=[1])[0], saved.result()[1], exact=name != "json")
    archive.close()
    os.remove(archive.index_path)
    rebuilt = Archive(tmp_path, format=name)  # a new, empty index
    assert rebuilt.reindex() == 1
    assert rebuilt.job(local.job_id()).to_dict() == saved.to_dict()
