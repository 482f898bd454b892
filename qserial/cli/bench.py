"""``qserial bench``: compare the installed formats on built-in scenarios or your files.

Uses :mod:`qserial.bench` through its public functions only; everything heavy is
imported in the command's body so that ``qserial --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ._common import CommandError, check_formats, debug_enabled, file_error

__all__ = ["bench"]


def _check_scenarios(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                     ) -> list[Any]:
    from ..bench import BenchSetupError, parse_scenario

    try:
        return [parse_scenario(spec) for spec in value]
    except BenchSetupError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("bench")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("-s", "--scenario", "scenarios", multiple=True, callback=_check_scenarios,
              metavar="NAME[:K=V,...]",
              help="A built-in scenario, optionally with builder arguments "
                   "(sweep:pubs=25); repeatable. Default: all of them, unless FILES "
                   "are given.")
@click.option("-f", "--format", "format_names", multiple=True, callback=check_formats,
              metavar="NAME", help="Only this format (repeatable); default: all installed.")
@click.option("--quick", is_flag=True,
              help="Seconds instead of a minute: smaller scenarios, fewer samples, no "
                   "memory or durable-write measurements.")
@click.option("--repeat", type=click.IntRange(1, 1000), metavar="N",
              help="Samples per measurement (default 5, 3 with --quick).")
@click.option("--sweep", is_flag=True,
              help="Also try each format's declared options (compression codec and "
                   "level...; Format.sweep_configs) to show the size/speed trade-off.")
@click.option("--memory/--no-memory", default=None,
              help="Measure peak memory in child processes (default: on, off with --quick).")
@click.option("--durable/--no-durable", default=None,
              help="Also time qserial.dump with its fsync (default: on, off with --quick).")
@click.option("--best", is_flag=True,
              help="Compute ratios and throughputs from the best sample, not the median.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full report as JSON on stdout instead of tables.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also draw a chart (PNG, SVG, PDF...); needs matplotlib.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Write the files here (default: the system's temporary folder); pick "
                   "the disk your results will live on.")
def bench(files: tuple[Path, ...], scenarios: list[Any], format_names: list[str] | None,
          quick: bool, repeat: int | None, sweep: bool, memory: bool | None,
          durable: bool | None, best: bool, as_json: bool, plot_path: Path | None,
          folder: Path | None) -> None:
    """Benchmark the installed formats against RuntimeEncoder and raw file I/O.

    Writes and reads each result in every installed format, with
    json.dump(cls=RuntimeEncoder) / json.load(cls=RuntimeDecoder) as the baseline
    and raw os.write / read of the same array bytes as the floor. Every file is read
    back and compared with the original first. Reports write and read times
    (median and spread), throughput, file size, peak memory and ratios.

    FILES are result files of your own, in any format qserial reads (RuntimeEncoder
    JSON included). Exits with status 1 if a format gives back different data.

    \b
    Examples:
      qserial bench --quick
      qserial bench my_result.json
      qserial bench -s sweep:pubs=25 -f msgpack -f hdf5 --sweep
      qserial bench --json > bench.json
      qserial bench --plot bench.png
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..bench import (
        count_steps,
        default_cases,
        file_case,
        plot_report,
        print_report,
        require_matplotlib,
        run,
    )
    from ..formats import list_formats

    if plot_path is not None:
        try:
            require_matplotlib()
        except ImportError as exc:
            raise CommandError(str(exc)) from None
    for path in files:
        _check_readable(str(path))
    cases = [file_case(p) for p in files] + list(scenarios)
    if not cases:
        cases = default_cases(quick)
    names = format_names or list_formats()
    total = count_steps(cases, formats=names, quick=quick, repeat=repeat, memory=memory,
                        durable=durable, sweep=sweep)

    err = Console(stderr=True, highlight=False)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    with progress:
        bar = progress.add_task("starting", total=total)

        def advance(description: str, step: int) -> None:
            progress.update(bar, description=description, advance=step)

        report = run(cases, formats=names, quick=quick, repeat=repeat, memory=memory,
                     durable=durable, sweep=sweep,
                     folder=str(folder) if folder is not None else None,
                     statistic="best" if best else "median", progress=advance)

    if as_json:
        json.dump(report, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_report(report)
    if plot_path is not None:
        plot_report(report, str(plot_path))
        (err if as_json else Console(highlight=False)).print(f"Chart written to {plot_path}")
    if report["failures"]:
        for line in report["failures"]:
            click.echo(" ".join(line.split()), err=True)
        raise CommandError(f"{len(report['failures'])} format round trips gave back "
                           "different data or crashed")


def _check_readable(path: str) -> None:
    """Load ``path`` once before any timing: a bad file fails at once, by its name."""
    from ..api import load

    try:
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory; name result files", path)
        load(path)
    except Exception as exc:
        if debug_enabled():
            raise
        raise file_error(path, exc) from exc
