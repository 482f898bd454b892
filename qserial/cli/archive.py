"""``qserial archive ...``: sync, list, show and export an archive from the terminal.

Uses :class:`qserial.Archive` through its public methods only. Commands import what
they need in their bodies so that ``qserial --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

import click

from ._common import CommandError, file_error, size_text, table_console

__all__ = ["archive"]


class _When(click.ParamType):
    """An ISO 8601 date or date-time (``2025-01-31``, ``2025-01-31T12:00+01:00``)."""

    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date (e.g. 2025-01-31 or "
                      "2025-01-31T12:00:00+00:00)", param, ctx)


def _filters(default_limit: int | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of QiskitRuntimeService.jobs' filters, passed on as ``filters``."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--limit", type=click.IntRange(min=0), default=default_limit,
                         show_default=default_limit is not None,
                         help="At most this many jobs" + ("" if default_limit else
                                                          " (default: all)") + "."),
            click.option("--skip", type=click.IntRange(min=0), default=0,
                         help="Pass over this many matching jobs first."),
            click.option("--backend", "backend_name", metavar="NAME",
                         help="Only jobs that ran on this backend."),
            click.option("--pending/--finished", default=None,
                         help="Only queued or running jobs / only finished ones."),
            click.option("--program-id", metavar="ID", help="Only jobs of this primitive."),
            click.option("--instance", metavar="CRN", help="Only jobs of this instance."),
            click.option("--tag", "job_tags", multiple=True, metavar="TAG",
                         help="Only jobs with this tag (repeatable: all must match)."),
            click.option("--session-id", metavar="ID", help="Only jobs of this session."),
            click.option("--created-after", type=_When(),
                         help="Only jobs created at or after this time."),
            click.option("--created-before", type=_When(),
                         help="Only jobs created at or before this time."),
            click.option("--ascending", is_flag=True, help="Oldest first."),
        ]
        for option in reversed(options):
            command = option(command)

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            keys = ("limit", "skip", "backend_name", "pending", "program_id", "instance",
                    "job_tags", "session_id", "created_after", "created_before")
            filters = {k: kwargs.pop(k) for k in keys}
            filters["job_tags"] = list(filters["job_tags"]) or None
            filters["descending"] = not kwargs.pop("ascending")
            return command(*args, filters=filters, **kwargs)

        return wrapper
    return decorate


def _open(root: str, format_name: str | None = None, *, create: bool = False) -> Any:
    from ..archive import Archive

    if not create and not Archive.exists(root):
        raise CommandError(f"no archive at {root} (no index, no job files under jobs/); "
                           f"create one with: qserial archive sync {root}")
    return Archive(root, format=format_name)


def _console() -> Any:
    # In a pipe rich assumes 80 columns and would squeeze the table; lines may be long.
    return table_console(pipe_width=200)


def _date(when: dt.datetime | None) -> str:
    return "-" if when is None else when.strftime("%Y-%m-%d %H:%M")


@click.group(epilog="""\b
Examples:
  qserial archive sync ~/qresults --created-after 2025-01-01
  qserial archive ls ~/qresults --backend ibm_brisbane --tag calib
  qserial archive show ~/qresults d1x9q2k3
  qserial archive export ~/qresults ~/qresults-shots
""")
def archive() -> None:
    """Keep job results in a local (or s3://) archive and query it like the service.

    ROOT is a folder, or an fsspec URL such as s3://bucket/prefix (needs
    pip install 'qserial[s3]'; credentials and endpoint as fsspec/s3fs read them,
    e.g. FSSPEC_S3_ENDPOINT_URL). See docs/archive.md.
    """


@archive.command(epilog="""\b
Examples:
  qserial archive sync ~/qresults
  qserial archive sync ~/qresults --account my-ibm --backend ibm_torino --tag calib
  qserial archive sync ~/qresults --service mypkg.services:make_service
