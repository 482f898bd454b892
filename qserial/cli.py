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

import os
import sys
from pathlib import Path
from typing import Any

import click

from ._version import __version__
from .archive.cli import archive

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
  qserial demo                 round trip real results through every format
  qserial demo --out results   ... and keep the files in ./results

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


def _console() -> Any:
    from rich.console import Console

    # Rich colours only a terminal and honours NO_COLOR; highlight=False keeps
    # numbers and paths in plain output from being restyled.
    return Console(highlight=False)


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and exit."""
    try:
        cli.main(args=argv, prog_name="qserial")
    except BrokenPipeError:
        # The reader went away (``qserial ... | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FAILURE)
