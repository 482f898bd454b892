"""Parquet format on the 40 MB sweep, as ratios against raw file I/O of the same bytes.

The sweep: a PrimitiveResult of 100 SamplerPubResult, each DataBin(shape=(20,)) with
meas = BitArray of array shape (20, 4096, 4), num_bits=30, random bits. Best of 5,
page cache warm. Prints write and read ratios and the cost of reading 1 pub of 100.

Run from the repository root: ``python benchmarks/bench_parquet.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import fmt_time, format_table, measure, raw_io, result_arrays

import qserial


def sweep(pubs: int = 100, params: int = 20, shots: int = 4096, num_bits: int = 30,
          seed: int = 0):
    """Return the parameter-sweep PrimitiveResult with random bits."""
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(seed)
    nbytes = (num_bits + 7) // 8
    results = []
    for _ in range(pubs):
        array = rng.integers(0, 256, size=(params, shots, nbytes), dtype=np.uint8)
        array[..., 0] &= (1 << (num_bits - 8 * (nbytes - 1))) - 1  # padding bits zero
        results.append(SamplerPubResult(DataBin(shape=(params,), meas=BitArray(array, num_bits)),
                                        metadata={"shots": shots}))
    return PrimitiveResult(results, metadata={"version": 2})


def main() -> None:
    result = sweep()
    arrays = result_arrays(result)
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as folder:
        raw_w, raw_r = raw_io(arrays, folder)
        path = os.path.join(folder, "sweep.parquet")
        write = measure(lambda: qserial.dump(result, path))
        read = measure(lambda: qserial.load(path))
        one = measure(lambda: qserial.load(path, pubs=[37]))
        size = os.path.getsize(path)
    rows = [
        ["raw I/O", fmt_time(raw_w.best), fmt_time(raw_r.best), "1.0", "1.0"],
        ["parquet", fmt_time(write.best), fmt_time(read.best),
         f"{write.best / raw_w.best:.1f}", f"{read.best / raw_r.best:.1f}"],
    ]
    print(f"sweep: {sum(a.nbytes for a in arrays) / 1e6:.1f} MB of arrays, "
          f"parquet file {size / 1e6:.1f} MB")
    print(format_table(["", "write", "read", "write/raw", "read/raw"], rows))
    print(f"read 1 pub of 100: {fmt_time(one.best)} = 1/{read.best / one.best:.0f} "
          "of the full read")


if __name__ == "__main__":
    main()
