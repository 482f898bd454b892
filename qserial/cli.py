"""The ``qserial`` command line (also ``python -m qserial``).

Conventions shared by every command:

* exit status 0 on success, 1 on failure, 2 on a usage error;
* an error is one line on stderr (``Error: ...``); ``--debug`` (or ``QSERIAL_DEBUG=1``)
  shows the traceback instead;
* colour only when the output is a terminal.

A new command is a function decorated with ``@cli.command()`` below that imports what
it needs inside its body, so ``qserial --help`` stays fast, and raises a
:class:`qserial.QSerialError` (or any exception) for failures: the group turns it into
the one-line error and exit status 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ._version import __version__
from .archive.cli import archive
from .bench.cli import bench

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "cli", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # click's own status for usage errors


class CommandError(click.ClickException):
    """A failure reported as one line on stderr with exit status 1."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        # One line whatever the message holds, so logs and cron mails stay readable.
        super().__init__(" ".join(message.split()))


class _Group(click.Group):
    """Turns any exception from a command into a :class:`CommandError` unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise CommandError(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    from .errors import QSerialError

    if isinstance(exc, QSerialError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  qserial demo                        round trip real results through every format
  qserial info run.h5                 what a file holds, without Qiskit
  qserial counts run.h5 --pub 2       the counts table of pub 2
  qserial convert runs/ out/ -f hdf5  every file in runs/ to HDF5 in out/
  qserial validate -rq ~/qresults     check every file; print only failures

\b
Exit status: 0 success, 1 failure, 2 usage error.""",
)
@click.version_option(__version__, "-V", "--version", prog_name="qserial",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="QSERIAL_DEBUG",
              help="Show the full traceback of an error.")
def cli(debug: bool) -> None:
    """Save and load Qiskit primitive results: inspect and check qserial files."""


cli.add_command(archive)
cli.add_command(bench)


def _check_formats(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                   ) -> list[str] | None:
    if not value:
        return None
    from .formats import list_formats

    installed = list_formats()
    for name in value:
        if name.lower() not in installed:
            raise click.BadParameter(
                f"{name!r} is not installed; installed formats: {', '.join(installed)}"
            )
    return [name.lower() for name in value]


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files to this folder (created if needed) and keep them.")
@click.option("--keep", is_flag=True,
              help="Keep the temporary folder of files and print where it is.")
@click.option("-f", "--format", "format_names", multiple=True, callback=_check_formats,
              metavar="NAME", help="Only this format (repeatable); default: all installed.")
def demo(out_dir: Path | None, keep: bool, format_names: list[str] | None) -> None:
    """Round trip real results through every installed format.

    Builds a sampler result (GHZ state into two registers, a 5 x 3 parameter
    sweep) with qiskit's StatevectorSampler and an estimator result with
    StatevectorEstimator, writes each in every installed format, loads each file
    back with the format recognised from its content, checks it equals the
    original, and prints sizes and times (best of 3). Exits with status 1 if any
    round trip fails.

    \b
    Examples:
      qserial demo
      qserial demo --format json --format msgpack
      qserial demo --out results
    """
    import shutil
    import tempfile

    from .demo import SEED, build_results, run_demo

    debug = bool(click.get_current_context().find_root().params.get("debug"))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        folder, remove = str(out_dir), False
    else:
        folder, remove = tempfile.mkdtemp(prefix="qserial-demo-"), not keep
    try:
        results = build_results()
        rows = run_demo(folder, formats=format_names, results=results, reraise=debug)
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)

    console = _console()
    console.print(f"Results from StatevectorSampler and StatevectorEstimator (seed {SEED}).")
    console.print(_demo_table(rows))
    console.print("Files removed (keep them with --keep or --out DIR)." if remove
                  else f"Files in {folder}")
    failed = [row for row in rows if not row.ok]
    for row in failed:
        click.echo(f"{row.format}/{row.result}: {' '.join(row.error.split())}", err=True)
    if failed:
        raise CommandError(f"{len(failed)} of {len(rows)} round trips failed")
    console.print(f"All {len(rows)} round trips gave back equal results.")


