"""Partial and lazy reads: one pub of a sweep against the whole, and qserial.open on 1 GB.

Part 1, ``load(path, pubs=[k])`` over ``load(path)`` for HDF5 and Parquet, on sweeps of
50 and 100 pubs (20 parameter sets x 4,096 shots x 30 bits a pub, as
``qserial.scenarios.sweep``), each with execution spans in its metadata in two shapes:

- ``batched``: ``scenarios.sweep``'s own, one ``DoubleSliceSpan`` per batch of 10 pubs;
- ``twirled``: as the service reports a twirled sweep, ``TwirledSliceSpanV2`` spans of 5
  pubs each over a quarter of their shots (4 spans per 5 pubs, 80 for 100 pubs);
- ``none``: no execution spans at all, not a target: the floor of the read path, what
  opening and checking the file, reading the pub and building its objects cost alone.

Full and partial loads take turns, one call a sample (20 full loads, 100 partial ones
by default), page cache warm; the ratio is of the best times, as the tracked suite's:
on a shared machine the best time is the one least disturbed by other programs (the
ratio of the medians is printed beside it). Every partial result is checked first:
it equals ``qserial.testing.partial_result``. For the 50-pub sweeps, the same ratio is
also taken as a script loading a file once sees it (not a target): the first full
load and the first 1-pub load, each in a fresh process that has just loaded a small
file of the same format and spans (so imports are done, but the heap is new), best of
3 processes each.

Part 2, ``qserial.open`` on a file of about 1 GB (100 pubs x 20 x 65,536 shots x 64
bits, ``twirled`` spans) per lazy format, each in a fresh process that has already
imported qserial, the format's libraries and qiskit-ibm-runtime's span classes: the
time to open, to read the metadata and to read one pub, then to load the whole file,
and the growth of the peak resident memory over each (the peak is reset through
/proc/self/clear_refs before each step). Page cache warm.

Run from the repository root: ``python benchmarks/bench_partial.py`` (``--quick`` for
smaller data and a 100 MB file, ``--json PATH`` to keep the figures, ``--keep DIR`` to
reuse the 1 GB files between runs). Exits with status 1 naming a missed target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import qserial
from qserial import bench, scenarios

PUB = 37  # the pub read alone (its index modulo the number of pubs)
FORMATS = {"hdf5": ".h5", "parquet": ".parquet"}
TARGET_PARTIAL = 1 / 20
# Shapes of the sweeps' execution spans; "none" is the read path's floor, not a target.
SHAPES = ("batched", "twirled", "none")
TARGET_OPEN_S = 0.050
TARGET_OPEN_MB = 50.0
_EPOCH = dt.datetime(2025, 3, 4, 9, 30, tzinfo=dt.timezone.utc)


def twirled_spans(pubs: int, params: int, shots: int, seed: int = 1) -> Any:
    """Spans of a twirled sweep: 5 pubs a span, each over a quarter of its shots."""
    from qiskit_ibm_runtime.execution_span import ExecutionSpans, TwirledSliceSpanV2

    rng = np.random.default_rng(seed)
    spans, start = [], _EPOCH
    # 32 randomizations of shots/32 shots each, as the twirling options lay them out.
    randomizations, per = 32, shots // 32
    for first in range(0, pubs, 5):
        for quarter in range(4):
            stop = start + dt.timedelta(seconds=float(rng.uniform(0.5, 4.0)))
            lo, hi = quarter * randomizations // 4, (quarter + 1) * randomizations // 4
            slices = {i: ((randomizations, params, per), True, slice(lo, hi), slice(0, per),
                          shots) for i in range(first, min(first + 5, pubs))}
            spans.append(TwirledSliceSpanV2(start, stop, slices))
            start = stop + dt.timedelta(seconds=float(rng.uniform(0.01, 0.2)))
    return ExecutionSpans(spans)


def sweep(pubs: int, shots: int, bits: int, spans: str) -> Any:
    from qiskit.primitives.containers import PrimitiveResult

    result = scenarios.sweep(pubs=pubs, params=20, shots=shots, bits=bits)
    if spans == "batched":
        return result
    metadata = {k: v for k, v in result.metadata.items() if k != "execution"}
    if spans == "twirled":
        metadata["execution"] = {"execution_spans": twirled_spans(pubs, 20, shots)}
    return PrimitiveResult(list(result), metadata=metadata)


def interleaved(full: Any, one: Any, repeat: int) -> tuple[list[float], list[float]]:
    """Times of single calls of ``full`` and (5 times as many) of ``one``, taking turns.

    One call a sample: a loop of loads would let each reuse the memory the one before
    freed, which a program loading a file once does not get.
    """
    full(), one()  # warm-up: imports, page cache
    times: tuple[list[float], list[float]] = ([], [])
    # With Qiskit imported a full collection takes 0.1 s or more; as qserial.bench does,
    # the objects that exist before timing are frozen, so collections see only new ones.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeat):
            for fn, out, n in ((full, times[0], 1), (one, times[1], 5)):
                for _ in range(n):
                    t0 = time.perf_counter()
                    fn()
                    out.append(time.perf_counter() - t0)
    finally:
        gc.unfreeze()
    return times


def partial_ratios(folder: str, quick: bool, repeat: int) -> list[dict[str, Any]]:
    from qserial.testing import assert_equal, partial_result

    rows = []
    shots = 1024 if quick else 4096
    for pubs in (50, 100):
        for spans in SHAPES:
            result = sweep(pubs, shots, 30, spans)
            pub = PUB % pubs
            expected = partial_result(result, [pub])
            for name, suffix in FORMATS.items():
                if name not in qserial.list_formats():
                    continue
                path = os.path.join(folder, f"sweep-{pubs}-{spans}{suffix}")
                qserial.dump(result, path)
                assert_equal(qserial.load(path, pubs=[pub]), expected)
                full, one = interleaved(lambda path=path: qserial.load(path),
                                        lambda path=path, pub=pub: qserial.load(path, pubs=[pub]),
                                        repeat)
                first = {}
                if pubs == 50:
                    warm = os.path.join(folder, f"warm-{spans}{suffix}")
                    qserial.dump(sweep(5, 64, 30, spans), warm)
                    first = first_loads(path, warm, pub, 1 if quick else 3)
                rows.append({
                    "format": name, "pubs": pubs, "spans": spans,
                    "spans_count": len(result.metadata.get("execution", {}).get(
                        "execution_spans", ())),
                    "file_bytes": os.path.getsize(path),
                    "full_s": min(full), "one_s": min(one),
                    "ratio": min(one) / min(full),
                    "median_ratio": statistics.median(one) / statistics.median(full),
                    **first,
                })
                os.unlink(path)
                row = rows[-1]
                print(f"  {name:8} {pubs:3} pubs, {spans:7} spans ({row['spans_count']:2}): "
                      f"full {row['full_s'] * 1e3:7.2f} ms, 1 pub {row['one_s'] * 1e3:6.3f} ms, "
                      f"ratio {row['ratio']:.4f} (median {row['median_ratio']:.4f})"
                      + (f"; first load in a fresh process: full {first['first_full_s'] * 1e3:.2f}"
                         f" ms, 1 pub {first['first_one_s'] * 1e3:.3f} ms, ratio "
                         f"{first['first_ratio']:.4f}" if first else ""),
                      flush=True)
    return rows


# Run in a fresh process: the first load of a file, whole or one pub, after the loads of
# a small file of the same format and spans have imported what loading needs.
FIRST_LOAD = r"""
import sys, time
import qserial
path, warm, pubs = sys.argv[1], sys.argv[2], sys.argv[3]
qserial.load(warm)
qserial.load(warm, pubs=[0])
pubs = None if pubs == "all" else [int(pubs)]
t0 = time.perf_counter()
qserial.load(path, pubs=pubs)
print(time.perf_counter() - t0)
"""


def first_loads(path: str, warm: str, pub: int, runs: int) -> dict[str, float]:
    """Best times of a first full load and a first 1-pub load, each in a fresh process."""
    def best(pubs: str) -> float:
        return min(float(subprocess.run([sys.executable, "-c", FIRST_LOAD, path, warm, pubs],
                                        capture_output=True, text=True, check=True).stdout)
                   for _ in range(runs))

    full, one = best("all"), best(str(pub))
    return {"first_full_s": full, "first_one_s": one, "first_ratio": one / full}


# Run in a fresh process: open a file, read its metadata, read one pub; time and memory.
PROBE = r"""
import json, os, resource, sys, time
import qserial
path, fmt = sys.argv[1], sys.argv[2]
# The format's libraries are imported before timing: opening is what is measured.
if fmt == "hdf5":
    import h5py, qserial_hdf5._lazy, qserial_hdf5._reader  # noqa: F401
