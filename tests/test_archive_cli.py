"""``qserial archive ...`` run as a user runs it: in a subprocess, output and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qserial import Archive
from tests._service_double import service_with_real_jobs

REPO = Path(__file__).resolve().parents[1]


def qserial_cmd(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QSERIAL_DEBUG", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "qserial", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def root(tmp_path_factory: Any) -> str:
    folder = tmp_path_factory.mktemp("archive")
    with Archive(folder) as archive:
        archive.sync(service_with_real_jobs())
        archive.save(archive.jobs()[0].result(), note="copy")
    return str(folder)


def test_ls_table_and_json(root: str) -> None:
    done = qserial_cmd("archive", "ls", root, "--backend", "fake_manila", "--tag", "calib")
    assert done.returncode == 0, done.stderr
    assert "1 of 7 jobs" in done.stdout and "fake_manila" in done.stdout
    assert "ghz, calib" in done.stdout and "\x1b[" not in done.stdout  # no colour in a pipe
    listed = qserial_cmd("archive", "ls", root, "--json", "--limit", "3", "--ascending",
                         "--created-after", "2025-01-15")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)
    assert [j["creation_date"][:10] for j in jobs] == ["2025-01-20", "2025-02-03", "2025-02-14"]
    assert jobs[0]["tags"] == ["sweep"] and jobs[0]["provenance"]["backend"] == "fake_manila"


def test_show(root: str) -> None:
    job_id = Archive(root).jobs(program_id="estimator")[0].job_id()
    done = qserial_cmd("archive", "show", root, job_id)
    assert done.returncode == 0, done.stderr
    for text in (job_id, "estimator", "fake_quito", "2025-03-31", "crn:b", "parquet 1.",
                 "1.5 s"):
        assert text in done.stdout
    as_json = json.loads(qserial_cmd("archive", "show", root, job_id, "--json").stdout)
    assert as_json["header"]["format"] == "parquet" and as_json["job_id"] == job_id


def test_export_then_reindex(root: str, tmp_path: Path) -> None:
    done = qserial_cmd("archive", "export", root, str(tmp_path / "shots"),
                       "--program-id", "sampler", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4 files written, 0 already there"
    again = qserial_cmd("archive", "reindex", root)
    assert again.returncode == 0 and again.stdout.strip() == "0 index entries changed; 7 jobs"
    import shutil

    shutil.copytree(Path(root) / "jobs", tmp_path / "files-only" / "jobs")  # no index
    rebuilt = qserial_cmd("archive", "reindex", str(tmp_path / "files-only"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == "7 index entries changed; 7 jobs"


def test_errors_are_one_line_with_exit_status(root: str, tmp_path: Path) -> None:
    missing = qserial_cmd("archive", "ls", str(tmp_path / "none"))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "no archive at" in missing.stderr
    assert not (tmp_path / "none").exists()
    unknown = qserial_cmd("archive", "show", root, "no-such-job")
    assert unknown.returncode == 1 and "no job id starts with 'no-such-job'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad_date = qserial_cmd("archive", "ls", root, "--created-after", "last week")
    assert bad_date.returncode == 2 and "ISO 8601" in bad_date.stderr
    bad_service = qserial_cmd("archive", "sync", str(tmp_path / "new"), "--service", "nocolon")
    assert bad_service.returncode == 2 and "MODULE:NAME" in bad_service.stderr


def test_every_archive_command_has_help_with_examples() -> None:
    for command in ("sync", "ls", "show", "export", "reindex"):
        done = qserial_cmd("archive", command, "--help")
        assert done.returncode == 0 and "Examples:" in done.stdout, command