def _demo_table(rows: list[Any]) -> Any:
    from rich.table import Table

    from .demo import REPEAT

    table = Table(title=f"Round trips (times: best of {REPEAT})",
                  caption="write: qserial.dump to a path, fsync included; read: qserial.load")
    table.add_column("format")
    table.add_column("file")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("write", justify="right", no_wrap=True)
    table.add_column("read", justify="right", no_wrap=True)
    table.add_column("loaded back")
    for row in rows:
        if row.ok:
            # JSON stores tuples as lists and dict keys as strings: compared as such.
            check = "[green]exact[/]" if row.exact else "[green]JSON-equal[/]"
        else:
            check = "[bold red]FAILED[/]"
        table.add_row(row.format, os.path.basename(row.path), _size(row.size),
                      _ms(row.write_s), _ms(row.read_s), check)
    return table


def _console(pipe_width: int | None = None) -> Any:
    from rich.console import Console

    # Rich colours only a terminal and honours NO_COLOR; highlight=False keeps
    # numbers and paths in plain output from being restyled. In a pipe rich assumes
    # 80 columns: ``pipe_width`` gives wide tables room there (COLUMNS still wins).
    width = None
    if pipe_width and not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        width = pipe_width
    return Console(highlight=False, width=width)


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


# --------------------------------------------------------------------------- files

_GLOB_CHARS = frozenset("*?[")
#: Above this many bytes in all, ``convert`` shows a progress bar even for one file.
_PROGRESS_BYTES = 64 * 1024 * 1024


def _debug() -> bool:
    return bool(click.get_current_context().find_root().params.get("debug"))


def _suffixes() -> list[str]:
    """Every suffix a format claims, installed or known, longest first."""
    from .formats import KNOWN_FORMATS, get_format, list_formats

    found = {s.lower() for name in list_formats() for s in get_format(name).suffixes}
    found |= {s.lower() for _, suffixes in KNOWN_FORMATS.values() for s in suffixes}
    return sorted(found, key=len, reverse=True)


def _stem(name: str, suffixes: list[str]) -> str:
    """``name`` without its format suffix (the longest that matches: ``.json.gz``)."""
    for suffix in suffixes:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0] or name


def _expand(args: tuple[str, ...], recursive: bool) -> list[tuple[str, str, str | None]]:
    """The files named by ``args`` (files, folders, quoted globs), in the order given.

    Each item is ``(path, name relative to the folder or glob it came from, None)``, a
    file appearing once, or ``(arg, "", reason)`` for an argument that names no file.
    In a folder only files with a format's suffix count (not an archive's index, not
    hidden temporary files).
    """
    import glob

    suffixes = _suffixes()
    files: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()

    def add(path: str, rel: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append((path, rel, None))

    def missing(arg: str, reason: str) -> None:
        files.append((arg, "", reason))

    for arg in args:
        if os.path.isdir(arg):
            found = []
            for folder, subdirs, names in os.walk(arg):
                # Sorted, for a stable order; emptied without -r, so the walk stops here.
                subdirs[:] = sorted(d for d in subdirs if recursive and not d.startswith("."))
                found += [os.path.join(folder, n) for n in sorted(names)
                          if not n.startswith(".") and n.lower().endswith(tuple(suffixes))]
            for path in found:
                add(path, os.path.relpath(path, arg))
            if not found:
                where = " or below it" if recursive else " (add -r for subfolders)"
                missing(arg, f"no file with a format's suffix in this folder{where}")
        elif os.path.exists(arg):
            add(arg, os.path.basename(arg))
        elif _GLOB_CHARS & set(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m))
            for path in matches:
                add(path, os.path.basename(path))
            if not matches:
                missing(arg, "no file matches")
        else:
            missing(arg, "No such file or directory")
    return files