else:
    import pyarrow.parquet, qserial_parquet._lazy  # noqa: F401
qserial.formats.get_format(fmt)
# So is qiskit-ibm-runtime, whose span classes the metadata holds (over a second).
import qiskit_ibm_runtime.execution_span  # noqa: F401

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def peak_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

out = {}
def step(name, fn):
    reset_peak()
    before = rss_kb()
    t0 = time.perf_counter()
    value = fn()
    out[name + "_s"] = time.perf_counter() - t0
    out[name + "_peak_mb"] = (peak_kb() - before) / 1024
    return value

result = step("open", lambda: qserial.open(path))
step("metadata", lambda: result.metadata)
pub = step("pub", lambda: result[37 % len(result)])
out["pub_bytes"] = int(pub.data.meas.array.nbytes)
out["pubs"] = len(result)
out["lazy"] = result.lazy
result.close()
del result, pub
whole = step("full", lambda: qserial.load(path))
out["full_bytes"] = sum(int(bits.array.nbytes) for res in whole for bits in res.data.values())
print(json.dumps(out))
"""


def big_file(folder: str, name: str, quick: bool) -> str:
    path = os.path.join(folder, f"big{FORMATS[name]}")
    if not os.path.exists(path):
        shots = 8192 if quick else 65536
        print(f"  writing {path} ...", flush=True)
        qserial.dump(sweep(100, shots, 64, "twirled"), path)
    return path


def open_costs(folder: str, quick: bool, runs: int) -> list[dict[str, Any]]:
    rows = []
    for name in FORMATS:
        if name not in qserial.list_formats():
            continue
        path = big_file(folder, name, quick)
        samples = []
        for _ in range(runs):
            proc = subprocess.run([sys.executable, "-c", PROBE, path, name],
                                  capture_output=True, text=True, check=True)
            samples.append(json.loads(proc.stdout))
        # The best time and the smallest peak of the runs (the page cache is warm).
        row = {"format": name, "file_bytes": os.path.getsize(path), "runs": runs,
               **{k: min(s[k] for s in samples) for k in samples[0]
                  if k.endswith(("_s", "_mb"))},
               "pub_bytes": samples[0]["pub_bytes"], "full_bytes": samples[0]["full_bytes"],
               "lazy": samples[0]["lazy"]}
        rows.append(row)
        print(f"  {name:8} {row['file_bytes'] / 1e9:.2f} GB: open {row['open_s'] * 1e3:.1f} ms "
              f"(+{row['open_peak_mb']:.1f} MB peak), metadata {row['metadata_s'] * 1e3:.1f} ms "
              f"(+{row['metadata_peak_mb']:.1f} MB), 1 pub of {row['pub_bytes'] / 1e6:.1f} MB "
              f"{row['pub_s'] * 1e3:.1f} ms (+{row['pub_peak_mb']:.1f} MB); full load "
              f"{row['full_s']:.2f} s (+{row['full_peak_mb']:.0f} MB, "
              f"{row['full_peak_mb'] * 2**20 / row['full_bytes']:.2f}x the arrays)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sweeps and big file")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--keep", help="folder for the big files, kept between runs")
    parser.add_argument("--repeat", type=int, default=20, help="full loads timed per case")
    args = parser.parse_args(argv)
    failed = []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        print("load(path, pubs=[k]) / load(path):", flush=True)
        partial = partial_ratios(tmp, args.quick, args.repeat)
        keep = args.keep or tmp
        os.makedirs(keep, exist_ok=True)
        print("qserial.open and a full load, fresh process:", flush=True)
        opened = open_costs(keep, args.quick, runs=3)
    for row in partial:
        if row["spans"] != "none" and row["ratio"] > TARGET_PARTIAL:
            failed.append(f"{row['format']} 1 of {row['pubs']} pubs ({row['spans']} spans): "
                          f"{row['ratio']:.4f} > {TARGET_PARTIAL:.4f}")
    for row in opened:
        if row["open_s"] > TARGET_OPEN_S or row["open_peak_mb"] > TARGET_OPEN_MB:
            failed.append(f"{row['format']} open: {row['open_s'] * 1e3:.1f} ms, "
                          f"{row['open_peak_mb']:.1f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"partial": partial, "open": opened,
                       "machine": bench.machine_info()}, f, indent=1)
    for line in failed:
        print(f"FAIL {line}")
    if not failed:
        print("every target met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
