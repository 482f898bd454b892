"""An archive on object storage: s3:// against moto's S3 server, started here on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from qserial import Archive  # noqa: E402
from qserial.testing import assert_equal  # noqa: E402
from tests._service_double import service_with_real_jobs  # noqa: E402


@pytest.fixture(scope="module")
def s3() -> Any:
    """Storage options of a bucket on a local moto server (dummy credentials)."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
                                            "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="eu-west-1", AWS_CONFIG_FILE=os.devnull,
                      AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"key": "testing", "secret": "testing", "skip_instance_cache": True,
               "client_kwargs": {"endpoint_url": f"http://{host}:{port}",
                                 "region_name": "eu-west-1"}}
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    fs.mkdir("results")
    try:
        yield options
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_sync_query_and_load_on_s3(s3: dict, tmp_path: Any, monkeypatch: Any) -> None:
    import s3fs

    monkeypatch.setenv("QSERIAL_CACHE_DIR", str(tmp_path / "machine-a"))
    service = service_with_real_jobs()
    archive = Archive("s3://results/team", storage_options=s3)
    assert archive.index_path.startswith(str(tmp_path / "machine-a"))
    report = archive.sync(service)
    assert len(report.fetched) == 6
    fs = s3fs.S3FileSystem(**s3)
    files = fs.find("results/team")
    assert len(files) == 6 and all(f.startswith("results/team/jobs/2025/") for f in files)
    sweep = archive.jobs(job_tags=["sweep"], backend_name="fake_quito")[0]
    assert sweep.path.startswith("s3://results/team/jobs/2025/03/")
    assert_equal(sweep.result(), service.job(sweep.job_id()).result())
    assert_equal(sweep.result(pubs=[1])[0], sweep.result()[1])
    assert archive.sync(service).fetched == []

    # Another machine: an empty local index, filled from the files' manifests.
    monkeypatch.setenv("QSERIAL_CACHE_DIR", str(tmp_path / "machine-b"))
    other = Archive("s3://results/team", storage_options=s3)
    assert other.index_path.startswith(str(tmp_path / "machine-b"))
    assert [j.to_dict() for j in other.jobs(limit=None)] == \
        [j.to_dict() for j in archive.jobs(limit=None)]
    saved = other.save(sweep.result(), note="from machine b")
    assert other.sync(service).fetched == []

    # ... whose new file the first machine sees when it opens the archive again.
    monkeypatch.setenv("QSERIAL_CACHE_DIR", str(tmp_path / "machine-a"))
    again = Archive("s3://results/team", storage_options=s3)
    assert len(again) == 7 and again.job(saved.job_id()).labels == {"note": "from machine b"}


def test_export_to_s3(s3: dict, tmp_path: Any, monkeypatch: Any) -> None:
    import pyarrow.dataset as ds
    import s3fs

    monkeypatch.setenv("QSERIAL_CACHE_DIR", str(tmp_path))
    archive = Archive(tmp_path / "local")
    archive.sync(service_with_real_jobs())
    report = archive.export_parquet("s3://results/shots", storage_options=s3)
    assert len(report.written) == 6
    fs = s3fs.S3FileSystem(**s3)
    table = ds.dataset("results/shots", filesystem=fs, format="parquet",
                       partitioning="hive").to_table()
    assert table.num_rows == 300 + 4 * 64 + 64 + 300 + 4 * 64 + 64
    assert set(table.column("backend").to_pylist()) == {"fake_manila", "fake_quito"}


def test_two_machines_claim_a_job_in_the_store_once(s3: dict, tmp_path: Any) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3)
    fs.pipe_file("results/probe", b"first", mode="create")  # the server honours If-None-Match
    with pytest.raises(FileExistsError):
        fs.pipe_file("results/probe", b"second", mode="create")
    assert fs.cat_file("results/probe") == b"first"

    url = "s3://results/claims-test"
    a = Archive(url, storage_options=s3, index=tmp_path / "a.sqlite")  # machine a
    b = Archive(url, storage_options=s3, index=tmp_path / "b.sqlite")  # machine b
    assert a.claim("job-1") == "ok" and a.claim("job-1") == "ok"  # a's own claim
    assert fs.exists("results/claims-test/claims/job-1")
    assert b.claim("job-1") == "busy"
    a.release("job-1")
    assert not fs.exists("results/claims-test/claims/job-1")
    assert b.claim("job-1") == "ok" and a.claim("job-1") == "busy"
    # A claim older than the timeout is taken over, and its old holder cannot drop it.
    assert a.claim("job-1", timeout=0) == "ok" and b.claim("job-1") == "busy"
    b.release("job-1")
    assert a.claim("job-1") == "ok" and fs.exists("results/claims-test/claims/job-1")
    a.release("job-1")
    # Opting out leaves claims to each machine's index.
    c = Archive(url, storage_options=s3, index=tmp_path / "c.sqlite", claims_in_store=False)
    assert c.claim("job-2") == "ok" and not fs.exists("results/claims-test/claims/job-2")
    assert a.claim("job-2") == "ok"  # c's claim is in c's index only
    with pytest.raises(ValueError, match="claims_in_store"):
        Archive(tmp_path / "local", claims_in_store=True)


def test_two_machines_syncing_one_bucket_fetch_each_job_once(s3: dict, tmp_path: Any) -> None:
    import threading

    import s3fs

    service = service_with_real_jobs(delay=0.3)  # a slow network: the syncs overlap
    url = "s3://results/shared"
    # Two machines: each its own index (and so its own claims table), one bucket.
    machines = [Archive(url, storage_options=s3, index=tmp_path / f"{m}.sqlite")
                for m in "ab"]
    reports: list[Any] = [None, None]

    def run(i: int) -> None:
        reports[i] = machines[i].sync(service)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in reports)
    assert sorted(service.fetches) == sorted({*service.fetches})  # no job fetched twice
    assert len(service.fetches) == 6
    fetched = [set(r.fetched) for r in reports]
    assert not fetched[0] & fetched[1] and len(fetched[0] | fetched[1]) == 6
    fs = s3fs.S3FileSystem(**s3)
    assert fs.find("results/shared/claims") == []  # every claim dropped once indexed
    # Each machine's index learns the other's jobs from the files, fetching nothing.
    for machine in machines:
        again = machine.sync(service)
        assert again.fetched == [] and len(machine) == 6
    assert len(service.fetches) == 6
    for job in machines[0].jobs(limit=None):
        assert_equal(job.result(), service.job(job.job_id()).result())
