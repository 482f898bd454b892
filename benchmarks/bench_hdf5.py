"""The HDF5 format's part of the benchmark suite: against raw file I/O.

Usage, from the repository root (with ``pip install -e plugins/qserial-hdf5``)::

    .venv/bin/python benchmarks/bench_hdf5.py            # a few minutes
    .venv/bin/python benchmarks/bench_hdf5.py --quick    # smaller data: a smoke test

The same as ``benchmarks/run_suite.py --format hdf5`` (which takes the same options):
``qserial.bench`` on every scenario with HDF5, RuntimeEncoder and raw I/O rows, then
the HDF5 targets of the suite (write and read within 3x of raw I/O, peak memory,
reading 1 pub of 100). Then two other reads of the sweep, as ratios to
``qserial.load``: without the digest check, and of the same file without qserial's
index after HDF5's end, which is read through HDF5 (each dataset opened and checked).
Exits with status 1 if a target fails.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

import run_suite

import qserial


def through_hdf5(path: str) -> Callable[[], Any]:
    """A load of the file at ``path`` cut at HDF5's own end: no index, so through HDF5."""
    with open(path, "rb") as f:
        data = f.read()
    bare = path + ".bare.h5"
    with open(bare, "wb") as f:  # HDF5's end of file: in the superblock, at byte 28
        f.write(data[:struct.unpack_from("<Q", data, 28)[0]])
    return lambda: qserial.load(bare)


if __name__ == "__main__":
    sys.exit(run_suite.main(["--format", "hdf5", *sys.argv[1:]],
                            read_variants={"through HDF5 (no index)": through_hdf5}))
