"""The msgpack format's part of the benchmark suite: against raw file I/O.

Usage, from the repository root (with ``pip install -e plugins/qserial-msgpack``)::

    .venv/bin/python benchmarks/bench_msgpack.py            # a few minutes
    .venv/bin/python benchmarks/bench_msgpack.py --quick    # smaller data: a smoke test

The same as ``benchmarks/run_suite.py --format msgpack`` (which takes the same
options): ``qserial.bench`` on every scenario with msgpack, RuntimeEncoder and raw I/O
rows, then the msgpack targets of the suite (write and read within 2x of raw I/O,
peak memory, the small in-memory round trip against RuntimeEncoder + RuntimeDecoder),
and the time of reading without the digest check. Exits with status 1 if a target
fails.
"""

from __future__ import annotations

import sys

import run_suite

if __name__ == "__main__":
    sys.exit(run_suite.main(["--format", "msgpack", *sys.argv[1:]]))