def _read_format(path: str) -> Any:
    """The format of the file at ``path``, told from its content as :func:`qserial.load` does."""
    from .api import _resolve_for_read
    from .formats import SNIFF_BYTES

    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    return _resolve_for_read(head, None, path)


def _header(fmt: Any, path: str) -> dict[str, Any] | None:
    """The file's header, or None for a format that cannot read it alone."""
    from .errors import UnsupportedFeatureError

    try:
        header = fmt.read_header_path(path)
    except UnsupportedFeatureError:
        return None
    return header if isinstance(header, dict) else None


def _digest(header: dict[str, Any] | None) -> str | None:
    """The name of the digest a file stores, which loading it checks, or None.

    Formats name it in the file's header (``"digest": "xxh3_128"``); a file without
    one (e.g. RuntimeEncoder's JSON) cannot be checked.
    """
    digest = (header or {}).get("digest")
    return str(digest) if digest else None


def _line_console() -> Any:
    from rich.console import Console

    # soft_wrap: one line stays one line in a pipe, where rich would wrap at 80 columns.
    return Console(highlight=False, soft_wrap=True)


def _fail_line(what: str, exc: BaseException) -> str:
    return f"{what}: {' '.join(_describe(exc).split())}"


# ---------------------------------------------------------------------------- info


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list for machines.")
@click.option("-r", "--recursive", is_flag=True, help="Look into subfolders of a FOLDER too.")
def info(files: tuple[str, ...], as_json: bool, recursive: bool) -> None:
    """Show what files hold, without building objects or importing Qiskit.

    For each file (or each file with a format's suffix in a folder): format and
    format version, the versions that wrote it, size, integrity (the digest the
    file stores checked, else "not checked"), the provenance of the job it came
    from if the file records one, and each pub's type, shape, registers (bits and
    shots) and arrays (dtype and shape), metadata keys, and the execution spans
    (count, first start, last stop, time in spans). Exits with status 1 if any file
    cannot be read.

    \b
    Examples:
      qserial info run.json
      qserial info results/*.h5
      qserial info -r ~/qresults --json | jq '.[].content.pubs | length'
    """
    reports = [_file_report(path, missing) for path, _, missing in _expand(files, recursive)]
    if as_json:
        click.echo(json.dumps(reports, indent=2, default=str))
    else:
        console = _console(pipe_width=200)
        shown = [r for r in reports if r["format"] is not None]
        for i, report in enumerate(shown):
            if i:
                console.print()
            _print_report(console, report)
    failures = [f"{r['path']}: {r['error']}" for r in reports if r["error"]]
    for line in failures:
        click.echo(line, err=True)
    if failures:
        raise CommandError(f"{len(failures)} of {len(reports)} files could not be read")


def _file_report(path: str, missing: str | None = None) -> dict[str, Any]:
    from ._inspect import summarize
    from .errors import IntegrityError, QSerialError

    report: dict[str, Any] = {"path": path, "size": None, "format": None, "version": None,
                              "writer": {}, "integrity": None, "digest": None,
                              "manifest": None, "header": None, "content": None,
                              "error": missing}
    if missing is not None:
        return report
    try:
        report["size"] = os.stat(path).st_size
        fmt = _read_format(path)
        report["format"] = fmt.name
        try:
            header = _header(fmt, path)
        except QSerialError as exc:
            # Loading the data usually says more precisely what is wrong.
            header, header_error = None, exc
        else:
            header_error = None
        if header is not None:
            writer = header.get("writer")
            report["version"] = header.get("version")
            report["writer"] = writer if isinstance(writer, dict) else {}
            report["manifest"] = header.get("manifest")
            report["header"] = {k: v for k, v in header.items()
                                if k not in ("format", "version", "writer", "manifest")}
        report["digest"] = _digest(header)
        tree = fmt.load_path(path)
        report["integrity"] = "not checked" if report["digest"] is None else "verified"
        if header_error is not None:
            raise header_error
        report["content"] = summarize(tree)
    except Exception as exc:
        if _debug():
            raise
        if isinstance(exc, IntegrityError):
            report["integrity"] = "failed"
        report["error"] = " ".join(_describe(exc).split())
    return report


