"""qserial's benchmark suite: the formats on every scenario, and the speed and memory targets.

Usage, from the repository root::

    .venv/bin/python benchmarks/run_suite.py                 # about 2-3 minutes
    .venv/bin/python benchmarks/run_suite.py --update-docs   # ... and rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/run_suite.py --quick         # smaller data: a smoke test
    .venv/bin/python benchmarks/run_suite.py --json out.json # keep every figure
    .venv/bin/python benchmarks/run_suite.py --format hdf5   # one format's part of it
    .venv/bin/python benchmarks/run_suite.py --sweep         # ... and every declared option

Everything is measured in this one run with :mod:`qserial.bench` (the code behind
``qserial bench``), and the targets are ratios between figures of the same run, so
that they hold on any machine. Times are the best of the samples: the least disturbed
by the rest of the machine. Prints the tables, then one PASS/FAIL line per target;
exits with status 1 if a target fails. The ``bench_<format>.py`` scripts beside this one
run it with ``--format``, adding reads particular to their format.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import qserial
from qserial import bench, scenarios
from qserial.formats import KNOWN_FORMATS, list_formats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
COMMAND = ".venv/bin/python benchmarks/run_suite.py --update-docs"

#: The project's own formats; other installed plugins are left out of the tracked table.
OWN_FORMATS = ["json", *KNOWN_FORMATS]
#: Modules ``import qserial`` must not load.
BACKENDS = ["h5py", "pyarrow", "msgpack", "xxhash", "fsspec", "matplotlib",
            "qiskit_ibm_runtime"]
PARTIAL_PUB = 37


@dataclass
class Target:
    """A target: ``measured`` must be ``op`` (``"<="`` or ``">="``) ``bound``."""

    name: str
    how: str
    measured: float | None
    op: str
    bound: float
    #: The format the target is about; None for qserial as a whole.
    fmt: str | None = None

    @property
    def ok(self) -> bool:
        if self.measured is None:
            return False
        return self.measured <= self.bound if self.op == "<=" else self.measured >= self.bound


def _rows(report: dict[str, Any], case: str) -> dict[str, dict[str, Any]]:
    for c in report["cases"]:
        if c["name"] == case:
            return {row["subject"]: row for row in c["rows"]}
    return {}


def _best(row: dict[str, Any] | None, what: str) -> float | None:
    timing = (row or {}).get(what)
    return timing["best_s"] if timing else None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def small_roundtrips(repeat: int, formats: Sequence[str]) -> dict[str, bench.Timing]:
    """In-memory dumps + loads of the small result, against RuntimeEncoder + RuntimeDecoder."""
    from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

    from qserial.testing import assert_equal

    result = scenarios.small_sampler()
    steps = {"runtime": bench.Step(lambda: json.loads(json.dumps(result, cls=RuntimeEncoder),
                                                      cls=RuntimeDecoder))}
    for name in ("json", "msgpack"):
        if name in formats:
            assert_equal(qserial.loads(qserial.dumps(result, format=name)), result,
                         exact=name != "json")
            steps[name] = bench.Step(
                lambda name=name: qserial.loads(qserial.dumps(result, format=name)))
    return bench.measure_interleaved(steps, repeat=repeat, min_repeat=repeat, budget_s=10)


def partial_reads(result: Any, folder: str, repeat: int,
                  formats: Sequence[str]) -> dict[str, float]:
    """Best time of ``qserial.load(path, pubs=[one])`` over a full load, per partial format."""
    from qserial.formats import get_format
    from qserial.testing import assert_equal

    out = {}
    for name in ("hdf5", "parquet"):
        if name not in formats or not get_format(name).supports_partial:
            continue
        path = os.path.join(folder, f"sweep-partial.{name}")
        qserial.dump(result, path, format=name)
        pub = PARTIAL_PUB % len(result)
        assert_equal(qserial.load(path, pubs=[pub])[0], result[pub])
        t = bench.measure_interleaved({
            "full": bench.Step(lambda path=path: qserial.load(path)),
            "one": bench.Step(lambda path=path, pub=pub: qserial.load(path, pubs=[pub])),
        }, repeat=repeat, min_repeat=repeat, budget_s=10)
        out[name] = t["one"].best / t["full"].best
    return out


#: ``make(path)`` returns a way to read the file at ``path`` (untimed setup may happen in it).
ReadVariant = Callable[[str], Callable[[], Any]]


def other_reads(name: str, result: Any, folder: str, repeat: int,
                variants: dict[str, ReadVariant] | None = None) -> dict[str, float]:
    """Best time of other ways to read a format's file, over ``qserial.load``'s.

    Always ``verify=False`` (no digest checks), plus a format's own ``variants``, each of
    which must give back ``result``.
    """
    from qserial.testing import assert_equal

    path = os.path.join(folder, f"sweep-reads.{name}")
    qserial.dump(result, path, format=name)
    ways = {"verify=False": lambda: lambda: qserial.load(path, verify=False)}
    ways.update({label: lambda make=make: make(path) for label, make in (variants or {}).items()})
    steps = {"qserial.load": bench.Step(lambda: qserial.load(path))}
    for label, way in ways.items():
        read = way()
        assert_equal(read(), result)
        steps[label] = bench.Step(read)
    t = bench.measure_interleaved(steps, repeat=repeat, min_repeat=repeat, budget_s=10)
    return {label: t[label].best / t["qserial.load"].best for label in ways}


def import_time(repeat: int = 5) -> tuple[float, list[str]]:
    """Best time ``import qserial`` takes after numpy, in a fresh interpreter each time,
    and the backend modules it loaded."""
    code = ("import sys, time; import numpy; t = time.perf_counter(); import qserial; "
            "t = time.perf_counter() - t; "
            f"print(t, *[m for m in {BACKENDS!r} if m in sys.modules])")
    best, loaded = float("inf"), []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        best, loaded = min(best, float(out[0])), out[1:]
    return best, loaded


def targets(report: dict[str, Any], small: dict[str, bench.Timing],
            partial: dict[str, float], imports: tuple[float, list[str]] | None,
            big: str, quarter: str) -> list[Target]:
    """Every target, with its figure from this run (the import ones with ``imports``)."""
    sweep, four, ghz = _rows(report, big), _rows(report, quarter), _rows(report, "ghz")
    raw, runtime = sweep.get("raw I/O"), sweep.get("RuntimeEncoder")
    out: list[Target] = []
    for name, bound in (("msgpack", 2.0), ("hdf5", 3.0), ("parquet", 10.0)):
        for what in ("write", "read"):
            out.append(Target(f"{name} {what} / raw I/O", f"sweep, {what}, no fsync",
                              _div(_best(sweep.get(name), what), _best(raw, what)), "<=",
                              bound, name))
    out += [
        Target("json write speed-up over RuntimeEncoder", "sweep, RuntimeEncoder / json",
               _div(_best(runtime, "write"), _best(sweep.get("json"), "write")), ">=", 8.0,
               "json"),
        Target("json read of a RuntimeEncoder file, speed-up over RuntimeDecoder",
               "sweep, RuntimeDecoder / qserial.load",
               _div(_best(runtime, "read"), _best(sweep.get("json (Runtime file)"), "read")),
               ">=", 1.5, "json"),
        Target("json read of its own file, speed-up over RuntimeDecoder",
               "sweep, RuntimeDecoder (its file) / qserial.load (own file)",
               _div(_best(runtime, "read"), _best(sweep.get("json"), "read")), ">=", 3.0,
               "json"),
        # "auto" compresses at zlib level 1 (or Huffman only), not RuntimeEncoder's 6:
        # 5-10x faster, and up to a third bigger on GHZ-like shots.
        Target("json file size / RuntimeEncoder's", "ghz",
               _div((ghz.get("json") or {}).get("size"),
                    (ghz.get("RuntimeEncoder") or {}).get("size")), "<=", 1.4, "json"),
    ]
    out += compression_targets(report, big)
    for name, bound in (("msgpack", 0.3), ("json", 0.8)):
        out.append(Target(f"{name} small round trip / RuntimeEncoder+Decoder",
                          "small_sampler, dumps + loads in memory",
                          _div(small[name].best if name in small else None,
                               small["runtime"].best), "<=", bound, name))
    for what in ("write", "read"):
        # Raw I/O's own growth, for reference: the page cache and the allocator are not
        # linear either (a buffer over 32 MiB is a fresh mmap, paying a fault per page).
        floor = _div(_best(raw, what), _best(four.get("raw I/O"), what))
        for name in ("json", "msgpack", "hdf5", "parquet"):
            out.append(Target(f"{name} {what}: 4x the data / 1x",
                              f"{big} / {quarter} (raw I/O: {_fmt(floor)})",
                              _div(_best(sweep.get(name), what), _best(four.get(name), what)),
                              "<=", 4.4, name))
    for name in ("msgpack", "hdf5"):
        ratios = (sweep.get(name) or {}).get("ratios", {})
        out += [Target(f"{name} peak extra memory writing / array bytes", "sweep",
                       ratios.get("write_memory_vs_array_bytes"), "<=", 1.5, name),
                Target(f"{name} peak extra memory reading / array bytes", "sweep",
                       ratios.get("read_memory_vs_array_bytes"), "<=", 2.5, name)]
    for name in ("hdf5", "parquet"):
        out.append(Target(f"{name} read of 1 pub / full read", f"sweep, pubs=[{PARTIAL_PUB}]",
                          partial.get(name), "<=", 1 / 20, name))
    if imports is None:
        return out
    seconds, loaded = imports
    out += [Target("import qserial, beyond numpy (s)", "fresh interpreter, best of 5",
                   seconds, "<=", 0.2),
            Target("backend modules loaded by import qserial", ", ".join(loaded) or "none",
                   float(len(loaded)), "<=", 0)]
    return out


#: Scenarios whose shots compress: every binary format's file must beat JSON's there.
COMPRESSIBLE = ("ghz", "biased_sweep", "mixed_sweep", "aer_ghz", "aer_qaoa")
BINARY = ("msgpack", "hdf5", "parquet")


def _case(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next((c for c in report["cases"] if c["name"] == name), {})


def compression_targets(report: dict[str, Any], uniform: str) -> list[Target]:
    """The targets of compressed storage: sizes, entropy, the cost of compressing."""
    out: list[Target] = []
    for case in COMPRESSIBLE:
        rows = _rows(report, case)
        if not rows:
            continue
        json_size = (rows.get("json") or {}).get("size")
        for name in BINARY:
            out.append(Target(f"{name} file / json file", case,
                              _div((rows.get(name) or {}).get("size"), json_size), "<=", 1.0,
                              name))
    for case, bound in (("ghz", 2.0), ("aer_ghz", 2.0), ("biased_sweep", 1.5)):
        rows = _rows(report, case)
        for name in BINARY:
            ratio = ((rows.get(name) or {}).get("ratios") or {}).get("size_vs_entropy")
            out.append(Target(f"{name} file / entropy of the shots", case, ratio, "<=", bound,
                              name))
    # Compressing costs at most k x (zstd-1 of the arrays + a durable raw write of them).
    for case in ("ghz", "biased_sweep", "mixed_sweep"):
        rows = _rows(report, case)
        floor = None
        zstd, raw = _best(rows.get("raw zstd-1"), "write"), _best(rows.get("raw I/O"),
                                                                     "write_durable")
        if zstd is not None and raw is not None:
            floor = zstd + raw
        for name, bound in (("msgpack", 2.0), ("hdf5", 2.0), ("parquet", 4.0)):
            out.append(Target(f"{name} durable write / (zstd-1 + durable raw write)", case,
                              _div(_best(rows.get(name), "write_durable"), floor), "<=", bound,
                              name))
    # Incompressible data keeps raw speed: durable write and read against raw I/O's.
    rows = _rows(report, uniform)
    raw = rows.get("raw I/O")
    for name, bound in (("msgpack", 1.5), ("hdf5", 2.0), ("parquet", 5.0)):
        out.append(Target(f"{name} durable write / durable raw write", f"{uniform} (uniform)",
                          _div(_best(rows.get(name), "write_durable"),
                               _best(raw, "write_durable")), "<=", bound, name))
        out.append(Target(f"{name} read / raw read into new memory", f"{uniform} (uniform)",
                          _div(_best(rows.get(name), "read"), _best(raw, "read")), "<=", bound,
                          name))
    for case in report["cases"]:
        rows = {row["subject"]: row for row in case["rows"]}
        out.append(Target("json write speed-up over RuntimeEncoder", case["name"],
                          _div(_best(rows.get("RuntimeEncoder"), "write"),
                               _best(rows.get("json"), "write")), ">=", 8.0, "json"))
    return out


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}"


def targets_markdown(found: list[Target]) -> str:
    lines = ["| target | measured on | measured | need | |", "| --- | --- | ---: | --- | --- |"]
    for t in found:
        lines.append(f"| {t.name} | {t.how} | {_fmt(t.measured)} | {t.op} {_fmt(t.bound)} | "
                     f"{'PASS' if t.ok else '**FAIL**'} |")
    return "\n".join(lines) + "\n"


def update_docs(report: dict[str, Any], found: list[Target], quick: bool) -> None:
    """Rewrite the part of docs/benchmarks.md between the suite's markers."""
    passed = sum(t.ok for t in found)
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join([
        f"Measured {when} with `{COMMAND}`"
        + (" (**--quick: smaller data, not representative**)" if quick else "")
        + f", in {report['elapsed_s']:.0f} s.", "",
        f"### Targets: {passed} of {len(found)} pass", "",
        targets_markdown(found),
        "### All formats on every scenario", "",
        bench.render_markdown(report),
    ])
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the {START} ... {END} markers")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    text = pattern.sub(lambda _: f"{START}\n{body}\n{END}", text)
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: list[str] | None = None,
         read_variants: dict[str, ReadVariant] | None = None) -> int:
    """Run the suite; ``read_variants`` are further reads of the one format chosen."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a 20-pub sweep and fewer samples: a smoke test")
    parser.add_argument("--update-docs", action="store_true",
                        help=f"rewrite the results in {os.path.relpath(DOC, ROOT)}")
    parser.add_argument("--json", metavar="PATH", help="also save every figure as JSON")
    parser.add_argument("--repeat", type=int, default=None, help="samples per measurement")
    parser.add_argument("--format", action="append", metavar="NAME",
                        help="only this format (repeatable): its rows, its targets and other "
                             "ways to read it")
    parser.add_argument("--sweep", action="store_true",
                        help="also run each format with the option values it declares for "
                             "sweeping (Format.sweep_configs)")
    args = parser.parse_args(argv)
    if args.format and args.update_docs:
        parser.error("--update-docs records every format: leave out --format")
    for name in args.format or ():
        if name not in list_formats():
            parser.error(f"format {name!r} is not installed; installed: "
                         f"{', '.join(list_formats())}")

    repeat = args.repeat or (3 if args.quick else 7)
    pubs = 20 if args.quick else 100
    big = bench.scenario_case("sweep", pubs=pubs) if args.quick else bench.scenario_case("sweep")
    quarter = bench.scenario_case("sweep", pubs=pubs // 4)
    cases = [c for c in bench.default_cases() if c.scenario != "sweep"]
    cases = [cases[0], cases[1], big, quarter, *cases[2:]]
    formats = args.format or [f for f in OWN_FORMATS if f in list_formats()]

    def show(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def progress(description: str, advance: int) -> None:
        if advance == 0:
            show(f"  {description} ...")

    show(f"qserial {qserial.__version__}: formats {', '.join(formats)}")
    report = bench.run(cases, formats=formats, repeat=repeat, memory=True, durable=True,
                       statistic="best", progress=progress, sweep=args.sweep)
    show("  small in-memory round trips ...")
    small = small_roundtrips(repeat, formats)
    show("  partial reads ...")
    reads: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="qserial-suite-") as folder:
        partial = partial_reads(big.build(), folder, repeat, formats)
        for name in args.format or ():
            show(f"  other reads of {name} ...")
            reads[name] = other_reads(name, big.build(), folder, repeat,
                                      read_variants if len(formats) == 1 else None)
    imports = None
    if not args.format:
        show("  import time ...")
        imports = import_time()

    found = targets(report, small, partial, imports, big.name, quarter.name)
    if args.format:
        found = [t for t in found if t.fmt in formats]
    bench.print_report(report)
    print()
    print(f"Small in-memory round trip (per call, best of {repeat}): " + ", ".join(
        f"{name} {t.best * 1e6:.0f} us" for name, t in small.items()))
    for name, ratios in reads.items():
        print(f"Reading {name} on {big.name}, time over qserial.load's: " + ", ".join(
            f"{label} {_fmt(r)}" for label, r in ratios.items()))
    print()
    width = max(len(t.name) for t in found)
    for t in found:
        print(f"{'PASS' if t.ok else 'FAIL'}  {t.name:<{width}}  {_fmt(t.measured):>8} "
              f"(need {t.op} {_fmt(t.bound)}; {t.how})")
    failed = [t for t in found if not t.ok]
    print(f"\n{len(found) - len(failed)} of {len(found)} targets pass.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"report": report, "targets": [t.__dict__ | {"ok": t.ok} for t in found],
                       "small_roundtrip_s": {k: v.as_dict() for k, v in small.items()},
                       "partial_over_full": partial, "other_reads_over_load": reads,
                       "import_s": imports and imports[0],
                       "import_loaded": imports and imports[1]}, f, indent=2)
    if args.update_docs:
        update_docs(report, found, args.quick)
        print(f"Rewrote {os.path.relpath(DOC, ROOT)}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
