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