def _print_report(console: Any, report: dict[str, Any]) -> None:
    from rich.markup import escape

    rows: list[tuple[str, str]] = []
    if report["format"] is not None:
        if report["header"] is None and report["error"] is not None:
            version = "(header not read)"
        elif report["header"] is None and report["version"] is None:
            version = "(the format gives no header)"
        elif report["version"] is None:
            version = "(no qserial header: e.g. written by RuntimeEncoder)"
        else:
            version = report["version"]
        rows.append(("format", f"{report['format']} {version}"))
    if report["size"] is not None:
        rows.append(("size", f"{_size(report['size'])} ({report['size']} bytes)"))
    if report["writer"]:
        rows.append(("written by", ", ".join(f"{k} {v}" for k, v in report["writer"].items()
                                             if v)))
    if report["integrity"] == "failed":
        rows.append(("integrity", "[bold red]FAILED[/]"))
    elif report["integrity"] == "verified":
        rows.append(("integrity", f"verified ({report['digest']})"))
    elif report["integrity"] is not None:
        rows.append(("integrity", "not checked (the file stores no digest)"))
    manifest = report["manifest"]
    if isinstance(manifest, dict):
        prov = manifest.get("provenance")
        if isinstance(prov, dict):
            keys = ("job_id", "backend", "program_id", "status", "creation_date")
            rows.append(("provenance", ", ".join(f"{k} {prov[k]}" for k in keys
                                                 if prov.get(k) is not None) or "-"))
        others = [k for k in manifest if k != "provenance"]
        if others:
            rows.append(("manifest", ", ".join(map(str, others))))
    content = report["content"]
    if content is not None:
        pubs = content["pubs"]
        rows.append(("content", content["type"] if pubs is None
                     else f"{content['type']}, {len(pubs)} pub{'s' * (len(pubs) != 1)}"))
        if content["type"] == "PrimitiveResult":
            rows.append(("metadata", ", ".join(content["metadata_keys"]) or "-"))
        spans = content["execution_spans"]
        if spans is not None:
            kinds = ", ".join(f"{k} {n}" for k, n in spans["kinds"].items())
            text = f"{spans['count']} ({kinds})" if spans["count"] else "0"
            if spans["first_start"] is not None:
                text += (f", {spans['first_start']} to {spans['last_stop']}, "
                         f"{spans['duration_s']:.3f} s in spans")
            rows.append(("spans", text))
    console.print(escape(report["path"]), style="bold")
    for key, value in rows:
        # The values come from the file: escaped, so that "[...]" prints as it is.
        value = value if key == "integrity" else escape(value)
        console.print(f"  {key:<11} {value}", soft_wrap=True)
    if content is not None and content["pubs"]:
        console.print(_pubs_table(content["pubs"]))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _pubs_table(pubs: list[dict[str, Any]]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    for name in ("pub", "type", "shape", "field", "holds", "metadata keys"):
        table.add_column(name, justify="right" if name == "pub" else "left",
                         no_wrap=name not in ("metadata keys",))
    for pub in pubs:
        shape = "?" if pub["shape"] is None else f"({', '.join(map(str, pub['shape']))}" + (
            ",)" if len(pub["shape"]) == 1 else ")")
        fields = [(r["name"], f"BitArray: {_plural(r['num_bits'], 'bit')} x "
                   f"{_plural(r['shots'], 'shot')}")
                  for r in pub["registers"]]
        fields += [(a["name"], f"{a['dtype']} array {tuple(a['shape'])}") for a in pub["arrays"]]
        fields += [(o["name"], o["type"]) for o in pub["other"]]
        meta = ", ".join(pub["metadata_keys"]) or "-"
        for j, (name, holds) in enumerate(fields or [("-", "-")]):
            first = j == 0
            cells = (str(pub["index"]), pub["type"], shape, name, holds, meta) if first \
                else ("", "", "", name, holds, "")
            table.add_row(*map(Text, cells))  # Text: names from the file are not markup
    return table


# -------------------------------------------------------------------------- counts


@cli.command()
@click.argument("file")
@click.option("--pub", "pub_index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Index of the pub.")
@click.option("--register", "registers", multiple=True, metavar="NAME",
              help="Register to count (repeatable: joined as SamplerPubResult.join_data "
                   "joins them, the first one's bits rightmost). Default: the pub's only "
                   "register, or all of them joined.")
@click.option("--top", type=click.IntRange(min=1), metavar="K",
              help="Only the K most frequent outcomes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def counts(file: str, pub_index: int, registers: tuple[str, ...], top: int | None,
           as_json: bool) -> None:
    """Print the counts table of a pub: bitstring, count and fraction, most frequent first.

    Counts every position of the pub's shape together, as BitArray.get_counts()
    does. Formats that read pubs separately (HDF5, Parquet) read only this pub.

    \b
    Examples:
      qserial counts run.json
      qserial counts run.h5 --pub 3 --register meas --top 10
      qserial counts run.parquet --register alpha --register beta --json
    """
    from ._inspect import count_outcomes
    from .errors import PubIndexError, QSerialError

    fmt = _read_format(file)
    tree, index = None, pub_index
    if fmt.supports_partial:
        try:
            tree, index = fmt.load_path(file, pubs=[pub_index]), 0
        except PubIndexError:
            raise
        except QSerialError:
            tree = None  # e.g. the file holds a lone pub: read it whole below
    if tree is None:
        tree, index = fmt.load_path(file), pub_index
    table = count_outcomes(tree, index, list(registers) or None)
    table.pub = pub_index
    shown = table.counts[:top] if top else table.counts
    rest = table.counts[len(shown):]
    if as_json:
        out: dict[str, Any] = {"file": file, "pub": pub_index, "registers": table.registers,
                               "num_bits": table.num_bits, "shots": table.shots,
                               "outcomes": len(table.counts), "counts": dict(shown)}
        if rest:
            out["other"] = {"outcomes": len(rest), "shots": sum(n for _, n in rest)}
        click.echo(json.dumps(out, indent=2))
        return
    _print_counts(file, table, shown, rest)


def _print_counts(file: str, table: Any, shown: list[tuple[str, int]],
                  rest: list[tuple[str, int]]) -> None:
    # Plain fixed-width lines rather than a rich table: a register of many bits can
    # have as many outcomes as shots, and rich lays out 100,000 rows in half a minute.
    shots = max(table.shots, 1)
    places = max(4, len(str(shots)) - 1)  # enough to tell one shot from none
    plural = "s" * (len(table.registers) > 1)
    lines = [f"{file}: pub {table.pub}, register{plural} {' + '.join(table.registers)} "
             f"({table.num_bits} bits), {table.shots} shots, {len(table.counts)} outcomes"]
    rows = [(bits, str(n), f"{n / shots:.{places}f}") for bits, n in shown]
    heads = ("bitstring", "count", "fraction")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]
    lines.append(f"{heads[0]:<{widths[0]}}   {heads[1]:>{widths[1]}}   {heads[2]:>{widths[2]}}")
    lines.append("-" * (sum(widths) + 6))
    lines += [f"{b:<{widths[0]}}   {n:>{widths[1]}}   {f:>{widths[2]}}" for b, n, f in rows]
    if rest:
        other = sum(n for _, n in rest)
        lines.append(f"... {_plural(len(rest), 'more outcome')}, {_plural(other, 'shot')} "
                     f"({other / shots:.{places}f})")
    click.echo("\n".join(lines))


