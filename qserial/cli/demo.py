"""``qserial demo``: round trip real results through every installed format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ._common import CommandError, check_formats, ms_text, size_text, table_console

__all__ = ["demo"]


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files to this folder (created if needed) and keep them.")
@click.option("--keep", is_flag=True,
              help="Keep the temporary folder of files and print where it is.")
@click.option("-f", "--format", "format_names", multiple=True, callback=check_formats,
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

    from ..demo import SEED, build_results, run_demo

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

    console = table_console()
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

    from ..demo import REPEAT

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
        table.add_row(row.format, os.path.basename(row.path), size_text(row.size),
                      ms_text(row.write_s), ms_text(row.read_s), check)
    return table
