"""Archive syncs in real processes: killed midway and resumed, and two at once.

Each sync runs as a user runs it, ``python -m qserial archive sync ROOT --service
tests._service_double:from_env``, against the service double saved to a folder; the
double logs every fetched job id to a file, so the test sees exactly what was fetched.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qserial import Archive
from qserial.testing import assert_equal
from tests._service_double import ServiceDouble, service_with_real_jobs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def service_folder(tmp_path_factory: Any) -> str:
    folder = str(tmp_path_factory.mktemp("service"))
    service_with_real_jobs().save(folder)
    return folder


def _sync(root: Path, folder: str, log: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "QSERIAL_SERVICE_DOUBLE": folder, "QSERIAL_SERVICE_LOG": str(log),
           "QSERIAL_SERVICE_DELAY": str(delay), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "qserial", "archive", "sync", str(root), "--service",
         "tests._service_double:from_env", "--no-progress"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _fetched(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _indexed(root: Path) -> set[str]:
    db = sqlite3.connect(root / "index.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT job_id FROM jobs")}
    finally:
        db.close()


def _check_archive(root: Path, folder: str) -> None:
    """Every job archived once, every file loads and equals the service's result."""
    service = ServiceDouble.load(folder)
    archive = Archive(root)
    assert archive._index.integrity_check() == "ok"
    assert sorted(j.job_id() for j in archive.jobs(limit=None)) == \
        sorted(j.job_id() for j in service.jobs(limit=None))
    for job in archive.jobs(limit=None):
        assert_equal(job.result(), service.job(job.job_id()).result())
    leftovers = [n for _, _, files in os.walk(root) for n in files if n.endswith(".tmp")]
    assert leftovers == []
    archive.close()


def test_a_killed_sync_resumes_fetching_only_what_is_missing(service_folder: str,
                                                              tmp_path: Path) -> None:
    root, log = tmp_path / "archive", tmp_path / "fetches.log"
    first = _sync(root, service_folder, log, delay=0.4)
    deadline = time.monotonic() + 120
    while len(_fetched(log)) < 3:  # the third fetch has begun: two jobs are archived
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the sync did not start fetching"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before_kill = _fetched(log)
    archived = _indexed(root)
    assert 2 <= len(archived) < 6 and archived <= set(before_kill)

    second = _sync(root, service_folder, log, delay=0)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    refetched = _fetched(log)[len(before_kill):]
    assert not archived & set(refetched), "a job archived before the kill was fetched again"
    # The rest was fetched now, or (killed between file and index row) indexed from its file.
    adopted = _indexed(root) - archived - set(refetched)
    assert adopted <= set(before_kill) and len(adopted) <= 1
    assert len(refetched) == len(set(refetched)) == 6 - len(archived) - len(adopted)
    assert f"{len(refetched)} fetched" in out
    print(f"\nkilled after {len(before_kill)} fetches with {len(archived)} jobs archived; "
          f"the resumed sync fetched {len(refetched)}: {out.strip()}")
    _check_archive(root, service_folder)


def test_two_processes_syncing_one_archive(service_folder: str, tmp_path: Path) -> None:
    root, log = tmp_path / "archive", tmp_path / "fetches.log"
    procs = [_sync(root, service_folder, log, delay=0.2) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    fetched = _fetched(log)
    assert sorted(fetched) == sorted(set(fetched)) and len(fetched) == 6, fetched
    counts = [int(out.split(" fetched")[0].rpartition(" ")[2]) for out, _ in outputs]
    assert sum(counts) == 6
    print(f"\ntwo processes fetched {counts[0]} and {counts[1]} jobs: "
          + " | ".join(out.strip() for out, _ in outputs))
    _check_archive(root, service_folder)


_OPEN_AT = """
import sys, time
from qserial import Archive
start = float(sys.argv[2])
while time.time() < start:
    pass
Archive(sys.argv[1]).close()
"""


def test_processes_opening_a_new_archive_at_once(tmp_path: Path) -> None:
    """Switching a new index to WAL takes a lock SQLite does not wait for: opens retry."""
    failures = []
    for round_ in range(8):
        root = tmp_path / f"archive{round_}"
        start = str(time.time() + 1.0)  # every process is past its imports by then
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, str(root), start],
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            if p.returncode:
                failures.append(err.strip().splitlines()[-1])
        assert (root / "index.sqlite").exists()
    assert failures == []
