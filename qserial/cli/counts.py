"""``qserial counts``: the counts table of a pub, read from the stored tree."""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import debug_enabled, file_error, plural
from ._files import read_format

__all__ = ["counts"]


@click.command()
@click.argument("file")
@click.option("--pub", "pub_index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Index of the pub.")
@click.option("--register", "registers", multiple=True, metavar="NAME",
              callback=lambda ctx, param, value: _distinct(value),
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
    try:
        table = _count(file, pub_index, registers)
    except Exception as exc:
        if debug_enabled():
            raise
        raise file_error(file, exc) from exc
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


def _distinct(registers: tuple[str, ...]) -> tuple[str, ...]:
    """``--register`` values, refused when one repeats: a register joined with itself
    would double its bits and count nothing real."""
    repeated = sorted({name for name in registers if registers.count(name) > 1})
    if repeated:
        raise click.BadParameter(
            f"{', '.join(map(repr, repeated))} given more than once; name each register "
            "once (the order given is the order joined)")
    return registers


def _count(file: str, pub_index: int, registers: tuple[str, ...]) -> Any:
    """The counts table of pub ``pub_index`` of ``file``."""
    from .._inspect import count_outcomes
    from ..errors import PubIndexError, QSerialError

    fmt = read_format(file)
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
    return table


def _print_counts(file: str, table: Any, shown: list[tuple[str, int]],
                  rest: list[tuple[str, int]]) -> None:
    # Plain fixed-width lines rather than a rich table: a register of many bits can
    # have as many outcomes as shots, and rich lays out 100,000 rows in half a minute.
    shots = max(table.shots, 1)
    places = max(4, len(str(shots)) - 1)  # enough to tell one shot from none
    several = "s" * (len(table.registers) > 1)
    lines = [f"{file}: pub {table.pub}, register{several} {' + '.join(table.registers)} "
             f"({table.num_bits} bits), {table.shots} shots, {len(table.counts)} outcomes"]
    rows = [(bits, str(n), f"{n / shots:.{places}f}") for bits, n in shown]
    heads = ("bitstring", "count", "fraction")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]
    lines.append(f"{heads[0]:<{widths[0]}}   {heads[1]:>{widths[1]}}   {heads[2]:>{widths[2]}}")
    lines.append("-" * (sum(widths) + 6))
    lines += [f"{b:<{widths[0]}}   {n:>{widths[1]}}   {f:>{widths[2]}}" for b, n, f in rows]
    if rest:
        other = sum(n for _, n in rest)
        lines.append(f"... {plural(len(rest), 'more outcome')}, {plural(other, 'shot')} "
                     f"({other / shots:.{places}f})")
    click.echo("\n".join(lines))
