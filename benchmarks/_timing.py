"""Timing helpers shared by the benchmark scripts in this folder.

* :func:`measure` -- run a callable after warm-up, return every timing (best, median,
  spread); :func:`measure_many` -- the same for several callables taking turns, so that
  a busy spell of the machine slows all of them alike and their ratios stay fair;
* :func:`result_arrays` -- the numpy arrays a result holds, i.e. the bytes any format
  must store;
* :func:`raw_io` -- the floor: ``os.write`` of those bytes to one file, and a read of
  that file into newly allocated memory;
* :func:`format_table` -- a plain text table.

Run from the repository root (``python benchmarks/bench_x.py``) or import with
``benchmarks`` on ``sys.path``.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Timing", "measure", "measure_many", "result_arrays", "raw_io", "format_table",
           "fmt_time", "fmt_size"]


@dataclass
class Timing:
    """Wall-clock times of repeated runs, in seconds."""

    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """Fastest run: the least disturbed by the rest of the machine."""
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """Slowest minus fastest run."""
        return max(self.times) - min(self.times)

    def as_dict(self) -> dict[str, Any]:
        return {"best_s": self.best, "median_s": self.median, "spread_s": self.spread,
                "times_s": self.times}


def measure(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1,
            setup: Callable[[], Any] | None = None) -> Timing:
    """Time ``fn()`` ``repeat`` times after ``warmup`` untimed runs.

    Garbage collection is run before and disabled during each timed call, so one
    run does not pay for another's garbage. ``setup`` (untimed) runs before each call.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    timing = Timing()
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            timing.times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return timing


def measure_many(fns: dict[str, Callable[[], Any]], *, repeat: int = 5,
                 warmup: int = 1) -> dict[str, Timing]:
    """Time each of ``fns`` like :func:`measure`, running them in turn each round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    timings = {name: Timing() for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                fn()
                timings[name].times.append(time.perf_counter() - t0)
            finally:
                gc.enable()
    return timings


def result_arrays(obj: Any) -> list[np.ndarray]:
    """Return the numpy arrays held anywhere in ``obj`` (via its qserial tree)."""
    from qserial.codec import to_tree
    from qserial.tree import Node

    found: list[np.ndarray] = []
    stack = [to_tree(obj)]
    while stack:
        x = stack.pop()
        if type(x) is np.ndarray:
            found.append(x)
        elif type(x) is Node:
            stack.append(x.value)
        elif type(x) is list:
            stack.extend(reversed(x))
        elif type(x) is dict:
            stack.extend(reversed(list(x.values())))
    return found


def raw_io(arrays: Sequence[np.ndarray], folder: str, *, repeat: int = 5,
           warmup: int = 1) -> tuple[Timing, Timing]:
    """Time the floor for storing ``arrays``: their bytes written and read back raw.

    Write: ``os.write`` of each array's buffer to a new file (no fsync, page cache).
    Read: one ``readinto`` of the whole file into a newly allocated buffer.

    Returns
    -------
    (write, read)
        The two timings.
    """
    path = os.path.join(folder, "raw.bin")
    buffers = [memoryview(np.ascontiguousarray(a)).cast("B") for a in arrays]
    total = sum(len(b) for b in buffers)

    def write() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for b in buffers:
                while b:
                    b = b[os.write(fd, b):]
        finally:
            os.close(fd)

    def read() -> None:
        out = np.empty(total, dtype=np.uint8)
        with open(path, "rb", buffering=0) as f:
            view, n = memoryview(out), 0
            while n < total:
                got = f.readinto(view[n:])
                if not got:
                    raise OSError("short read")
                n += got

    w = measure(write, repeat=repeat, warmup=warmup)
    r = measure(read, repeat=repeat, warmup=warmup)
    os.unlink(path)
    return w, r


def fmt_time(seconds: float) -> str:
    """Seconds as a short human string (``"2.41 s"``, ``"37.0 ms"``, ``"412 us"``)."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def fmt_size(nbytes: float) -> str:
    """Bytes as a short human string in decimal units."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{int(nbytes)} B"


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned first column, right-aligned others."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        parts = [row[0].ljust(widths[0]), *rest]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