# ------------------------------------------------------------------------ validate


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("-r", "--recursive", is_flag=True, help="Look into subfolders of a FOLDER too.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the files that fail.")
def validate(files: tuple[str, ...], recursive: bool, quiet: bool) -> None:
    """Decode files fully and check their integrity: one line per file.

    Each file is loaded as qserial.load loads it (every object built, every digest
    the format stores checked) and gets a line "OK  FILE  (format version,
    integrity)" or "FAIL  FILE: reason" on stdout. A FOLDER stands for its files
    with a format's suffix. Exits with status 0 only if every file passes, so it
    suits a cron job over an archive.

    \b
    Examples:
      qserial validate run.h5 run.json
      qserial validate -r ~/qresults
      qserial validate -rq ~/qresults || mail -s "damaged results" me@example.org
    """
    from rich.markup import escape

    items = _expand(files, recursive)
    console = _line_console()
    failed = 0
    for path, _, missing in items:
        if missing is not None:
            failed += 1
            console.print(f"[bold red]FAIL[/]  {escape(path)}: {escape(missing)}")
            continue
        try:
            note = _validate_one(path)
        except Exception as exc:
            if _debug():
                raise
            failed += 1
            console.print(f"[bold red]FAIL[/]  {escape(_fail_line(path, exc))}")
            continue
        if not quiet:
            console.print(f"[green]OK[/]    {escape(path)}  ({escape(note)})")
    if failed:
        raise CommandError(f"{failed} of {len(items)} files failed validation")


