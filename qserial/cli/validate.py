"""``qserial validate``: decode files fully and check their integrity."""

from __future__ import annotations

import click

from ._common import CommandError, FileProgress, debug_enabled, fail_line, interactive
from ._files import digest_of, expand, header_of, read_format

__all__ = ["validate"]


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("-r", "--recursive", is_flag=True, help="Look into subfolders of a FOLDER too.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the files that fail.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal, for several files).")
def validate(files: tuple[str, ...], recursive: bool, quiet: bool,
             progress: bool | None) -> None:
    """Decode files fully and check their integrity: one line per file.

    Each file is loaded as qserial.load loads it (every object built, every digest
    the format stores checked) and gets a line "OK  FILE  (format version,
    integrity)" or "FAIL  FILE: reason" on stdout. A file that is valid qserial
    data but holds no Qiskit result (a plain dict, say) passes, and its line says
    what it holds. A FOLDER stands for its files with a format's suffix. Exits with
    status 0 only if every file passes, so it suits a cron job over an archive.

    \b
    Examples:
      qserial validate run.h5 run.json
      qserial validate -r ~/qresults
      qserial validate -rq ~/qresults || mail -s "damaged results" me@example.org
    """
    items = expand(files, recursive)
    show = interactive() and len(items) > 1 if progress is None else progress
    failed = 0
    with FileProgress("validating", len(items), show) as bar:
        for path, _, missing in items:
            try:
                if missing is not None:
                    raise FileNotFoundError(2, missing, path)
                note = _validate_one(path)
            except Exception as exc:
                if debug_enabled():
                    raise
                failed += 1
                bar.say(fail_line(path, exc), markup="[bold red]FAIL[/]  ")
            else:
                if not quiet:
                    bar.say(f"{path}  ({note})", markup="[green]OK[/]    ")
            bar.advance()
    if failed:
        raise CommandError(f"{failed} of {len(items)} files failed validation")


#: What a result file may hold: the containers of qiskit's primitives.
_RESULT_TYPES = frozenset({"PrimitiveResult", "SamplerPubResult", "PubResult",
                           "EstimatorPubResult", "DataBin", "BitArray", "ExecutionSpans"})


def _validate_one(path: str) -> str:
    from ..api import load

    fmt = read_format(path)
    obj = load(path, format=fmt)  # first: its errors say most precisely what is wrong
    header = header_of(fmt, path)
    version = (header or {}).get("version") or "no version header"
    digest = digest_of(header)
    note = f"{fmt.name} {version}, " + (f"{digest} verified" if digest else "no digest")
    kind = type(obj).__name__
    if kind not in _RESULT_TYPES or not type(obj).__module__.startswith("qiskit"):
        note += f"; not a Qiskit result: it holds a {kind}"
    return note
