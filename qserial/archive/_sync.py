"""``Archive.sync``: copy finished jobs from a QiskitRuntimeService-like object.

For each listed job: skip it if indexed; claim it in the index (another live process
may hold it: then skip it too); if its file is already there (a run killed between
writing the file and indexing it), index that file from its manifest; else fetch the
result, write the file atomically, and only then insert the index row. So a killed
run leaves no half-written file and no row without its file, and the next run
fetches exactly the jobs that are missing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import QSerialError
from ..provenance import job_provenance, status_name, to_datetime

if TYPE_CHECKING:
    from ._archive import Archive

__all__ = ["SyncReport", "run_sync"]


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


def run_sync(archive: Archive, service: Any, filters: dict[str, Any], *,
             progress: bool | None, claim_timeout: float) -> SyncReport:
    from ._archive import _job_path

    report = SyncReport()
    storage, index = archive._storage, archive._index
    storage.remove_stale_temps("jobs")
    listed = list(service.jobs(**filters))
    report.listed = len(listed)
    suffix = archive._format.suffixes[0]
    with _progress(progress, len(listed)) as advance:
        for job in listed:
            job_id = str(job.job_id())
            try:
                if index.has(job_id):
                    report.already.append(job_id)
                    continue
                status = status_name(_status(job))
                if status != "DONE":
                    report.not_done.append(job_id)
                    continue
                claim = index.claim(job_id, claim_timeout)
                if claim != "ok":
                    (report.already if claim == "archived" else report.busy).append(job_id)
                    continue
                created = to_datetime(getattr(job, "creation_date", None))
                rel = None if created is None else _job_path(job_id, created, suffix)
                try:
                    if rel is not None and _adopt(archive, rel, job_id):
                        report.adopted.append(job_id)
                        continue
                    result = job.result()
                    archive._store(result, job_provenance(job), {}, rel)
                    report.fetched.append(job_id)
                except BaseException:
                    index.release(job_id)
                    raise
            except Exception as exc:  # one bad job (e.g. IBMRuntimeError) must not stop the rest
                report.failed[job_id] = f"{type(exc).__name__}: {exc}"
            finally:
                advance()
    return report


def _status(job: Any) -> Any:
    status = getattr(job, "status", None)
    return status() if callable(status) else status


def _adopt(archive: Archive, rel: str, job_id: str) -> bool:
    """Index a file a killed run wrote but did not index, if it is that job's."""
    if not archive._storage.exists(rel):
        return False
    try:
        header = archive._read_header(rel, archive._format)
    except QSerialError:
        return False  # damaged or foreign: fetch again and replace it
    manifest = header.get("manifest")
    prov = manifest.get("provenance") if isinstance(manifest, dict) else None
    if not isinstance(prov, dict) or prov.get("job_id") != job_id:
        return False
    labels = manifest.get("labels") if isinstance(manifest.get("labels"), dict) else {}
    row = archive._row(prov, labels, rel, archive._format.name, archive._storage.size(rel))
    archive._index.put(row, [str(t) for t in prov.get("tags") or []])
    return True


class _progress:
    """A rich progress bar on stderr (only on a terminal unless asked), as a callable."""

    def __init__(self, enabled: bool | None, total: int) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True))
        self.bar.start()
        task = self.bar.add_task("archiving jobs", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
