"""The :class:`Archive`: one file per job plus a SQLite index, locally or on object storage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from ..api import _manifest_option, load
from ..codec import to_tree
from ..errors import QSerialError, UnsupportedFeatureError
from ..formats import Format, format_for_suffix, get_format, list_formats
from ..provenance import PROVENANCE_KEYS, is_job, iso_utc, job_provenance, to_datetime
from ._index import Index
from ._jobs import ArchivedJob
from ._storage import is_url, open_storage, url_cache_dir

__all__ = ["Archive", "JobNotFoundError"]

INDEX_NAME = "index.sqlite"
JOBS = "jobs"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class JobNotFoundError(QSerialError, LookupError):
    """No job with that id is in the archive."""


def default_format() -> str:
    """Parquet when qserial-parquet is installed, else JSON.

    Parquet files carry a digest of everything (damage is detected, not loaded), read
    single pubs without the rest, and are tables DuckDB reads as they are; JSON ships
    with qserial and RuntimeDecoder reads it.
    """
    return "parquet" if "parquet" in list_formats() else "json"


def file_name(job_id: str) -> str:
    """A job's file name (without suffix).

    Job ids come from a service: anything that is not a plain name is hashed, so no
    id can climb out of the folder or clash with a temporary file's name.
    """
    if _SAFE_ID.fullmatch(job_id):
        return job_id
    return "id-" + hashlib.sha256(job_id.encode()).hexdigest()[:32]


def _job_path(job_id: str, created: dt.datetime, suffix: str) -> str:
    created = created.astimezone(dt.timezone.utc)
    return f"{JOBS}/{created:%Y}/{created:%m}/{file_name(job_id)}{suffix}"


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
        if not self._storage.is_local:
            self.reindex()

    # -- basics ------------------------------------------------------------------------

    @staticmethod
    def exists(root: str | os.PathLike[str]) -> bool:
        """Whether opening ``root`` finds an archive rather than starting a new one.

        True for a local folder holding an index, and for any URL: a remote archive's
        index is rebuilt from its files on opening.
        """
        root = os.fspath(root)
        return is_url(root) or os.path.isfile(os.path.join(root, INDEX_NAME))

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

    def _store(self, result: Any, prov: dict[str, Any], labels: dict[str, Any],
               rel: str | None = None) -> ArchivedJob:
        created = to_datetime(prov.get("creation_date"))
        if created is None:
            created = dt.datetime.now(dt.timezone.utc)
            prov["creation_date"] = created.isoformat()
        if rel is None:
            rel = _job_path(prov["job_id"], created, self._format.suffixes[0])
        manifest = {"provenance": prov, "labels": labels}
        fmt = self._format
        options = _manifest_option(fmt, manifest)  # checks the labels are JSON before writing
        tree = to_tree(result)
        size = self._storage.write(rel, lambda path: fmt.dump_path(tree, path, **options))
        # The row goes in only once the file is durable: an index row always has its file.
        row = self._row(prov, labels, rel, fmt.name, size)
        self._index.put(row, prov.get("tags") or [])
        return ArchivedJob(self, row)

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
        return ArchivedJob(self, row)

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
        return [ArchivedJob(self, row) for row in rows]

    def _load(self, row: dict[str, Any], *, pubs: list[int] | None, strict: bool) -> Any:
        local = self._storage.local_path(row["path"])
        if local is not None:
            return load(local, format=row["format"], pubs=pubs, strict=strict)
        with self._storage.open(row["path"]) as stream:
            return load(stream, format=row["format"], pubs=pubs, strict=strict)

    def _read_header(self, rel: str, fmt: str | Format) -> dict[str, Any]:
        fmt = get_format(fmt)
        local = self._storage.local_path(rel)
        if local is not None:
            return fmt.read_header_path(local)
        with self._storage.open(rel) as stream:
            return fmt.read_header(stream)

    # -- sync, export, reindex ---------------------------------------------------------

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
    ) -> Any:
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
        from ._sync import run_sync

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
    ) -> Any:
        """Write the shots of archived jobs as a Parquet dataset partitioned by backend and month.

        One file per job, ``dest/backend=<name>/month=<YYYY-MM>/<job id>.parquet``,
        one row per shot and register: ``job_id``, ``created`` (UTC timestamp),
        ``pub``, ``param`` (flat index into the pub's parameter sweep), ``shot``,
        ``register``, ``bitstring`` (as ``BitArray.get_counts()`` keys it). DuckDB,
        Spark or Dask read the folder directly (``hive_partitioning``). Files already
        there are kept, so running it again exports only new jobs. Jobs without
        shots (estimator results) give an empty file.

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
        from ._export import export_shots

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
                fmt = format_for_suffix(rel.rpartition("/")[2])
                header = self._read_header(rel, fmt)
            except (QSerialError, OSError):
                continue  # not a qserial file, or a format that is not installed
            manifest = header.get("manifest")
            prov = manifest.get("provenance") if isinstance(manifest, dict) else None
            if not isinstance(prov, dict) or not isinstance(prov.get("job_id"), str):
                continue
            labels = manifest.get("labels")
            labels = labels if isinstance(labels, dict) else {}
            rows.append((self._row(prov, labels, rel, fmt.name, self._storage.size(rel)),
                         [str(t) for t in prov.get("tags") or []]))
        self._index.put_many(rows)
        changed = len(rows)
        if prune:
            present = set(files)
            for rel, job_id in known.items():
                if rel not in present:
                    self._index.remove(job_id)
                    changed += 1
        return changed
