"""A benchmark report as a chart: write time, read time and file size per case.

Dot plots, not bars: on a log axis a bar's length depends on where the axis happens to
start, so bars mislead; a dot's position does not. Each time is the median (or best)
sample with a line from the fastest to the slowest sample and, with five samples or
more, a thick line over the middle half (IQR), so a reader sees which differences are
larger than the noise.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["plot_report", "require_matplotlib"]

_GREY, _SILVER = "#777777", "#b0b0b0"
_RED, _PINK, _BLUE, _LIGHT = "#d62728", "#ff9896", "#1f77b4", "#9ecae1"


def require_matplotlib() -> None:
    """Raise ImportError with the install hint if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install 'qserial[plot]'") from None


def plot_report(report: dict[str, Any], path: str) -> None:
    """Save a chart of ``report`` to ``path`` (the suffix picks the image format).

    One row of panels per case: write time, read time and file size side by side,
    one line per format, RuntimeEncoder and raw I/O included, on shared log axes.
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    from matplotlib.lines import Line2D

    key = "best_s" if report["settings"]["statistic"] == "best" else "median_s"
    cases = report["cases"]
    rows = max((len(c["rows"]) for c in cases), default=1)
    fig = Figure(figsize=(13, (0.26 * rows + 1.3) * max(1, len(cases)) + 0.9),
                 layout="constrained")
    axes = fig.subplots(max(1, len(cases)), 3, squeeze=False)
    for case, line in zip(cases, axes, strict=False):
        subjects = case["rows"]
        ys = list(range(len(subjects)))
        colors = [_color(r) for r in subjects]
        for ax, what in zip(line, ("write", "read", "size"), strict=True):
            if what == "size":
                _size_panel(ax, subjects, ys, colors)
            else:
                _time_panel(ax, subjects, ys, colors, what, key)
            ax.set_yticks(ys, [r["subject"] for r in subjects] if what == "write"
                          else [""] * len(ys))
            ax.set_ylim(len(ys) - 0.5, -0.5)  # first subject on top
            ax.grid(axis="x", which="major", alpha=0.35)
            ax.grid(axis="y", alpha=0.12)
            ax.tick_params(axis="y", length=0)
        line[0].set_title(f"{case['name']}: write time", fontsize=10, loc="left")
        line[1].set_title("read time", fontsize=10, loc="left")
        line[2].set_title("file size" + ("" if line[2].get_xscale() == "log"
                                         else " (linear from 0)"), fontsize=10, loc="left")
    statistic = "best" if key == "best_s" else "median"
    handles = [
        Line2D([], [], color="black", marker="o", linestyle="none", label=statistic),
        Line2D([], [], color="black", linewidth=1, label="fastest to slowest sample"),
        Line2D([], [], color="black", linewidth=4, alpha=0.5,
               label="middle half of the samples (5 or more)"),
        Line2D([], [], color="black", marker="o", markerfacecolor="white",
               linestyle="none", label="write with fsync (qserial.dump to a path)"),
        Line2D([], [], color=_BLUE, marker="s", linestyle="none", label="qserial format"),
        Line2D([], [], color=_RED, marker="s", linestyle="none", label="RuntimeEncoder"),
        Line2D([], [], color=_GREY, marker="s", linestyle="none", label="raw I/O (floor)"),
        Line2D([], [], color=_SILVER, marker="s", linestyle="none",
               label="raw bytes through zstd"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.suptitle("qserial bench: further left is better (times on log scales)", fontsize=11)
    fig.savefig(path, dpi=110)


def _color(row: dict[str, Any]) -> str:
    if row["kind"] == "raw":
        return _GREY
    if row["kind"] == "zstd":  # raw bytes through zstd: the floor for compression
        return _SILVER
    if row["kind"] == "runtime":
        return _RED
    if row["kind"] == "runtime-file":
        return _PINK
    return _LIGHT if row["options"] else _BLUE


def _time_panel(ax: Any, subjects: list[dict[str, Any]], ys: list[int], colors: list[str],
                what: str, key: str) -> None:
    values = []
    for y, row, color in zip(ys, subjects, colors, strict=True):
        timing = row[what]
        if not timing:
            ax.text(0.02, y, "failed" if row["failed"] else "not timed", va="center", fontsize=8,
                    color=_RED if row["failed"] else _GREY, transform=ax.get_yaxis_transform())
            continue
        times = sorted(timing.get("times_s") or [timing[key]])
        ax.hlines(y, times[0], times[-1], color=color, linewidth=1)
        if len(times) >= 5:
            q1, q3 = _quantile(times, 0.25), _quantile(times, 0.75)
            ax.hlines(y, q1, q3, color=color, linewidth=4, alpha=0.5)
        ax.plot([timing[key]], [y], "o", color=color, markersize=5)
        values += times
        durable = row.get("write_durable") if what == "write" else None
        if durable:
            ax.plot([durable[key]], [y], "o", markerfacecolor="white", color=color,
                    markersize=5)
            values.append(durable[key])
    _log_axis(ax, values, _seconds)


def _size_panel(ax: Any, subjects: list[dict[str, Any]], ys: list[int],
                colors: list[str]) -> None:
    values = []
    for y, row, color in zip(ys, subjects, colors, strict=True):
        if row["size"]:
            ax.plot([row["size"]], [y], "D", color=color, markersize=5)
            values.append(row["size"])
    if values and max(values) < 10 * min(values):
        _linear_axis(ax, values, _bytes)  # within one decade a log axis has no ticks
    else:
        _log_axis(ax, values, _bytes)


def _quantile(ordered: list[float], q: float) -> float:
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _log_axis(ax: Any, values: list[float], fmt: Any) -> None:
    """A log x axis with a few readable labels: 1-2-5 steps, at most about six."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    values = [v for v in values if v and v > 0]
    if not values:
        ax.set_xticks([])
        return
    low, high = min(values), max(values)
    low, high = low / 1.6, high * 1.6  # room for the dots at both ends
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ticks = _nice_ticks(low, high)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)


def _linear_axis(ax: Any, values: list[float], fmt: Any) -> None:
    """A linear x axis from 0, so that positions compare as ratios."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_xlim(0, max(values) * 1.08)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v) if v else "0"))
    ax.tick_params(axis="x", labelsize=8)


def _nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Tick positions between ``low`` and ``high``: 1-2-5 per decade, thinned to ``most``."""
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)),
                                              math.ceil(math.log10(high)) + 1)
                 for m in steps if low <= m * 10.0 ** e <= high]
        if len(ticks) <= most:
            return ticks
    stride = math.ceil(len(ticks) / most)  # many decades: every other decade or so
    return ticks[::stride]


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if value >= scale * 0.999:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.1g} s"


def _bytes(value: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale * 0.999:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} B"