def _validate_one(path: str) -> str:
    from .api import load

    fmt = _read_format(path)
    load(path, format=fmt)  # first: its errors say most precisely what is wrong
    header = _header(fmt, path)
    version = (header or {}).get("version") or "no version header"
    digest = _digest(header)
    return f"{fmt.name} {version}, " + (f"{digest} verified" if digest else "no digest")


# ------------------------------------------------------------------------- convert


def _format_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from .formats import get_format, list_formats

    if value.lower() not in list_formats():
        raise click.BadParameter(
            f"{value!r} is not installed; installed formats: {', '.join(list_formats())}")
    return get_format(value)


def _key_values(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in value:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        if key in ("manifest", "format"):
            raise click.BadParameter(f"{key!r} is not a writer option here")
        try:  # numbers, true/false/null and JSON lists as such; anything else as text
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.argument("dest", metavar="DST")
@click.option("-f", "--format", "fmt", callback=_format_option, metavar="NAME",
              help="Format to write. Default: from DST's suffix; needed for a folder.")
@click.option("-o", "--option", "options", multiple=True, callback=_key_values,
              metavar="KEY=VALUE",
              help="Writer option (repeatable), e.g. compression=zstd; the value is read "
                   "as JSON when it parses (0, true, null), else as text.")
@click.option("-r", "--recursive", is_flag=True,
              help="Convert a SRC folder's subfolders too, keeping their layout.")
@click.option("--drop-manifest", is_flag=True,
              help="Convert files holding a manifest (a job's provenance) to formats that "
                   "cannot store it, without it.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal, for several or large "
                   "files).")
def convert(sources: tuple[str, ...], dest: str, fmt: Any, options: dict[str, Any],
            recursive: bool, drop_manifest: bool, progress: bool | None) -> None:
    """Convert files from any installed format to any other.

    One SRC file and a DST file name: DST's suffix (or --format) picks the format.
    Several SRC, a folder or a quoted glob, or an existing folder as DST: each file
    goes to DST/<name>.<suffix of --format>. Files are converted through the stored
    tree, so tags this qserial does not know are kept, and so is the manifest (a
    job's provenance). Each output is written atomically. A file that fails gets a
    line on stderr and the others are still converted; the exit status is then 1.

    \b
    Examples:
      qserial convert run.json run.h5
      qserial convert run.json run.data --format msgpack
      qserial convert results/ results-h5/ --format hdf5
      qserial convert 'runs/**/*.json' parquet/ -f parquet -o compression=zstd
    """
    from .formats import format_for_suffix

    to_folder = (len(sources) > 1 or os.path.isdir(dest) or dest.endswith(("/", os.sep))
                 or any(os.path.isdir(s) or (_GLOB_CHARS & set(s) and not os.path.exists(s))
                        for s in sources))
    items = _expand(sources, recursive)
    if to_folder:
        if fmt is None:
            raise click.UsageError("converting into a folder needs --format NAME")
        suffixes = _suffixes()
        jobs = [(src, os.path.join(dest, os.path.dirname(rel),
                                   _stem(os.path.basename(rel), suffixes) + fmt.suffixes[0]),
                  missing) for src, rel, missing in items]
    else:
        if fmt is None:
            from .errors import FormatNotInstalledError, UnknownFormatError

            try:
                fmt = format_for_suffix(os.path.basename(dest))
            except FormatNotInstalledError:
                raise
            except UnknownFormatError:
                raise click.UsageError(f"cannot tell the format of {dest} from its suffix; "
                                       "pass --format NAME") from None
        jobs = [(src, dest, missing) for src, _, missing in items]
    done = _convert_all(jobs, fmt, options, drop_manifest, progress)
    if done < len(jobs):
        raise CommandError(f"{len(jobs) - done} of {len(jobs)} files failed; {done} converted")


def _convert_all(jobs: list[tuple[str, str, str | None]], fmt: Any, options: dict[str, Any],
                 drop_manifest: bool, progress: bool | None) -> int:
    """Convert each ``(source, target, reason it is missing)``; return how many worked."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .errors import WriteError

    if progress is None:
        # Both streams on a terminal: the bar (stderr) and the file lines (stdout) share it.
        total = sum(os.path.getsize(src) for src, _, missing in jobs if missing is None)
        progress = (sys.stderr.isatty() and sys.stdout.isatty()
                    and (len(jobs) > 1 or total > _PROGRESS_BYTES))
    seen: dict[str, str] = {}
    done = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task("converting", total=len(jobs))
        for src, dst, missing in jobs:
            key = os.path.realpath(dst)
            if missing is not None:
                click.echo(f"{src}: {missing}", err=True)
                bar.advance(task)
                continue
            try:
                if key in seen:
                    raise WriteError(f"{dst} would also be written from {seen[key]}: "
                                     "rename one of them")
                seen[key] = src
                _convert_one(src, dst, fmt, options, drop_manifest)
            except Exception as exc:
                if _debug():
                    raise
                click.echo(_fail_line(src, exc), err=True)
            else:
                done += 1
                click.echo(f"{src} -> {dst}")
            bar.advance(task)
    return done


def _convert_one(src: str, dst: str, fmt: Any, options: dict[str, Any],
                 drop_manifest: bool) -> None:
    from .api import dump_tree
    from .errors import UnsupportedFeatureError

    source_format = _read_format(src)
    tree = source_format.load_path(src)  # first: its errors say most precisely what is wrong
    manifest = None
    if not drop_manifest:
        manifest = (_header(source_format, src) or {}).get("manifest")
        if manifest is not None and not fmt.supports_manifest:
            raise UnsupportedFeatureError(
                f"it holds a manifest (e.g. a job's provenance) that format {fmt.name!r} "
                "cannot store; pass --drop-manifest to convert it without")
    folder = os.path.dirname(dst)
    if folder:
        os.makedirs(folder, exist_ok=True)
    dump_tree(tree, dst, format=fmt, manifest=manifest, **options)


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and exit."""
    try:
        cli.main(args=argv, prog_name="qserial")
    except BrokenPipeError:
        # The reader went away (``qserial ... | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FAILURE)
