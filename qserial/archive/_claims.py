"""Claims of jobs kept in the object store, so that two machines never both fetch a job.

The index's claims (:meth:`Index.claim`) are per machine: each machine has its own
index of a remote archive. Where the store can create an object only if it is absent
(S3's ``PutObject`` with ``If-None-Match: *``), a sync also claims each job with an
object ``claims/<job file name>``: exactly one machine's create succeeds. The object
says who holds it (host, pid, a token of the :class:`~qserial.Archive` object) and
since when; it is deleted once the job's file is written and indexed, or the fetch has
failed. A claim older than the timeout, or of a process gone from this host, is taken
over with ``If-Match`` on the object's ETag, so that of two machines taking over the
same stale claim only one succeeds.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any

from .._atomic import process_exists
from ._layout import file_name
from ._storage import RemoteStorage

__all__ = ["CLAIMS", "StoreClaims", "conditional_writes"]

CLAIMS = "claims"
# File systems whose PUT honours If-None-Match: * (s3fs passes it as mode="create").
_CONDITIONAL = frozenset({"s3", "s3a"})


def conditional_writes(storage: Any) -> bool:
    """Whether ``storage`` is an object store where qserial creates objects only if absent."""
    if not isinstance(storage, RemoteStorage):
        return False
    protocols = storage.fs.protocol
    protocols = protocols if isinstance(protocols, tuple) else (protocols,)
    return bool(_CONDITIONAL.intersection(protocols))


class StoreClaims:
    """Claims held as objects under ``<root>/claims/`` of an S3 archive."""

    def __init__(self, storage: RemoteStorage) -> None:
        self.storage = storage
        self.token = uuid.uuid4().hex  # this Archive object: another one is another holder
        self.held: set[str] = set()

    def _path(self, job_id: str) -> str:
        return self.storage.full(f"{CLAIMS}/{file_name(job_id)}")

    def _body(self, job_id: str) -> bytes:
        return json.dumps({"job_id": job_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "at": time.time()}).encode()

    def claim(self, job_id: str, timeout: float) -> bool:
        """Claim ``job_id`` in the store; False if another live holder has it."""
        fs, path = self.storage.fs, self._path(job_id)
        for _ in range(3):  # a claim released between our create and our read: try again
            try:
                fs.pipe_file(path, self._body(job_id), mode="create")
            except FileExistsError:
                pass
            else:
                self.held.add(job_id)
                return True
            try:
                etag = fs.info(path, refresh=True)["ETag"]
                held = _parse(fs.cat_file(path))
            except FileNotFoundError:
                continue
            if held.get("token") == self.token:
                self.held.add(job_id)
                return True
            if not _stale(held, timeout):
                return False
            try:  # replace the stale claim only if nobody replaced it since we read it
                fs.pipe_file(path, self._body(job_id), IfMatch=etag)
            except OSError:  # 412 Precondition Failed: another machine took it over first
                return False
            self.held.add(job_id)
            return True
        return False

    def release(self, job_id: str) -> None:
        """Delete this holder's claim of ``job_id`` (after indexing it, or a failure)."""
        if job_id not in self.held:
            return
        self.held.discard(job_id)
        fs, path = self.storage.fs, self._path(job_id)
        try:
            if _parse(fs.cat_file(path)).get("token") == self.token:
                fs.rm_file(path)
        except FileNotFoundError:
            pass


def _parse(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _stale(held: dict[str, Any], timeout: float) -> bool:
    at = held.get("at")
    if not isinstance(at, (int, float)) or time.time() - at >= timeout:
        return True  # unreadable, or older than the timeout
    pid = held.get("pid")
    return held.get("host") == socket.gethostname() and isinstance(pid, int) \
        and not process_exists(pid)