""")
@click.argument("root")
@_filters(default_limit=None)
@click.option("--account", metavar="NAME",
              help="Saved account name for QiskitRuntimeService(name=...).")
@click.option("--channel", metavar="CHANNEL",
              help="QiskitRuntimeService(channel=...), e.g. ibm_quantum_platform.")
@click.option("--service", "service_spec", metavar="MODULE:NAME",
              help="Use this QiskitRuntimeService-like object (or factory called with no "
                   "arguments) instead, e.g. for another provider or a test double.")
@click.option("-f", "--format", "format_name", metavar="NAME",
              help="Format of new files (default: the archive's).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal).")
def sync(root: str, filters: dict[str, Any], account: str | None, channel: str | None,
         service_spec: str | None, format_name: str | None, progress: bool | None) -> None:
    """Copy every finished job not yet archived from IBM Quantum into ROOT.

    Lists jobs with the filters given, fetches each DONE job the archive lacks and
    stores it with its provenance. Interrupt it at any time and run it again: it
    fetches only what is missing. Exits with status 1 if any job failed.
    """
    service = _service(service_spec, account, channel, filters.get("instance"))
    with _open(root, format_name, create=True) as store:
        report = store.sync(service, **filters, progress=progress)
    for job_id, message in report.failed.items():
        click.echo(f"{job_id}: {' '.join(message.split())}", err=True)
    click.echo(str(report))
    if report.failed:
        raise CommandError(f"{len(report.failed)} of {report.listed} jobs failed")


def _service(spec: str | None, account: str | None, channel: str | None,
             instance: str | None) -> Any:
    if spec is None:
        from qiskit_ibm_runtime import QiskitRuntimeService

        options = {k: v for k, v in (("name", account), ("channel", channel),
                                     ("instance", instance)) if v is not None}
        return QiskitRuntimeService(**options)
    import importlib

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise click.BadParameter("expected MODULE:NAME", param_hint="--service")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    # A class or a factory is called; an object with jobs() is the service itself.
    return obj() if isinstance(obj, type) or not hasattr(obj, "jobs") else obj


@archive.command(name="ls", epilog="""\b
Examples:
  qserial archive ls ~/qresults
  qserial archive ls ~/qresults --backend fake_manila --tag ghz --limit 50
  qserial archive ls ~/qresults --created-after 2025-02-01 --json
""")
@click.argument("root")
@_filters(default_limit=20)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one list) for machines.")
def ls(root: str, filters: dict[str, Any], as_json: bool) -> None:
    """List archived jobs, newest first.

    On a narrow terminal the job ids are shortened to the shortest prefix that tells
    them apart in the archive (8 characters at least); archive show takes such a
    prefix.
    """
    with _open(root) as store:
        jobs = store.jobs(**filters)
        if as_json:
            click.echo(json.dumps([job.to_dict() for job in jobs], indent=2))
            return
        console = _console()
        title = f"{len(jobs)} of {len(store)} jobs in {root}"
        table = _jobs_table(jobs, title, {})
        if _width(console, table) > console.width:
            ids = sorted(job.job_id() for job in store.jobs(limit=None))
            table = _jobs_table(jobs, title, _short_ids(ids))
            table.caption = "job ids cut to unique prefixes: archive show takes them"
        console.print(table)


#: Columns of ``archive ls``: (name, minimum width); the id, dates and sizes never wrap.
_COLUMNS = (("job id", None), ("created", None), ("backend", 10), ("primitive", 9),
            ("status", 6), ("tags", 8), ("size", None))


def _jobs_table(jobs: list[Any], title: str, short: dict[str, str]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  collapse_padding=True)
    for name, min_width in _COLUMNS:
        table.add_column(name, no_wrap=min_width is None, min_width=min_width,
                         overflow="fold", justify="right" if name == "size" else "left")
    for job in jobs:
        cells = (short.get(job.job_id(), job.job_id()), _date(job.creation_date),
                 job.backend().name or "-", job.primitive_id or "-", job.status() or "-",
                 ", ".join(job.tags) or "-", size_text(job.size))
        table.add_row(*map(Text, cells))  # Text: names and tags are not markup
    return table


def _width(console: Any, renderable: Any) -> int:
    from rich.measure import Measurement

    # Measured as if the terminal were unbounded: the width the table wants.
    return Measurement.get(console, console.options.update_width(1 << 16), renderable).maximum


def _short_ids(ids: list[str], at_least: int = 8) -> dict[str, str]:
    """Each id cut to the shortest prefix no other id starts with (``ids`` sorted)."""
    out = {}
    for i, job_id in enumerate(ids):
        # In sorted order the longest prefix shared with any id is shared with a neighbour.
        shared = max((_common_prefix(job_id, ids[j]) for j in (i - 1, i + 1)
                      if 0 <= j < len(ids)), default=0)
        out[job_id] = job_id[:max(at_least, shared + 1)]
    return out


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@archive.command(epilog="""\b
Examples:
  qserial archive show ~/qresults d1x9q2k3
  qserial archive show ~/qresults d1x9q2k3 --json
