"""A benchmark report as terminal tables (rich) or Markdown."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["print_report", "render_markdown", "fmt_time", "fmt_size", "columns", "legend"]


def fmt_time(seconds: float | None) -> str:
    """Seconds as a short string: ``"2.41 s"``, ``"37.0 ms"``, ``"412 us"``."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def fmt_size(nbytes: float | None) -> str:
    """Bytes in decimal units: ``"46.3 MB"``."""
    if nbytes is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} B"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def _pair(*values: float | None) -> str:
    return " / ".join(_num(v) for v in values) if any(v is not None for v in values) else "-"


def _timing(row: dict[str, Any], what: str, key: str) -> str:
    t = row.get(what)
    if not t:
        return "-"
    return f"{fmt_time(t[key])} ±{t['spread'] * 100:.0f}%"


def columns(statistic: str = "median") -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    """(header, cell of a row) of every column, shared by the terminal and Markdown."""
    key = "best_s" if statistic == "best" else "median_s"

    def durable(row: dict[str, Any]) -> str:
        t = row.get("write_durable")
        if not t:
            return "-"
        ratio = row["ratios"].get("write_durable_vs_raw_durable")
        return fmt_time(t[key]) + (f" ({_num(ratio)})" if ratio is not None else "")

    def memory(row: dict[str, Any]) -> str:
        r = row["ratios"]
        return _pair(r.get("write_memory_vs_array_bytes"), r.get("read_memory_vs_array_bytes"))

    def check(row: dict[str, Any]) -> str:
        if row["error"]:
            return "FAILED" if row["failed"] else "cannot"
        return row["check"] or "-"

    return [
        ("format", lambda row: row["subject"]),
        ("file size", lambda row: fmt_size(row["size"])),
        ("x entropy", lambda row: _num(row["ratios"].get("size_vs_entropy"))),
        ("write", lambda row: _timing(row, "write", key)),
        ("read", lambda row: _timing(row, "read", key)),
        ("MB/s w / r", lambda row: _pair(row["throughput_MBps"].get("write"),
                                                row["throughput_MBps"].get("read"))),
        ("x raw w / r", lambda row: _pair(row["ratios"].get("write_vs_raw"),
                                                 row["ratios"].get("read_vs_raw"))),
        ("durable w (x raw)", durable),
        ("x Runtime w / r / size", lambda row: _pair(
            row["ratios"].get("write_vs_runtime"), row["ratios"].get("read_vs_runtime"),
            row["ratios"].get("size_vs_runtime"))),
        ("peak mem w / r (x arrays)", memory),
        ("check", check),
    ]


def legend(report: dict[str, Any]) -> list[str]:
    """The lines that say what each column means."""
    s = report["settings"]
    stat = "best" if s["statistic"] == "best" else "median"
    return [
        f"Times: {stat} of up to {s['repeat']} samples after a warm-up run, ± the spread "
        "(slowest minus fastest, of the median); the things compared take turns sample "
        "by sample. Files in the page cache (no fsync) unless said otherwise.",
        "write: the format's dump_path(to_tree(obj)), i.e. qserial.dump without the atomic "
        "step; RuntimeEncoder: json.dump(obj, f, cls=RuntimeEncoder) to an open file; "
        "raw I/O: os.write of the array bytes. read: qserial.load(path); RuntimeDecoder: "
        "json.load(f, cls=RuntimeDecoder); raw: one readinto new memory; "
        "'json (Runtime file)': qserial.load of RuntimeEncoder's file. w / r: write / read.",
        "durable write: qserial.dump(obj, path) (temporary file, fsync, rename, fsync of "
        "the folder), and in brackets its ratio to raw I/O doing the same.",
        "x entropy: file size / the entropy of the result's shots, per register and pub "
        "(shots x the entropy of the outcome frequencies where outcomes are few, else the "
        "sum of per-bit entropies): the size no lossless format beats. 'raw zstd-1': the "
        "arrays' bytes each compressed with zstd level 1, then written and read as raw I/O.",
        f"x raw: time / raw I/O time of the same bytes (like with like; 1 is the floor). "
        f"x Runtime: time / RuntimeEncoder's write, RuntimeDecoder's read, and file size / "
        f"RuntimeEncoder's (below 1: faster, smaller). Ratios use the {stat}.",
        "peak memory: the operation's peak extra resident memory, measured in a fresh "
        "process, over the result's array bytes; a read's includes the loaded result.",
        "check: the file read back equals the original exactly, or by JSON's rules "
        "(tuples as lists, dict keys as strings); 'cannot': the format cannot store this "
        "object; FAILED: wrong data or a crash.",
    ]


