"""Benchmark storage formats on built-in scenarios or on your own result files.

``qserial bench`` on the command line; in Python::

    from qserial import bench

    report = bench.run([bench.scenario_case("sweep"), bench.file_case("my_result.json")])
    bench.print_report(report)

Every installed format is measured next to two references: RuntimeEncoder and
RuntimeDecoder (what users write today) and raw file I/O of the same array bytes (the
floor no format can beat). For each, on each result: write and read time (median and
spread of several samples after a warm-up), throughput, file size, peak extra memory
(in a fresh child process), and ratios against raw I/O and RuntimeEncoder. Every
format's file is read back and compared with the original before anything is timed.
See docs/benchmarks.md for what exactly is timed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._cases import BenchSetupError, Case, default_cases, file_case, parse_scenario, scenario_case
from ._report import print_report, render_markdown
from ._runner import bench_options, machine_info, run
from ._runner import resolve_settings as _resolve_settings
from ._runner import steps_per_case as _steps_per_case
from ._subjects import RAW, RUNTIME, Subject, arrays_of
from ._timing import Step, Timing, measure_interleaved

__all__ = [
    "run",
    "count_steps",
    "Case",
    "scenario_case",
    "file_case",
    "parse_scenario",
    "default_cases",
    "BenchSetupError",
    "print_report",
    "render_markdown",
    "plot_report",
    "require_matplotlib",
    "bench_options",
    "machine_info",
    "arrays_of",
    "Subject",
    "RAW",
    "RUNTIME",
    "Step",
    "Timing",
    "measure_interleaved",
]


def plot_report(report: dict, path: str) -> None:
    """Draw ``report`` as a PNG (or any suffix matplotlib knows) at ``path``.

    Needs matplotlib (``pip install 'qserial[plot]'``).
    """
    from ._plot import plot_report as _plot

    _plot(report, path)


def require_matplotlib() -> None:
    """Raise ImportError with the install hint if matplotlib, needed to plot, is missing."""
    from ._plot import require_matplotlib as _require

    _require()


def count_steps(
    cases: Sequence[Case],
    *,
    formats: Sequence[str] | None = None,
    quick: bool = False,
    repeat: int | None = None,
    memory: bool | None = None,
    durable: bool | None = None,
    sweep: bool = False,
) -> int:
    """How many steps :func:`run` reports to ``progress`` with these arguments.

    The total of a progress bar: :func:`run` calls ``progress(description, steps)``
    until the steps add up to this.
    """
    from ..formats import get_format, list_formats

    settings = _resolve_settings(quick=quick, repeat=repeat, memory=memory, durable=durable)
    names = [get_format(f).name for f in (formats if formats is not None else list_formats())]
    return len(cases) * _steps_per_case(names, sweep, settings)
