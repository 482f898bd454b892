"""A local (or object-storage) archive of job results that answers like QiskitRuntimeService.

>>> import tempfile, qserial
>>> archive = qserial.Archive(tempfile.mkdtemp(), format="json")
>>> len(archive)
0

See :class:`Archive` and docs/archive.md.
"""

from __future__ import annotations

from ._archive import AmbiguousJobError, Archive, JobNotFoundError
from ._export import BITSTRING_SQL, ExportReport
from ._jobs import ArchivedBackend, ArchivedJob
from ._sync import SyncReport

__all__ = [
    "Archive",
    "ArchivedJob",
    "ArchivedBackend",
    "JobNotFoundError",
    "AmbiguousJobError",
    "SyncReport",
    "ExportReport",
    "BITSTRING_SQL",
]
