"""qserial's JSON format against qiskit-ibm-runtime's RuntimeEncoder/RuntimeDecoder.

Usage::

    python benchmarks/bench_json.py            # full run, best of 5 after a warm-up
    python benchmarks/bench_json.py --quick    # best of 3, a quarter-size sweep
    python benchmarks/bench_json.py --json     # machine-readable output on stdout

Every figure is measured in this one run, on files in a temporary folder (page cache
warm). The script exits with status 1, naming the target, if a target ratio fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import (
    Timing,
    fmt_size,
    fmt_time,
    format_table,
    measure_many,
    raw_io,
    result_arrays,
)

import qserial
from qserial import scenarios
from qserial.testing import assert_equal

# (what, ratio key, comparison, bound)
TARGETS = [
    ("sweep write: RuntimeEncoder / qserial", "sweep_write_speedup", ">=", 8.0),
    ("sweep read of a RuntimeEncoder file: RuntimeDecoder / qserial",
     "sweep_read_runtime_file_speedup", ">=", 1.5),
    ("sweep read of qserial's own file: RuntimeDecoder / qserial",
     "sweep_read_own_file_speedup", ">=", 3.0),
    ("ghz file size: qserial / RuntimeEncoder", "ghz_size_ratio", "<=", 1.2),
    ("small in-memory round trip: qserial / Runtime", "small_roundtrip_ratio", "<=", 0.8),
]


def _runtime() -> tuple[type, type]:
    from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

    return RuntimeEncoder, RuntimeDecoder


def bench_files(name: str, result: Any, folder: str, repeat: int) -> dict[str, Any]:
    """Write and read ``result`` as files with RuntimeEncoder and with qserial."""
    enc, dec = _runtime()
    rt_path = os.path.join(folder, f"{name}.runtime.json")
    qs_path = os.path.join(folder, f"{name}.qserial.json")

    def rt_write() -> None:
        with open(rt_path, "w") as f:
            json.dump(result, f, cls=enc)

    def qs_write() -> None:
        qserial.dump(result, qs_path)  # atomic: temp file, fsync, rename

    def qs_write_stream() -> None:
        # Like the RuntimeEncoder baseline: an open file, no fsync.
        with open(qs_path + ".stream", "wb") as f:
            qserial.dump(result, f)

    def rt_read(path: str) -> Callable[[], Any]:
        def read() -> Any:
            with open(path) as f:
                return json.load(f, cls=dec)
        return read

    def qs_read(path: str) -> Callable[[], Any]:
        return lambda: qserial.load(path)

    out: dict[str, Any] = {"array_bytes": sum(a.nbytes for a in result_arrays(result))}
    out["raw_write"], out["raw_read"] = raw_io(result_arrays(result), folder, repeat=repeat)
    out.update(measure_many({"runtime_write": rt_write, "qserial_write": qs_write,
                             "qserial_write_to_open_file": qs_write_stream}, repeat=repeat))
    out.update(measure_many({
        "runtime_read_runtime_file": rt_read(rt_path),
        "qserial_read_runtime_file": qs_read(rt_path),
        "qserial_read_own_file": qs_read(qs_path),
    }, repeat=repeat))
    out["runtime_size"] = os.path.getsize(rt_path)
    out["qserial_size"] = os.path.getsize(qs_path)

    # The figures only count if every path gives back the same result.
    assert_equal(qs_read(qs_path)(), result)
    assert_equal(qs_read(rt_path)(), result, exact=False)
    assert_equal(rt_read(qs_path)(), result, exact=False)
    return out


def bench_small_roundtrip(result: Any, repeat: int, number: int = 200) -> dict[str, Timing]:
    """In-memory dumps + loads of a small result, per call (mean of ``number`` calls)."""
    enc, dec = _runtime()

    def loop(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(number):
                fn()
        return run

    assert_equal(qserial.loads(qserial.dumps(result)), result)
    timings = measure_many({
        "runtime_roundtrip": loop(lambda: json.loads(json.dumps(result, cls=enc), cls=dec)),
        "qserial_roundtrip": loop(lambda: qserial.loads(qserial.dumps(result))),
    }, repeat=repeat)
    return {name: Timing([x / number for x in t.times]) for name, t in timings.items()}


def run(quick: bool = False) -> dict[str, Any]:
    """Run every measurement; return figures, ratios and target verdicts."""
    repeat = 3 if quick else 5
    builders = {
        "sweep": lambda: scenarios.sweep(pubs=25 if quick else 100),
        "ghz": scenarios.ghz,
        "big_sampler": scenarios.big_sampler,
        "estimator": scenarios.estimator,
    }
    report: dict[str, Any] = {"quick": quick, "repeat": repeat, "machine": _machine(),
                              "scenarios": {}}
    with tempfile.TemporaryDirectory(prefix="qserial-bench-") as folder:
        for name, build in builders.items():
            report["scenarios"][name] = bench_files(name, build(), folder, repeat)
    report["scenarios"]["small_sampler"] = bench_small_roundtrip(
        scenarios.small_sampler(), repeat)

    sw, gz, sm = (report["scenarios"][k] for k in ("sweep", "ghz", "small_sampler"))
    ratios = {
        "sweep_write_speedup": sw["runtime_write"].best / sw["qserial_write"].best,
        "sweep_read_runtime_file_speedup":
            sw["runtime_read_runtime_file"].best / sw["qserial_read_runtime_file"].best,
        "sweep_read_own_file_speedup":
            sw["runtime_read_runtime_file"].best / sw["qserial_read_own_file"].best,
        "ghz_size_ratio": gz["qserial_size"] / gz["runtime_size"],
        "small_roundtrip_ratio": sm["qserial_roundtrip"].best / sm["runtime_roundtrip"].best,
        "sweep_write_vs_raw": sw["qserial_write"].best / sw["raw_write"].best,
        "sweep_read_own_file_vs_raw": sw["qserial_read_own_file"].best / sw["raw_read"].best,
    }
    report["ratios"] = ratios
    report["targets"] = [
        {"target": label, "ratio": key, "measured": ratios[key], "need": f"{op} {bound}",
         "ok": ratios[key] >= bound if op == ">=" else ratios[key] <= bound}
        for label, key, op, bound in TARGETS
    ]
    return report


def _machine() -> dict[str, Any]:
    import numpy
    import qiskit_ibm_runtime

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "numpy": numpy.__version__,
            "qiskit_ibm_runtime": qiskit_ibm_runtime.__version__,
            "qserial": qserial.__version__}


def render(report: dict[str, Any]) -> str:
    """The report as text tables."""
    rows = []
    for name, figures in report["scenarios"].items():
        for key, value in figures.items():
            if isinstance(value, Timing):
                rows.append([name, key.replace("_", " "), fmt_time(value.best),
                             fmt_time(value.median), fmt_time(value.spread)])
            elif key.endswith("size") or key == "array_bytes":
                rows.append([name, key.replace("_", " "), fmt_size(value), "", ""])
    out = io.StringIO()
    m = report["machine"]
    print(f"qserial {m['qserial']} JSON vs qiskit-ibm-runtime {m['qiskit_ibm_runtime']}; "
          f"Python {m['python']}, numpy {m['numpy']}, {m['cpus']} CPUs; "
          f"best of {report['repeat']} after a warm-up"
          f"{' (quick: sweep of 25 pubs)' if report['quick'] else ''}", file=out)
    print(file=out)
    print(format_table(["scenario", "measure", "best", "median", "spread"], rows), file=out)
    print(file=out)
    r = report["ratios"]
    print(f"raw I/O floor on the sweep: qserial write {r['sweep_write_vs_raw']:.1f}x, "
          f"read {r['sweep_read_own_file_vs_raw']:.1f}x the raw time", file=out)
    print(file=out)
    print(format_table(
        ["target", "measured", "need", "ok"],
        [[t["target"], f"{t['measured']:.2f}", t["need"], "yes" if t["ok"] else "NO"]
         for t in report["targets"]],
    ), file=out)
    return out.getvalue()


def _jsonable(x: Any) -> Any:
    if isinstance(x, Timing):
        return x.as_dict()
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="best of 3 and a 25-pub sweep: seconds instead of a minute")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    if args.json:
        json.dump(_jsonable(report), sys.stdout, indent=2)
        print()
    else:
        print(render(report), end="")
    failed = [t for t in report["targets"] if not t["ok"]]
    for t in failed:
        print(f"TARGET FAILED: {t['target']}: {t['measured']:.2f}, need {t['need']}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
