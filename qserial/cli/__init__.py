"""The ``qserial`` command line (also ``python -m qserial``).

Conventions shared by every command:

* exit status 0 on success, 1 on failure, 2 on a usage error;
* an error is one line on stderr (``Error: ...``); ``--debug`` (or ``QSERIAL_DEBUG=1``)
  shows the traceback instead;
* colour only when the output is a terminal.

Layout: this module holds the ``qserial`` group and :func:`main`; each command lives
in a module of its own (``demo``, ``info``, ``counts``, ``validate``, ``convert``,
``bench``, ``archive``), and what they share in ``_common`` (errors, consoles, option
checks) and ``_files`` (file arguments, formats). Command modules import only those
two, never this module, so there is no import circle.

A new command is a module with a ``@click.command()`` function, added to the group
below. It imports what it needs inside its body, so ``qserial --help`` stays fast, and
raises a :class:`qserial.QSerialError` (or any exception) for failures: the group
turns it into the one-line error and exit status 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .._version import __version__
from . import archive, bench, convert, counts, demo, info, validate
from ._common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, describe

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "cli", "main"]


class _Group(click.Group):
    """Turns any exception from a command into a :class:`CommandError` unless ``--debug``.

    ``--debug`` is taken anywhere on the command line (before a ``--``), not only
    before the command: it is the flag one adds at the end after a failure.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end]:
            args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise CommandError(describe(exc)) from exc


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
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, param, value: _print_version(ctx) if value else None,
              help="Show the version and the installed format plugins, and exit.")
@click.option("--debug", is_flag=True, envvar="QSERIAL_DEBUG",
              help="Show the full traceback of an error.")
def cli(debug: bool) -> None:
    """Save and load Qiskit primitive results: inspect and check qserial files."""


def _print_version(ctx: click.Context) -> None:
    """qserial's version, then each format with the distribution and version giving it."""
    import importlib.metadata

    from ..formats import ENTRY_POINT_GROUP, list_formats

    loaded = list_formats()
    rows = [("json", "built in")]
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: ep.name):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value
        if ep.name not in loaded:
            dist += " (failed to load)"
        rows.append((ep.name, dist))
    width = max(len(name) for name, _ in rows)
    click.echo("\n".join([f"qserial {__version__}", "formats:",
                          *(f"  {name:<{width}}  {where}" for name, where in rows)]))
    ctx.exit()


for _module in (demo, info, counts, convert, validate, archive, bench):
    cli.add_command(getattr(_module, _module.__name__.rpartition(".")[2]))


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and exit."""
    try:
        cli.main(args=argv, prog_name="qserial")
    except BrokenPipeError:
        # The reader went away (``qserial ... | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FAILURE)
