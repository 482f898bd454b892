"""ArchivedJob: an archived job that answers like qiskit-ibm-runtime's RuntimeJobV2."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ._files import load_file, read_file_header
from ._index import FINAL_STATUSES
from ._storage import LocalStorage, RemoteStorage

__all__ = ["ArchivedJob", "ArchivedBackend"]


@dataclass(frozen=True)
class ArchivedBackend:
    """The backend a job ran on, by name (``job.backend().name``, as with a real job)."""

    name: str | None

    def __str__(self) -> str:
        return str(self.name)


class ArchivedJob:
    """A job kept in an :class:`~qserial.Archive`, with RuntimeJobV2's read-only API.

    Everything but :meth:`result` comes from the index; :meth:`result` reads the file
    when called (only the pubs asked for, with a format that reads parts).
    """

    __slots__ = ("_row", "_storage")

    def __init__(self, storage: LocalStorage | RemoteStorage, row: dict[str, Any]) -> None:
        self._storage = storage  # the archive's: where the row's path is
        self._row = row

    def job_id(self) -> str:
        """The job's id."""
        return self._row["job_id"]

    def backend(self) -> ArchivedBackend:
        """The backend the job ran on; its ``name`` is the backend's name."""
        return ArchivedBackend(self._row["backend"])

    @property
    def creation_date(self) -> dt.datetime | None:
        """Job creation date in local time, as RuntimeJobV2 gives it."""
        created = self._row["created"]
        if created is None:
            return None
        return dt.datetime.fromtimestamp(created, dt.timezone.utc).astimezone()

    @property
    def tags(self) -> list[str]:
        """Tags of the job."""
        return list(json.loads(self._row["tags"]))

    @property
    def primitive_id(self) -> str | None:
        """The primitive (program id), e.g. ``"sampler"``."""
        return self._row["program_id"]

    @property
    def session_id(self) -> str | None:
        """The session the job ran in, if any."""
        return self._row["session_id"]

    @property
    def instance(self) -> str | None:
        """The IBM Cloud instance the job ran in, if known."""
        return self._row["instance"]

    def status(self) -> str | None:
        """The job's status when archived: ``"DONE"``, ``"ERROR"``, ``"CANCELLED"``, ..."""
        return self._row["status"]

    def done(self) -> bool:
        """Whether the job ran successfully."""
        return self.status() == "DONE"

    def errored(self) -> bool:
        """Whether the job failed."""
        return self.status() == "ERROR"

    def cancelled(self) -> bool:
        """Whether the job was cancelled."""
        return self.status() == "CANCELLED"

    def running(self) -> bool:
        """Whether the job was running when archived."""
        return self.status() == "RUNNING"

    def in_final_state(self) -> bool:
        """Whether the job had finished (done, failed or cancelled) when archived."""
        return self.status() in FINAL_STATUSES

    def usage(self) -> float | None:
        """Usage in seconds as the job reported it, if it did."""
        return self.provenance.get("usage")

    def metrics(self) -> dict[str, Any]:
        """The job's metrics as reported when archived (``{}`` if none)."""
        return self.provenance.get("metrics") or {}

    @property
    def provenance(self) -> dict[str, Any]:
        """The provenance stored with the result (see :func:`qserial.provenance`)."""
        return json.loads(self._row["provenance"])

    @property
    def labels(self) -> dict[str, Any]:
        """The labels given to :meth:`qserial.Archive.save`."""
        return json.loads(self._row["labels"])

    @property
    def path(self) -> str:
        """The file holding the result: a local path or a URL."""
        return self._storage.url(self._row["path"])

    def file_exists(self) -> bool:
        """Whether the job's file is still there (files deleted by hand leave their index
        entry behind until ``reindex(prune=True)``)."""
        return self._storage.exists(self._row["path"])

    @property
    def format(self) -> str:
        """The file's format name."""
        return self._row["format"]

    @property
    def size(self) -> int | None:
        """The file's size in bytes."""
        return self._row["size"]

    def result(self, pubs: list[int] | None = None, *, strict: bool = True) -> Any:
        """Load the result from the archive.

        Parameters
        ----------
        pubs
            Indices of the pubs to read; formats that support it read only those.
        strict
            As in :func:`qserial.load`.
        """
        return load_file(self._storage, self._row["path"], self._row["format"], pubs=pubs,
                         strict=strict)

    def header(self) -> dict[str, Any]:
        """The file's header, read without the data (see :func:`qserial.read_header`)."""
        return read_file_header(self._storage, self._row["path"], self._row["format"])

    def to_dict(self) -> dict[str, Any]:
        """The job's index entry as plain JSON data."""
        when = self.creation_date
        return {
            "job_id": self.job_id(), "backend": self._row["backend"],
            "program_id": self.primitive_id, "creation_date": when and when.isoformat(),
            "status": self.status(), "tags": self.tags, "session_id": self.session_id,
            "instance": self.instance, "labels": self.labels, "path": self.path,
            "format": self.format, "size": self.size, "provenance": self.provenance,
        }

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ArchivedJob) and other._storage is self._storage
                and other._row["job_id"] == self._row["job_id"])

    def __hash__(self) -> int:
        return hash(self._row["job_id"])

    def __repr__(self) -> str:
        return f"<ArchivedJob({self._row['job_id']!r}, {self._row['program_id']!r})>"
