"""Where an archive keeps things: its index file, its jobs folder, each job's file name."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

__all__ = ["INDEX_NAME", "JOBS", "file_name", "job_path"]

INDEX_NAME = "index.sqlite"
JOBS = "jobs"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def file_name(job_id: str) -> str:
    """A job's file name (without suffix).

    Job ids come from a service: anything that is not a plain name is hashed, so no
    id can climb out of the folder or clash with a temporary file's name.
    """
    if _SAFE_ID.fullmatch(job_id):
        return job_id
    return "id-" + hashlib.sha256(job_id.encode()).hexdigest()[:32]


def job_path(job_id: str, created: dt.datetime, suffix: str) -> str:
    """``jobs/<YYYY>/<MM>/<file name><suffix>``: the job's creation month, in UTC."""
    created = created.astimezone(dt.timezone.utc)
    return f"{JOBS}/{created:%Y}/{created:%m}/{file_name(job_id)}{suffix}"
