"""The HDF5 format against raw file I/O on the parameter sweep.

The sweep (the one the project's speed targets name): 100 ``SamplerPubResult`` of
shape (20,), each ``meas`` a BitArray of 4096 shots x 30 random bits (33 MB of packed
shots). With ``--spans`` it is ``qserial.scenarios.sweep()`` instead, the same data with
the execution spans a service result carries in its metadata. Raw I/O is ``os.write``
of the same array bytes to a new file and a read of that file into newly allocated
memory. Each timed write goes to a new file, as ``qserial.dump`` does. The
measurements take turns round by round, so that a busy machine slows all of them
alike, timed as ``qserial.bench`` times (see :func:`interleaved`); the best round is
reported (page cache warm), and the median beside it.

Targets: write and read within 3x of raw I/O; ``qserial.load`` of 1 pub of 100 at most
1/20 of a full ``qserial.load``. The script exits with status 1 if one is missed.

Usage::

    python benchmarks/bench_hdf5.py             # best of 15 rounds
    python benchmarks/bench_hdf5.py --quick     # best of 5
    python benchmarks/bench_hdf5.py --cpu       # CPU time: steadier on a busy machine
    python benchmarks/bench_hdf5.py --spans     # the sweep with execution spans
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import qserial
from qserial.formats import get_format
from qserial.testing import assert_equal

PARTIAL_PUB = 37


def sweep(pubs: int = 100, params: int = 20, shots: int = 4096, bits: int = 30,
          seed: int = 0):
    """The sweep, with random bits and zero padding bits."""
    from qiskit.primitives.containers import (
        BitArray,
        DataBin,
        PrimitiveResult,
        SamplerPubResult,
    )

    rng = np.random.default_rng(seed)
    nbytes = (bits + 7) // 8
    results = []
    for _ in range(pubs):
        arr = rng.integers(0, 256, size=(params, shots, nbytes), dtype=np.uint8)
        arr[..., 0] &= (1 << (bits - 8 * (nbytes - 1))) - 1
        data = DataBin(meas=BitArray(arr, bits), shape=(params,))
        results.append(SamplerPubResult(data, metadata={"shots": shots,
                                                        "circuit_metadata": {}}))
    return PrimitiveResult(results, metadata={"version": 2})


def interleaved(cases: dict[str, tuple[Callable[[], object], Callable[[], object] | None]],
                rounds: int, clock: Callable[[], float]) -> dict[str, list[float]]:
    """Per-call times of each case ``(fn, setup)`` over ``rounds`` rounds.

    As ``qserial.bench`` times: after a warm-up call, a case quicker than 20 ms is
    called enough times in a row to fill 20 ms per sample; the garbage collector runs
    before each sample (on what the samples made: the rest is frozen) and is paused
    during it.
    """
    number = {}
    for name, (fn, setup) in cases.items():
        if setup is not None:
            setup()
        t0 = clock()
        fn()
        number[name] = max(1, math.ceil(0.02 / max(clock() - t0, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in cases}
    gc.collect()
    gc.freeze()
    try:
        for _ in range(rounds):
            for name, (fn, setup) in cases.items():
                total = 0.0
                gc.collect()
                gc.disable()
                try:
                    for _ in range(number[name]):
                        if setup is not None:
                            setup()
                        t0 = clock()
                        fn()
                        total += clock() - t0
                finally:
                    gc.enable()
                times[name].append(total / number[name])
    finally:
        gc.unfreeze()
    return times


def main(rounds: int, clock: Callable[[], float], spans: bool) -> int:
    if spans:
        from qserial.scenarios import sweep as with_spans

        result = with_spans()
    else:
        result = sweep()
    arrays = [np.ascontiguousarray(pub.data.meas.array) for pub in result]
    total = sum(a.nbytes for a in arrays)
    tree = qserial.to_tree(result)
    hdf5 = get_format("hdf5")

    with tempfile.TemporaryDirectory() as tmp:
        raw_path = os.path.join(tmp, "sweep.raw")
        path = os.path.join(tmp, "sweep.h5")
        bare = os.path.join(tmp, "bare.h5")  # without qserial's index: read through HDF5
        hdf5.dump_path(tree, path)
        with open(path, "rb") as f:
            data = f.read()
        with open(bare, "wb") as f:  # HDF5's end of file: in the superblock, at byte 28
            f.write(data[:struct.unpack_from("<Q", data, 28)[0]])
        for p in (path, bare):
            assert_equal(qserial.load(p), result)
        assert_equal(qserial.load(path, pubs=[PARTIAL_PUB])[0], result[PARTIAL_PUB])

        def fresh(p: str) -> None:
            if os.path.exists(p):
                os.unlink(p)

        def raw_write() -> None:
            fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for a in arrays:
                    view = memoryview(a).cast("B")
                    while view:
                        view = view[os.write(fd, view):]
            finally:
                os.close(fd)

        def raw_read() -> None:
            out = np.empty(total, dtype=np.uint8)
            with open(raw_path, "rb", buffering=0) as f:
                view, n = memoryview(out), 0
                while n < total:
                    n += f.readinto(view[n:])

        cases = {
            "raw write": (raw_write, lambda: fresh(raw_path)),
            "hdf5 write": (lambda: hdf5.dump_path(tree, path), lambda: fresh(path)),
            "raw read": (raw_read, None),
            "hdf5 read": (lambda: hdf5.load_path(path), None),
            "hdf5 read, verify=False": (lambda: hdf5.load_path(path, verify=False), None),
            "hdf5 read through HDF5": (lambda: hdf5.load_path(bare), None),
            "qserial.load": (lambda: qserial.load(path), None),
            "qserial.load, 1 pub of 100": (lambda: qserial.load(path, pubs=[PARTIAL_PUB]),
                                           None),
        }
        times = interleaved(cases, rounds, clock)
        size = os.path.getsize(path)

    best = {name: min(t) for name, t in times.items()}
    unit = "CPU" if clock is time.process_time else "wall"
    print(f"sweep{' with execution spans' if spans else ''}: {total / 1e6:.1f} MB of arrays; "
          f"hdf5 file {size / 1e6:.1f} MB; "
          f"{unit} time, best (median) of {rounds} rounds")
    for name, t in times.items():
        print(f"  {name:28} {min(t) * 1e3:8.2f} ms  ({statistics.median(t) * 1e3:.2f})")
    ratios = [
        ("write / raw write", best["hdf5 write"] / best["raw write"], 3.0),
        ("read / raw read", best["hdf5 read"] / best["raw read"], 3.0),
        ("1 pub of 100 / full qserial.load",
         best["qserial.load, 1 pub of 100"] / best["qserial.load"], 1 / 20),
    ]
    missed = 0
    for label, value, target in ratios:
        ok = value <= target
        missed += not ok
        shown = f"1/{1 / value:.0f}" if target < 1 else f"{value:.2f}x"
        limit = f"1/{1 / target:.0f}" if target < 1 else f"{target:g}x"
        print(f"{label:34} {shown:>7}  (target <= {limit}){'' if ok else '  MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 15)")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--cpu", action="store_true", help="time CPU use, not wall time")
    parser.add_argument("--spans", action="store_true",
                        help="qserial.scenarios.sweep(): execution spans in the metadata")
    args = parser.parse_args()
    n = args.repeat or (5 if args.quick else 15)
    sys.exit(main(n, time.process_time if args.cpu else time.perf_counter, args.spans))
