"""``qserial info``: what files hold, without building objects or importing Qiskit."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ._common import CommandError, debug_enabled, describe, plural, size_text, table_console
from ._files import digest_of, expand, header_of, read_format

__all__ = ["info"]


@click.command()
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
    reports = [_file_report(path, missing) for path, _, missing in expand(files, recursive)]
    if as_json:
        click.echo(json.dumps(reports, indent=2, default=str))
    else:
        console = table_console(pipe_width=200)
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
    from .._inspect import summarize
    from ..errors import IntegrityError, QSerialError

    report: dict[str, Any] = {"path": path, "size": None, "format": None, "version": None,
                              "writer": {}, "options": None, "integrity": None,
                              "digest": None, "manifest": None, "header": None, "content": None,
                              "error": missing}
    if missing is not None:
        return report
    try:
        report["size"] = os.stat(path).st_size
        fmt = read_format(path)
        report["format"] = fmt.name
        try:
            header = header_of(fmt, path)
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
            options = header.get("options")
            report["options"] = options if isinstance(options, dict) else None
            report["header"] = {k: v for k, v in header.items()
                                if k not in ("format", "version", "writer", "options",
                                             "manifest")}
        report["digest"] = digest_of(header)
        tree = fmt.load_path(path)
        report["integrity"] = "not checked" if report["digest"] is None else "verified"
        if header_error is not None:
            raise header_error
        report["content"] = summarize(tree)
    except Exception as exc:
        if debug_enabled():
            raise
        if isinstance(exc, IntegrityError):
            report["integrity"] = "failed"
        report["error"] = " ".join(describe(exc).split())
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
        rows.append(("size", f"{size_text(report['size'])} ({report['size']} bytes)"))
    if report["writer"]:
        rows.append(("written by", ", ".join(f"{k} {v}" for k, v in report["writer"].items()
                                             if v)))
    if report["options"] is not None:
        # The write options the file was made with, as -o KEY=VALUE would give them.
        rows.append(("options", ", ".join(f"{k}={_option_text(v)}"
                                          for k, v in report["options"].items()) or "none"))
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
        fields = [(r["name"], f"BitArray: {plural(r['num_bits'], 'bit')} x "
                   f"{plural(r['shots'], 'shot')}")
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


def _option_text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return str(value)
