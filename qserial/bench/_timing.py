"""Timing: warm-up, calibrated samples, and several operations taking turns."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Step", "Timing", "measure_interleaved"]

K = TypeVar("K", bound=Hashable)

#: A sample shorter than this repeats the operation, so timer resolution and the
#: cost of the loop itself stay below 1% of what is measured.
MIN_SAMPLE_S = 0.02
#: At most this many calls in one sample.
MAX_NUMBER = 10_000


@dataclass
class Timing:
    """Per-call wall-clock times of repeated samples, in seconds.

    Attributes
    ----------
    times
        One per-call time per sample.
    number
        Calls per sample (more than 1 for operations too quick to time one by one).
    """

    times: list[float] = field(default_factory=list)
    number: int = 1

    @property
    def best(self) -> float:
        """Fastest sample: the one least disturbed by the rest of the machine."""
        return min(self.times)

    @property
    def median(self) -> float:
        """Median sample."""
        return statistics.median(self.times)

    @property
    def worst(self) -> float:
        """Slowest sample."""
        return max(self.times)

    @property
    def spread(self) -> float:
        """Slowest minus fastest sample, relative to the median (0.05: 5%)."""
        return (self.worst - self.best) / self.median if self.median > 0 else 0.0

    def stat(self, name: str) -> float:
        """The statistic ``name``: ``"median"`` or ``"best"``."""
        return self.best if name == "best" else self.median

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-able dict."""
        return {"median_s": self.median, "best_s": self.best, "worst_s": self.worst,
                "spread": self.spread, "samples": len(self.times), "number": self.number,
                "times_s": list(self.times)}


@dataclass
class Step:
    """An operation to time.

    Attributes
    ----------
    fn
        The operation; its return value is dropped after the sample.
    setup
        Run before each call, untimed (e.g. remove the file a write creates: on ext4,
        truncating a file that holds data makes the kernel flush it to disk).
    first_s
        Time of a warm-up call already made by the caller; None to make one here.
    """

    fn: Callable[[], Any]
    setup: Callable[[], Any] | None = None
    first_s: float | None = None


def _call(fn: Callable[[], Any], number: int, setup: Callable[[], Any] | None = None) -> float:
    """Per-call time of ``number`` calls of ``fn``; ``setup`` runs untimed before each."""
    gc.collect()
    gc.disable()  # one sample must not pay for another's garbage
    try:
        if setup is None:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - t0) / number
        total = 0.0
        for _ in range(number):
            setup()
            t0 = time.perf_counter()
            fn()
            total += time.perf_counter() - t0
        return total / number
    finally:
        gc.enable()


def measure_interleaved(
    steps: Mapping[K, Step],
    *,
    repeat: int = 5,
    min_repeat: int = 3,
    budget_s: float = 2.0,
    on_round: Callable[[], None] | None = None,
    errors: dict[K, BaseException] | None = None,
) -> dict[K, Timing]:
    """Time every step after a warm-up call, the steps taking turns sample by sample.

    Taking turns makes a busy spell of the machine slow every step alike, so ratios
    between steps measured together stay fair. Each step gets ``repeat`` samples, or
    fewer (never below ``min_repeat``) when that would exceed ``budget_s`` seconds.

    Parameters
    ----------
    steps
        Name -> step.
    repeat
        Samples per step when the budget allows.
    min_repeat
        Samples per step whatever the budget.
    budget_s
        Seconds of timed calls one step may use.
    on_round
        Called after each round of samples (for a progress display).
    errors
        If given, a step that raises an ``Exception`` is recorded here and dropped
        (it gets no :class:`Timing`) instead of ending the measurement.

    Returns
    -------
    dict
        Name -> :class:`Timing`.
    """
    def failed(name: K, exc: Exception) -> None:
        if errors is None:
            raise exc
        errors[name] = exc

    plan: dict[K, tuple[int, int]] = {}
    for name, step in steps.items():
        first = step.first_s
        if first is None:
            try:
                first = _call(step.fn, 1, step.setup)
            except Exception as exc:
                failed(name, exc)
                continue
        number = 1 if first >= MIN_SAMPLE_S else min(
            MAX_NUMBER, math.ceil(MIN_SAMPLE_S / max(first, 1e-7)))
        per_sample = max(first, 1e-7) * number
        samples = max(min_repeat, min(repeat, int(budget_s / per_sample)))
        plan[name] = (number, samples)
    timings = {name: Timing(number=number) for name, (number, _) in plan.items()}
    # With Qiskit imported a full collection takes 0.1-0.2 s; frozen objects are skipped,
    # so the collection before each sample only looks at what the samples create.
    gc.collect()
    gc.freeze()
    try:
        for round_ in range(max((s for _, s in plan.values()), default=0)):
            for name, step in steps.items():
                number, samples = plan.get(name, (0, 0))
                if round_ >= samples:
                    continue
                try:
                    timings[name].times.append(_call(step.fn, number, step.setup))
                except Exception as exc:
                    failed(name, exc)
                    plan[name] = (number, 0)
            if on_round is not None:
                on_round()
    finally:
        gc.unfreeze()
    return {name: t for name, t in timings.items() if name not in (errors or {})}
