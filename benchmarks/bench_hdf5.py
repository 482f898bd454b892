"""The HDF5 format against raw file I/O on the parameter sweep.

The sweep: a PrimitiveResult of 100 SamplerPubResults, each a DataBin of shape (20,)
holding meas = BitArray of array shape (20, 4096, 4) with 30 bits of random shots
(33 MB of packed shots). Raw I/O is ``os.write`` of the same array bytes to a new file
and a read of that file into newly allocated memory. Each timed write goes to a new
file, as ``qserial.dump`` does. Every measurement runs once per round, the rounds
interleaved so that a busy machine slows all of them alike; the best of the rounds is
reported (page cache warm), wall clock and, to judge a busy machine, CPU time.

Usage::

    python benchmarks/bench_hdf5.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np

import qserial
from qserial.formats import get_format


def sweep(pubs: int = 100, params: int = 20, shots: int = 4096, bits: int = 30,
          seed: int = 0):
    """The sweep result, with random bits and zero padding bits."""
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


def main(repeat: int) -> None:
    result = sweep()
    arrays = [np.ascontiguousarray(pub.data.meas.array) for pub in result]
    total = sum(a.nbytes for a in arrays)
    tree = qserial.to_tree(result)
    hdf5 = get_format("hdf5")

    with tempfile.TemporaryDirectory() as tmp:
        raw_path = os.path.join(tmp, "sweep.raw")
        path = os.path.join(tmp, "sweep.h5")

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

        cases: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
            "raw write": (raw_write, lambda: fresh(raw_path)),
            "hdf5 write": (lambda: hdf5.dump_path(tree, path), lambda: fresh(path)),
            "raw read": (raw_read, None),
            "hdf5 read": (lambda: hdf5.load_path(path), None),
            "hdf5 read, verify=False": (lambda: hdf5.load_path(path, verify=False), None),
            "qserial.load": (lambda: qserial.load(path), None),
            "qserial.load, 1 pub of 100": (lambda: qserial.load(path, pubs=[57]), None),
        }
        best = {name: float("inf") for name in cases}
        cpu = {name: float("inf") for name in cases}
        for _round in range(repeat + 1):  # the first round warms up
            for name, (fn, setup) in cases.items():
                if setup is not None:
                    setup()
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                elapsed, used = time.perf_counter() - t0, time.process_time() - c0
                if _round:
                    best[name] = min(best[name], elapsed)
                    cpu[name] = min(cpu[name], used)
        size = os.path.getsize(path)

    print(f"sweep: {total / 1e6:.1f} MB of arrays; hdf5 file {size / 1e6:.1f} MB; "
          f"best of {repeat}")
    for name, t in best.items():
        print(f"  {name:28} {t * 1e3:8.1f} ms   (CPU {cpu[name] * 1e3:6.1f} ms)")
    print(f"write ratio hdf5 / raw          {best['hdf5 write'] / best['raw write']:6.2f}x"
          "  (target <= 3x)")
    print(f"read ratio hdf5 / raw           {best['hdf5 read'] / best['raw read']:6.2f}x"
          f"  (objects too: {best['qserial.load'] / best['raw read']:.2f}x; target <= 3x)")
    one = best["qserial.load, 1 pub of 100"] / best["qserial.load"]
    print(f"1 pub of 100 / full load        1/{1 / one:.0f}  (target <= 1/20)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args().repeat)
