"""The Parquet format's part of the benchmark suite: against raw file I/O.

Usage, from the repository root (with ``pip install -e plugins/qserial-parquet``)::

    .venv/bin/python benchmarks/bench_parquet.py            # a few minutes
    .venv/bin/python benchmarks/bench_parquet.py --quick    # smaller data: a smoke test

The same as ``benchmarks/run_suite.py --format parquet`` (which takes the same
options): ``qserial.bench`` on every scenario with Parquet, RuntimeEncoder and raw I/O
rows, then the Parquet targets of the suite (write and read within 10x of raw I/O,
reading 1 pub of 100), and the time of reading without the digest check. Exits with
status 1 if a target fails.
"""

from __future__ import annotations

import sys

import run_suite

if __name__ == "__main__":
    sys.exit(run_suite.main(["--format", "parquet", *sys.argv[1:]]))
