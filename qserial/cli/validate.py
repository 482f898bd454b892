"""``qserial validate``: decode files fully and check their integrity."""

from __future__ import annotations

import click

from ._common import CommandError, debug_enabled, fail_line, line_console
from ._files import digest_of, expand, header_of, read_format

__all__ = ["validate"]


@click.command()
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

    items = expand(files, recursive)
    console = line_console()
    failed = 0
    for path, _, missing in items:
        if missing is not None:
            failed += 1
            console.print(f"[bold red]FAIL[/]  {escape(path)}: {escape(missing)}")
            continue
        try:
            note = _validate_one(path)
        except Exception as exc:
            if debug_enabled():
                raise
            failed += 1
            console.print(f"[bold red]FAIL[/]  {escape(fail_line(path, exc))}")
            continue
        if not quiet:
            console.print(f"[green]OK[/]    {escape(path)}  ({escape(note)})")
    if failed:
        raise CommandError(f"{failed} of {len(items)} files failed validation")


def _validate_one(path: str) -> str:
    from ..api import load

    fmt = read_format(path)
    load(path, format=fmt)  # first: its errors say most precisely what is wrong
    header = header_of(fmt, path)
    version = (header or {}).get("version") or "no version header"
    digest = digest_of(header)
    return f"{fmt.name} {version}, " + (f"{digest} verified" if digest else "no digest")