""")
@click.argument("root")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def show(root: str, job_id: str, as_json: bool) -> None:
    """Show an archived job: provenance, labels, file and its header (not the data).

    JOB_ID may be cut to any prefix that only one archived job's id starts with.
    """
    with _open(root) as store:
        job = store.find_job(job_id)
        info = job.to_dict()
        if not job.file_exists():
            raise CommandError(f"the file of job {job.job_id()} is missing: {job.path}; "
                               f"drop the entries of missing files with: qserial archive "
                               f"reindex --prune {root}")
        try:
            header = job.header()
        except Exception as exc:
            raise file_error(job.path, exc) from exc
        info["header"] = {k: header.get(k) for k in ("format", "version", "writer")}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console = _console()
    prov = info["provenance"]
    rows = [
        ("job id", info["job_id"]), ("backend", info["backend"]),
        ("primitive", info["program_id"]), ("created", info["creation_date"]),
        ("status", info["status"]), ("tags", ", ".join(info["tags"]) or None),
        ("session", info["session_id"]), ("instance", info["instance"]),
        ("usage", None if prov.get("usage") is None else f"{prov['usage']} s"),
        ("labels", json.dumps(info["labels"]) if info["labels"] else None),
        ("file", info["path"]), ("format", f"{info['format']} {info['header']['version']}"),
        ("size", size_text(info["size"])),
        ("written by", ", ".join(f"{k} {v}" for k, v in
                                 (info["header"]["writer"] or {}).items() if v)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"{key:<{width}}  {'-' if value is None else value}", soft_wrap=True)


@archive.command(epilog="""\b
Examples:
  qserial archive export ~/qresults ~/shots
  qserial archive export ~/qresults ~/shots --backend ibm_torino --created-after 2025-01-01
  duckdb -c "SELECT backend, month, count(*) FROM read_parquet('~/shots/**/*.parquet',
             hive_partitioning = true) GROUP BY ALL"
""")
@click.argument("root")
@click.argument("dest")
@_filters(default_limit=None)
@click.option("--overwrite", is_flag=True, help="Rewrite files already in DEST.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal).")
def export(root: str, dest: str, filters: dict[str, Any], overwrite: bool,
           progress: bool | None) -> None:
    """Write the shots of archived jobs to DEST as a Parquet dataset.

    One file per job under DEST/backend=NAME/month=YYYY-MM/, one row per shot and
    register (job_id, created, pub, param, shot, register, num_bits, and value or,
    past 64 bits, bitstring), readable by DuckDB, Spark or Dask. Jobs already
    exported are kept unless --overwrite.
    """
    with _open(root) as store:
        report = store.export_parquet(dest, jobs=store.jobs(**filters), overwrite=overwrite,
                                      progress=progress)
    click.echo(str(report))


@archive.command(epilog="""\b
Examples:
  qserial archive reindex ~/qresults
  qserial archive reindex ~/qresults --prune
""")
@click.argument("root")
@click.option("--prune", is_flag=True, help="Also drop entries whose file is gone.")
def reindex(root: str, prune: bool) -> None:
    """Add to the index every job file it lacks, from the files' manifests.

    A folder without an index gets one, built from the job files already under
    ROOT/jobs/ (any layout below it; files written with qserial.dump(job, ...)
    or by another archive): a way to turn a folder of such files into an archive,
    or to rebuild a lost index.
    """
    import os

    from ..archive import Archive

    if not Archive.exists(root) and not os.path.isdir(root):
        raise CommandError(f"{root}: No such folder")
    with _open(root, create=True) as store:
        changed = store.reindex(prune=prune)
        click.echo(f"{changed} index entries changed; {len(store)} jobs")
