"""A benchmark report as a chart: write time, read time and file size per case."""

from __future__ import annotations

from typing import Any

__all__ = ["plot_report", "require_matplotlib"]


def require_matplotlib() -> None:
    """Raise ImportError with the install hint if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install 'qserial[plot]'") from None


def plot_report(report: dict[str, Any], path: str) -> None:
    """Save a chart of ``report`` to ``path`` (the suffix picks the image format).

    One row of panels per case: write time, read time (log scales) and file size,
    one horizontal bar per format, RuntimeEncoder and raw I/O included.
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    key = "best_s" if report["settings"]["statistic"] == "best" else "median_s"
    cases = report["cases"]
    rows = max((len(c["rows"]) for c in cases), default=1)
    fig = Figure(figsize=(13, max(2.5, 0.28 * rows + 1.2) * max(1, len(cases))),
                 layout="constrained")
    axes = fig.subplots(max(1, len(cases)), 3, squeeze=False)
    palette = {"raw": "#888888", "runtime": "#d62728", "runtime-file": "#ff9896"}
    for case, line in zip(cases, axes, strict=False):
        labels = [r["subject"] for r in case["rows"]]
        colors = [palette.get(r["kind"], "#1f77b4" if not r["options"] else "#9ecae1")
                  for r in case["rows"]]
        for ax, (what, title) in zip(line, (("write", "write time"), ("read", "read time"),
                                            ("size", "file size")), strict=True):
            if what == "size":
                sizes = [r["size"] or 0 for r in case["rows"]]
                unit, scale = ("MB", 1e6) if max(sizes, default=0) >= 1e6 else ("kB", 1e3)
                values = [size / scale for size in sizes]
                ax.set_xlabel(unit)
            else:
                values = [(r[what] or {}).get(key, 0) * 1e3 for r in case["rows"]]
                ax.set_xlabel("ms (log scale)")
                if any(values):
                    ax.set_xscale("log")
            ys = range(len(labels))
            ax.barh(ys, values, color=colors)
            ax.set_yticks(list(ys), labels if what == "write" else [""] * len(labels))
            ax.invert_yaxis()
            ax.set_title(f"{case['name']}: {title}", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
    fig.suptitle("qserial bench: shorter is better (grey: raw I/O, red: RuntimeEncoder)")
    fig.savefig(path, dpi=110)
