"""The :class:`Archive`: one file per job plus a SQLite index, locally or on object storage."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

from .._provenance import PROVENANCE_KEYS, is_job, iso_utc, job_provenance, to_datetime
from ..api import _manifest_option
from ..codec import to_tree
from ..errors import QSerialError, UnsupportedFeatureError
from ..formats import Format, format_for_suffix, get_format, list_formats
from ._claims import StoreClaims, conditional_writes
from ._export import ExportReport, export_shots
from ._files import read_file_header
from ._index import Index
from ._jobs import ArchivedJob
from ._layout import INDEX_NAME, JOBS, job_path
from ._storage import is_url, open_storage, url_cache_dir
from ._sync import SyncReport, run_sync

__all__ = ["Archive", "JobNotFoundError", "AmbiguousJobError"]


class JobNotFoundError(QSerialError, LookupError):
    """No job with that id is in the archive."""


class AmbiguousJobError(QSerialError, LookupError):
    """Several archived jobs have ids starting with the prefix given."""


def default_format() -> str:
    """Parquet when qserial-parquet is installed, else JSON.

    Parquet files carry a digest of everything (damage is detected, not loaded), read
    single pubs without the rest, and are tables DuckDB reads as they are; JSON ships
    with qserial and RuntimeDecoder reads it.
    """
    return "parquet" if "parquet" in list_formats() else "json"


def _epoch(value: Any, what: str) -> float | None:
    if value is None:
        return None
    when = to_datetime(value)
    if when is None:
        raise ValueError(f"{what} must be a datetime (naive means local time), not {value!r}")
    return when.timestamp()


class Archive:
    """Results kept as one file per job, with an index answering ``jobs()`` queries.

    Parameters
    ----------
    root
        A local folder, or an fsspec URL such as ``s3://bucket/prefix`` (needs
        ``pip install 'qserial[s3]'``).
    format
        Format of new files. By default the one the archive was created with, and for
        a new archive Parquet when qserial-parquet is installed, else JSON. It must
        store manifests (``supports_manifest``).
    index
        Path of the SQLite index. By default ``<root>/index.sqlite`` for a local
        folder; for a URL a local cache file (under ``$QSERIAL_CACHE_DIR`` or
        ``~/.cache/qserial``), which is refreshed from the files' headers on opening.
    storage_options
        Passed to fsspec for a URL (credentials, ``endpoint_url``, ...).
    claims_in_store
        Whether :meth:`sync` also claims each job with an object in the store, created
        only if absent, so that two machines syncing one bucket never both fetch a
        job. By default on S3 (``PutObject`` with ``If-None-Match``); pass ``False``
        for an S3-compatible store that does not support conditional writes.

    Examples
    --------
    >>> import tempfile, qserial
    >>> archive = qserial.Archive(tempfile.mkdtemp(), format="json")
    >>> saved = archive.save(complex(0, 1), experiment="demo")
    >>> [job.labels for job in archive.jobs()]
    [{'experiment': 'demo'}]
    >>> archive.job(saved.job_id()).result()
    1j
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        format: str | Format | type[Format] | None = None,
        index: str | os.PathLike[str] | None = None,
        storage_options: dict[str, Any] | None = None,
        claims_in_store: bool | None = None,
    ) -> None:
        self.root = os.fspath(root)
        self._storage = open_storage(self.root, storage_options)
        if index is None:
            folder = (url_cache_dir(self.root) if is_url(self.root)
                      else self._storage.root)  # type: ignore[union-attr]
            index = os.path.join(folder, INDEX_NAME)
        self._index = Index(os.fspath(index))
        chosen = get_format(format if format is not None else
                            self._index.get_meta("format") or default_format())
        if not chosen.supports_manifest:
            raise UnsupportedFeatureError(
                f"format {chosen.name!r} cannot store a manifest, which an archive needs "
                f"for each job's provenance; choose one that can (json, parquet)")
        self._index.set_meta_default("format", chosen.name)
        self._format = chosen
        able = conditional_writes(self._storage)
        if claims_in_store and not able:
            raise ValueError(f"{self.root} is not on a store where qserial can create an "
                             "object only if it is absent (S3): claims_in_store=True is "
                             "not possible")
        self._claims = (StoreClaims(self._storage)  # type: ignore[arg-type]
                        if able and claims_in_store is not False else None)
        if not self._storage.is_local:
            self.reindex()

    # -- basics ------------------------------------------------------------------------

    @staticmethod
    def exists(root: str | os.PathLike[str]) -> bool:
        """Whether opening ``root`` finds an archive rather than starting a new one.

        True for a local folder holding an index or job files under ``jobs/`` (which
        :meth:`reindex` indexes), and for any URL: a remote archive's index is rebuilt
        from its files on opening. Nothing is created.
        """
        root = os.fspath(root)
        if is_url(root):
            return True
        folder = root.removeprefix("file://")
        if os.path.isfile(os.path.join(folder, INDEX_NAME)):
            return True
        return any(not name.startswith(".")
                   for _, _, names in os.walk(os.path.join(folder, JOBS)) for name in names)

    @property
    def format(self) -> str:
        """Name of the format new files are written in."""
        return self._format.name

    @property
    def index_path(self) -> str:
        """Path of the SQLite index file."""
        return self._index.path

    def close(self) -> None:
        """Close the index."""
        self._index.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return self._index.count()

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and self._index.has(job_id)

    def __repr__(self) -> str:
        return f"<qserial.Archive {self.root!r}: {len(self)} jobs, format {self.format!r}>"

    # -- writing -----------------------------------------------------------------------

    def save(self, job_or_result: Any, **labels: Any) -> ArchivedJob:
        """Archive a job's result with its provenance, or a bare result.

        Parameters
        ----------
        job_or_result
            A job (``RuntimeJobV2``, a local testing mode job, anything with callable
            ``result()`` and ``job_id()``): its result is fetched and stored with its
            provenance. Or a result, which gets a new id ``local-<hex>`` and the
            current time as creation date.
        **labels
            JSON-able values kept with the job (:attr:`ArchivedJob.labels`).

        Returns
        -------
        ArchivedJob
            The archived job. Saving a job id again replaces its file and entry.
        """
        if is_job(job_or_result):
            result = job_or_result.result()
            prov = job_provenance(job_or_result)
        else:
            result = job_or_result
            prov = dict.fromkeys(PROVENANCE_KEYS)
            prov.update(job_id=f"local-{uuid.uuid4().hex}", status="DONE", tags=[],
                        creation_date=iso_utc(dt.datetime.now(dt.timezone.utc)))
        if not prov.get("job_id"):
            prov["job_id"] = f"local-{uuid.uuid4().hex}"
        return self._store(result, prov, labels)

    def _store(self, result: Any, prov: dict[str, Any], labels: dict[str, Any]) -> ArchivedJob:
        created = to_datetime(prov.get("creation_date"))
        if created is None:
            created = dt.datetime.now(dt.timezone.utc)
            prov["creation_date"] = created.isoformat()
        rel = self.path_for(prov["job_id"], created)
        manifest = {"provenance": prov, "labels": labels}
        fmt = self._format
        options = _manifest_option(fmt, manifest)  # checks the labels are JSON before writing
        tree = to_tree(result)
        size = self._storage.write(rel, lambda path: fmt.dump_path(tree, path, **options))
        # The row goes in only once the file is durable: an index row always has its file.
        row = self._row(prov, labels, rel, fmt.name, size)
        self._index.put(row, prov.get("tags") or [])
        self._drop_store_claim(row["job_id"])
        return ArchivedJob(self._storage, row)

    def path_for(self, job_id: str, created: dt.datetime) -> str:
        """Where the archive puts a job's file, relative to its root.

        ``jobs/<YYYY>/<MM>/<job id><suffix>``: the creation month in UTC and the
        suffix of the archive's format; an id that is not a plain name is hashed.
        """
        return job_path(job_id, created, self._format.suffixes[0])

    def index_file(self, rel: str, *, job_id: str | None = None) -> ArchivedJob | None:
        """Index a file already in the archive, from the provenance in its manifest.

        For a file written without its index row (a sync killed in between, files
        copied in by hand). Its format is the one its suffix names.

        Parameters
        ----------
        rel
            The file's path relative to the archive's root, ``/``-separated.
        job_id
            Index it only if the file is this job's.

        Returns
        -------
        ArchivedJob or None
            The job indexed; ``None`` if there is no such file, it is not a qserial
            file with a job's provenance (or of a format not installed), or it is
            another job's.
        """
        if not self._storage.exists(rel):
            return None
        entry = self._entry(rel, job_id)
        if entry is None:
            return None
        self._index.put(*entry)
        self._drop_store_claim(entry[0]["job_id"])
        return ArchivedJob(self._storage, entry[0])

    def _entry(self, rel: str, job_id: str | None = None
               ) -> tuple[dict[str, Any], list[str]] | None:
        """The index row and tags of the file ``rel``, from its manifest (None: not a job's)."""
        try:
            fmt = format_for_suffix(rel.rpartition("/")[2])
            header = read_file_header(self._storage, rel, fmt)
        except QSerialError:
            return None  # not a qserial file, damaged, or a format that is not installed
        manifest = header.get("manifest")
        prov = manifest.get("provenance") if isinstance(manifest, dict) else None
        if not isinstance(prov, dict) or not isinstance(prov.get("job_id"), str):
            return None
        if job_id is not None and prov["job_id"] != job_id:
            return None
        labels = manifest.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        return (self._row(prov, labels, rel, fmt.name, self._storage.size(rel)),
                [str(t) for t in prov.get("tags") or []])

    @staticmethod
    def _row(prov: dict[str, Any], labels: dict[str, Any], rel: str, fmt: str,
             size: int | None) -> dict[str, Any]:
        created = to_datetime(prov.get("creation_date"))
        return {
            "job_id": prov["job_id"], "backend": prov.get("backend"),
            "program_id": prov.get("program_id"), "instance": prov.get("instance"),
            "session_id": prov.get("session_id"), "status": prov.get("status"),
            "created": None if created is None else created.timestamp(),
            "tags": json.dumps(prov.get("tags") or []), "path": rel, "format": fmt,
            "size": size, "provenance": json.dumps(prov), "labels": json.dumps(labels or {}),
            "archived": time.time(),
        }

    # -- reading -----------------------------------------------------------------------

    def job(self, job_id: str) -> ArchivedJob:
        """Return the archived job with id ``job_id``.

        Raises
        ------
        JobNotFoundError
            If the archive holds no such job.
        """
        row = self._index.get(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} in the archive {self.root}")
        return ArchivedJob(self._storage, row)

    def find_job(self, prefix: str) -> ArchivedJob:
        """Return the job whose id is ``prefix``, or else the only one starting with it.

        Raises
        ------
        JobNotFoundError
            If no job id starts with ``prefix``.
        AmbiguousJobError
            If several do (the message names a few).
        """
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"a job id prefix must be a non-empty string, not {prefix!r}")
        row = self._index.get(prefix)
        if row is None:
            rows = self._index.with_prefix(prefix, limit=6)
            if not rows:
                raise JobNotFoundError(f"no job id starts with {prefix!r} in the archive "
                                       f"{self.root}")
            if len(rows) > 1:
                names = ", ".join(r["job_id"] for r in rows[:5])
                more = ", ..." if len(rows) > 5 else ""
                raise AmbiguousJobError(f"several job ids start with {prefix!r} in the "
                                        f"archive {self.root}: {names}{more}")
            row = rows[0]
        return ArchivedJob(self._storage, row)

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: list[str] | None = None,
        session_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
    ) -> list[ArchivedJob]:
        """Return archived jobs, with the filters of ``QiskitRuntimeService.jobs``.

        Parameters
        ----------
        limit
            Number of jobs to return; ``None`` means no limit.
        skip
            Number of matching jobs to pass over first.
        backend_name
            Only jobs that ran on this backend.
        pending
            ``True``: only jobs archived while queued or running; ``False``: only
            finished ones (done, cancelled, failed); ``None``: both.
        program_id
            Only jobs of this primitive (``"sampler"``, ``"estimator"``).
        instance
            Only jobs of this IBM Cloud instance.
        job_tags
            Only jobs that have all these tags.
        session_id
            Only jobs of this session.
        created_after, created_before
            Only jobs created at or after / at or before this time (naive means
            local time).
        descending
            Newest first (default), else oldest first.
        include_mocks
            Accepted for the same signature as the service; the archive returns
            whatever was saved in it.

        Returns
        -------
        list of ArchivedJob
        """
        del include_mocks  # the service's own mock backends never reach an archive
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, not {limit!r}")
        if not isinstance(skip, int) or skip < 0:
            raise ValueError(f"skip must be a non-negative int, not {skip!r}")
        if isinstance(job_tags, str):
            raise ValueError("job_tags must be a list of tags, not a string")
        rows = self._index.query(
            limit=limit, skip=skip, backend_name=backend_name, pending=pending,
            program_id=program_id, instance=instance, job_tags=job_tags,
            session_id=session_id, created_after=_epoch(created_after, "created_after"),
            created_before=_epoch(created_before, "created_before"), descending=descending)
        return [ArchivedJob(self._storage, row) for row in rows]

    # -- sync, export, reindex ---------------------------------------------------------

    def claim(self, job_id: str, timeout: float = 3600.0) -> str:
        """Claim ``job_id`` before fetching it, so that no other sync fetches it too.

        Returns
        -------
        str
            ``"ok"`` (claimed: fetch it, then :meth:`save` it, which drops the claim,
            or :meth:`release` it), ``"archived"`` (already in the archive) or
            ``"busy"`` (another live process claimed it less than ``timeout``
            seconds ago; a claim of a process gone from this host is taken over).
            On S3 the claim is also an object created only if absent, so that
            machines with their own indexes never both fetch a job (see
            ``claims_in_store``).
        """
        state = self._index.claim(job_id, timeout)
        if state != "ok" or self._claims is None or self._claims.claim(job_id, timeout):
            return state
        self._index.release(job_id)  # another machine holds it in the store
        return "busy"

    def release(self, job_id: str) -> None:
        """Drop this process's claim on ``job_id`` (after a failed fetch)."""
        self._index.release(job_id)
        self._drop_store_claim(job_id)

    def _drop_store_claim(self, job_id: str) -> None:
        if self._claims is not None:
            self._claims.release(job_id)

    def sync(
        self,
        service: Any,
        limit: int | None = None,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: list[str] | None = None,
        session_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
        *,
        progress: bool | None = None,
        claim_timeout: float = 3600.0,
    ) -> SyncReport:
        """Copy every finished job not yet archived from a QiskitRuntimeService.

        Lists ``service.jobs(...)`` with the given filters (as in :meth:`jobs`, but
        ``limit`` defaults to no limit and ``pending=None`` asks for finished jobs
        only), then fetches each ``DONE`` job that the archive lacks and saves it.
        Safe to interrupt and to run again: a job is indexed only after its file is
        durable, so a new run fetches exactly what is missing. Several processes may
        sync one local archive at once: each job is claimed in the index before it is
        fetched, so none is fetched twice.

        Parameters
        ----------
        service
            ``QiskitRuntimeService`` or any object with its ``jobs()`` method.
        progress
            Show a progress bar on stderr; by default only on a terminal.
        claim_timeout
            Seconds after which another process's claim on a job is ignored (it is
            ignored at once if that process is gone from this host).

        Returns
        -------
        SyncReport
            What was fetched, skipped or failed, job by job.
        """
        self._storage.remove_stale_temps(JOBS)
        filters = dict(
            limit=limit, skip=skip, backend_name=backend_name,
            pending=False if pending is None else pending, program_id=program_id,
            instance=instance, job_tags=job_tags, session_id=session_id,
            created_after=created_after, created_before=created_before,
            descending=descending, include_mocks=include_mocks)
        return run_sync(self, service, filters, progress=progress, claim_timeout=claim_timeout)

    def export_parquet(
        self,
        dest: str | os.PathLike[str],
        *,
        jobs: Iterable[ArchivedJob] | None = None,
        overwrite: bool = False,
        storage_options: dict[str, Any] | None = None,
        progress: bool | None = None,
    ) -> ExportReport:
        """Write the shots of archived jobs as a Parquet dataset partitioned by backend and month.

        One file per job, ``dest/backend=<name>/month=<YYYY-MM>/<job id>.parquet``,
        one row per shot and register: ``job_id``, ``created`` (UTC timestamp),
        ``pub``, ``param`` (flat index into the pub's parameter sweep), ``shot``,
        ``register``, ``num_bits``, ``value`` (the outcome as ``get_int_counts()``
        keys it, for registers up to 64 bits) or else ``bitstring`` (as
        ``get_counts()`` keys it; :data:`qserial.archive.BITSTRING_SQL` gives it for
        every row in DuckDB and Spark SQL). DuckDB, Spark or Dask read the folder
        directly (``hive_partitioning``). Files already there are kept, so running it
        again exports only new jobs. Jobs without shots (estimator results) give an
        empty file.

        Parameters
        ----------
        dest
            A local folder or an fsspec URL.
        jobs
            The jobs to export (e.g. ``archive.jobs(backend_name=..., limit=None)``);
            default: all.
        overwrite
            Rewrite files that exist.
        storage_options
            fsspec options for a URL ``dest``.
        progress
            Show a progress bar on stderr; by default only on a terminal.

        Returns
        -------
        ExportReport
            The files written and kept.
        """
        if jobs is None:
            jobs = self.jobs(limit=None, descending=False)
        return export_shots(list(jobs), os.fspath(dest), overwrite=overwrite,
                            storage_options=storage_options, progress=progress)

    def reindex(self, *, prune: bool = False) -> int:
        """Add to the index every job file it lacks, from the files' manifests.

        Parameters
        ----------
        prune
            Also drop index entries whose file is gone.

        Returns
        -------
        int
            Number of entries added (plus those dropped).
        """
        files = self._storage.list_files(JOBS)
        known = self._index.paths()
        rows = []
        for rel in files:
            if rel in known:
                continue
            try:
                entry = self._entry(rel)
            except OSError:
                continue
            if entry is not None:
                rows.append(entry)
        self._index.put_many(rows)
        changed = len(rows)
        if prune:
            present = set(files)
            for rel, job_id in known.items():
                if rel not in present:
                    self._index.remove(job_id)
                    changed += 1
        return changed
