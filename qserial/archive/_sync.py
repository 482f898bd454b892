"""``Archive.sync``: copy finished jobs from a QiskitRuntimeService-like object.

For each listed job: skip it if indexed; claim it in the index (another live process
may hold it: then skip it too); if its file is already there (a run killed between
writing the file and indexing it), index that file from its manifest; else fetch the
result, write the file atomically, and only then insert the index row. So a killed
run leaves no half-written file and no row without its file, and the next run
fetches exactly the jobs that are missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._provenance import status_name, to_datetime
from ._jobs import ArchivedJob
from ._progress import ProgressBar

__all__ = ["SyncReport", "SyncTarget", "run_sync"]


@dataclass
class SyncReport:
    """What :meth:`qserial.Archive.sync` did, job by job (lists of job ids)."""

    listed: int = 0
    fetched: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no job failed."""
        return not self.failed

    def __str__(self) -> str:
        parts = [f"{self.listed} listed", f"{len(self.fetched)} fetched",
                 f"{len(self.already)} already archived"]
        for n, what in ((len(self.adopted), "indexed from files already written"),
                        (len(self.busy), "taken by another process"),
                        (len(self.not_done), "not done"), (len(self.failed), "failed")):
            if n:
                parts.append(f"{n} {what}")
        return ", ".join(parts)


class SyncTarget(Protocol):
    """What sync needs of an archive: :class:`qserial.Archive`'s public methods."""

    def __contains__(self, job_id: object) -> bool: ...

    def claim(self, job_id: str, timeout: float = ...) -> str: ...

    def release(self, job_id: str) -> None: ...

    def path_for(self, job_id: str, created: dt.datetime) -> str: ...

    def index_file(self, rel: str, *, job_id: str | None = None) -> ArchivedJob | None: ...

    def save(self, job_or_result: Any, **labels: Any) -> ArchivedJob: ...


def run_sync(archive: SyncTarget, service: Any, filters: dict[str, Any], *,
             progress: bool | None, claim_timeout: float) -> SyncReport:
    """Sync ``archive`` from ``service`` (see :meth:`qserial.Archive.sync`)."""
    report = SyncReport()
    listed = list(service.jobs(**filters))
    report.listed = len(listed)
    with ProgressBar(progress, len(listed), "archiving jobs") as advance:
        for job in listed:
            job_id = str(job.job_id())
            try:
                if job_id in archive:
                    report.already.append(job_id)
                    continue
                status = status_name(_status(job))
                if status != "DONE":
                    report.not_done.append(job_id)
                    continue
                claim = archive.claim(job_id, claim_timeout)
                if claim != "ok":
                    (report.already if claim == "archived" else report.busy).append(job_id)
                    continue
                created = to_datetime(getattr(job, "creation_date", None))
                try:
                    # A file a killed run wrote but did not index: index it, fetch nothing.
                    if (created is not None and archive.index_file(
                            archive.path_for(job_id, created), job_id=job_id) is not None):
                        report.adopted.append(job_id)
                        continue
                    archive.save(job)  # fetches the result; indexed once the file is durable
                    report.fetched.append(job_id)
                except BaseException:
                    archive.release(job_id)
                    raise
            except Exception as exc:  # one bad job (e.g. IBMRuntimeError) must not stop the rest
                report.failed[job_id] = f"{type(exc).__name__}: {exc}"
            finally:
                advance()
    return report


def _status(job: Any) -> Any:
    status = getattr(job, "status", None)
    return status() if callable(status) else status
