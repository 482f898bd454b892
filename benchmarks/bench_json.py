"""The JSON format's part of the benchmark suite: against RuntimeEncoder/RuntimeDecoder.

Usage, from the repository root::

    .venv/bin/python benchmarks/bench_json.py            # a few minutes
    .venv/bin/python benchmarks/bench_json.py --quick    # smaller data: a smoke test

The same as ``benchmarks/run_suite.py --format json`` (which takes the same options):
``qserial.bench`` on every scenario with JSON, RuntimeEncoder and raw I/O rows, then the
JSON targets of the suite, and the time of reading without the digest check. Exits
with status 1 if a target fails.
"""

from __future__ import annotations

import sys

import run_suite

if __name__ == "__main__":
    sys.exit(run_suite.main(["--format", "json", *sys.argv[1:]]))