def _title(case: dict[str, Any]) -> str:
    n = case.get("pubs")
    pubs = "" if n is None else f", {n} pub" + ("" if n == 1 else "s")
    entropy = case.get("entropy_bytes")
    shots = "" if entropy is None else f", {fmt_size(entropy)} of entropy in its shots"
    return f"{case['name']}: {fmt_size(case['array_bytes'])} of arrays{pubs}{shots}"


def _machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    v = m["versions"]
    load = m.get("load_average")
    parts = [
        f"{m['cpu']}, {m['cpus']} CPUs",
        f"{fmt_size(m['memory_bytes'])} RAM" if m.get("memory_bytes") else None,
        f"load {load[0]:.1f}" if load else None,
        m["platform"], m["python"],
        f"files on {m['filesystem']}" if m.get("filesystem") else None,
        f"qserial {v.get('qserial')}, qiskit-ibm-runtime {v.get('qiskit-ibm-runtime')}, "
        f"numpy {v.get('numpy')}",
    ]
    return "; ".join(p for p in parts if p)


def _errors(case: dict[str, Any]) -> list[str]:
    return [f"{row['subject']}: {' '.join(str(row['error']).split())}"
            for row in case["rows"] if row["error"]]


#: Below this console width each case gets two narrower tables: times, then ratios.
WIDE = 170


def print_report(report: dict[str, Any], console: Any = None) -> None:
    """Print ``report`` as tables (one per case, two on a narrow console) and a legend."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else WIDE)
    cols = columns(report["settings"]["statistic"])
    if console.width >= WIDE:
        groups = [cols]
    else:
        first = {"format", "file size", "x entropy", "write", "read", "durable w (x raw)",
                 "check"}
        groups = [[c for c in cols if c[0] in first],
                  [c for c in cols if c[0] not in first or c[0] == "format"]]
    console.print(_machine_line(report), markup=False)
    for case in report["cases"]:
        for group in groups:
            table = Table(title=_title(case), title_justify="left")
            for header, _ in group:
                table.add_column(header, justify="left" if header in ("format", "check")
                                 else "right")
            variants = False
            for row in case["rows"]:
                if row["options"] and not variants:
                    table.add_section()  # the option sweep's rows follow the defaults
                    variants = True
                style = "bold red" if row["failed"] else "dim" if row["error"] else None
                table.add_row(*(cell(row) for _, cell in group), style=style)
            console.print(table)
        for line in _errors(case):
            console.print(f"  {line}", markup=False)
    console.print()
    for line in legend(report):
        console.print(line, markup=False)
    console.print(f"Total time {report.get('elapsed_s', 0):.0f} s.")


def render_markdown(report: dict[str, Any]) -> str:
    """``report`` as Markdown: the machine, then one table per case, then the legend."""
    cols = columns(report["settings"]["statistic"])
    out = [f"Machine: {_machine_line(report)}.", ""]
    for case in report["cases"]:
        out += [f"**{_title(case)}**", ""]
        out.append("| " + " | ".join(h for h, _ in cols) + " |")
        out.append("| --- " + "| ---: " * (len(cols) - 2) + "| --- |")
        for row in case["rows"]:
            out.append("| " + " | ".join(cell(row).replace("|", "\\|") for _, cell in cols)
                       + " |")
        errors = _errors(case)
        if errors:
            out.append("")
            out += [f"- {line}" for line in errors]
        out.append("")
    out += [f"- {line}" for line in legend(report)]
    return "\n".join(out) + "\n"
