"""The benchmark run: every subject on every case, checked, timed, sized and weighed."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._cases import Case, default_cases
from ._entropy import shot_entropy_bytes
from ._subjects import (
    RAW,
    RUNTIME,
    ZSTD,
    Ops,
    Subject,
    array_views,
    arrays_of,
    make_ops,
    zstd_available,
)
from ._timing import MIN_SAMPLE_S, Step, Timing, measure_interleaved

__all__ = ["run", "resolve_settings", "steps_per_case", "bench_options", "machine_info",
           "Progress"]

#: Settings of a default run and of ``quick`` (seconds instead of a minute).
DEFAULTS = {"repeat": 5, "min_repeat": 3, "budget_s": 1.5, "memory": True, "durable": True}
QUICK = {"repeat": 3, "min_repeat": 2, "budget_s": 0.3, "memory": False, "durable": False}

#: Below this many array bytes, peak RSS growth is lost in the noise of page-sized
#: allocations and is not measured.
MEMORY_MIN_BYTES = 1_000_000

#: ``progress(description, advance)``: a step of the run is done.
Progress = Callable[[str, int], None]


def bench_options(fmt: Any) -> list[dict[str, Any]]:
    """The option combinations worth sweeping for ``fmt`` (its default excluded).

    Enumerated from the format's declared options (their ``sweep`` values; see
    :meth:`qserial.Format.sweep_configs`), each as the options it changes.
    """
    return type(fmt).sweep_configs()


def _subjects(formats: Sequence[str], sweep: bool) -> list[Subject]:
    from ..formats import get_format

    subjects = [RAW, *([ZSTD] if zstd_available() else []), RUNTIME]
    for name in formats:
        subjects.append(Subject("format", name))
        if name == "json":
            subjects.append(Subject("runtime-file", "json"))
    if sweep:
        for name in formats:
            for combo in bench_options(get_format(name)):
                subjects.append(Subject("format", name, tuple(sorted(combo.items()))))
    return subjects


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)[:60] or "case"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _check(subject: Subject, loaded: Any, obj: Any, arrays: Sequence[np.ndarray]) -> str:
    """How ``loaded`` equals ``obj``: ``"exact"``, ``"JSON-equal"`` or ``"bytes-equal"``.

    Raises
    ------
    AssertionError
        If it does not.
    """
    from ..testing import first_difference

    if subject.kind in ("raw", "zstd"):
        expected = (np.concatenate([np.frombuffer(v, np.uint8) for v in array_views(arrays)])
                    if arrays else np.empty(0, np.uint8))
        if not np.array_equal(loaded, expected):
            raise AssertionError("the bytes read back differ from those written")
        return "bytes-equal"
    if first_difference(loaded, obj, exact=True) is None:
        return "exact"
    # JSON stores tuples as lists and dict keys as strings; that is all it may change.
    diff = first_difference(loaded, obj, exact=False)
    if diff is None:
        return "JSON-equal"
    raise AssertionError(f"the loaded result differs {diff}")


def _row(subject: Subject) -> dict[str, Any]:
    return {"subject": subject.label, "kind": subject.kind, "format": subject.format,
            "options": subject.options_dict, "write": None, "write_durable": None,
            "read": None, "size": None, "check": None, "error": None, "failed": False,
            "memory": None, "throughput_MBps": {}, "ratios": {}}


def _first_pass(subject: Subject, ops: Ops, obj: Any, arrays: Sequence[np.ndarray],
                row: dict[str, Any]) -> dict[str, float] | None:
    """Write once and read once (the warm-up), check the result, fill size and check."""
    from ..errors import QSerialError

    try:
        first: dict[str, float] = {}
        if ops.write is not None:
            ops.remove()
            first["write"], _ = _timed(ops.write)
        first["read"], loaded = _timed(ops.read)
        row["size"] = os.path.getsize(ops.path)
        row["check"] = _check(subject, loaded, obj, arrays)
        return first
    except AssertionError as exc:
        row["error"] = str(exc)
        row["failed"] = subject.kind in ("format", "runtime-file")  # wrong data
    except QSerialError as exc:  # the format cannot store this object: a limitation
        row["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["failed"] = subject.kind in ("format", "runtime-file")
    return None


def _bench_case(case: Case, subjects: Sequence[Subject], folder: str, settings: dict[str, Any],
                progress: Progress, probe: Any) -> dict[str, Any]:
    from ..codec import to_tree
    from ..tree import Node

    progress(f"{case.name}: building", 0)
    obj = case.build()
    tree = to_tree(obj)
    arrays = arrays_of(obj, tree)
    array_bytes = int(sum(a.nbytes for a in arrays))
    entropy = shot_entropy_bytes(tree)
    pubs = None
    if type(tree) is Node and tree.tag == "PrimitiveResult":
        pubs = len(tree.value["pub_results"])
    progress(f"{case.name}: built", 1)

    stem = _stem(case.name)
    rows: dict[Subject, dict[str, Any]] = {}
    ops: dict[Subject, Ops] = {}
    firsts: dict[Subject, dict[str, float]] = {}
    runtime_path: str | None = None
    for subject in subjects:
        row = rows[subject] = _row(subject)
        progress(f"{case.name}: {subject.label} round trip", 0)
        if subject.kind == "runtime-file" and runtime_path is None:
            row["error"] = "RuntimeEncoder could not write this object"
        else:
            try:
                ops[subject] = make_ops(subject, obj, arrays, folder, stem, runtime_path)
            except Exception as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
                row["failed"] = subject.kind == "format"
            else:
                first = _first_pass(subject, ops[subject], obj, arrays, row)
                if first is not None:
                    firsts[subject] = first
                    if subject.kind == "runtime":
                        runtime_path = ops[subject].path
                if subject.kind == "runtime-file":
                    row["size"] = None  # RuntimeEncoder's file, counted on its own row
        progress(f"{case.name}: {subject.label} round trip", 1)

    timed = [s for s in subjects if s in firsts]
    budget = dict(repeat=settings["repeat"], min_repeat=settings["min_repeat"],
                  budget_s=settings["budget_s"])

    def phase(what: str, steps: dict[Subject, Step], **changes: Any) -> dict[Subject, Timing]:
        progress(f"{case.name}: timing {what}", 0)
        errors: dict[Subject, BaseException] = {}
        out = measure_interleaved(steps, errors=errors, **{**budget, **changes})
        for s, exc in errors.items():  # it worked once, in the check: a flaky format
            rows[s]["error"] = f"{what}: {type(exc).__name__}: {exc}"
            rows[s]["failed"] = s.kind == "format"
        progress(f"{case.name}: timing {what}", 1)
        return out

    writes = phase("writes", {
        s: Step(ops[s].write, ops[s].remove, firsts[s]["write"])
        for s in timed if ops[s].write is not None})
    durables: dict[Subject, Timing] = {}
    if settings["durable"]:  # qserial.dump and raw I/O with fsync; options do not change it
        # The plain writes have warmed up the same code, so no warm-up call here; one
        # call per sample (an fsync is slow and varies far more than a timer's resolution).
        durables = phase("durable writes", {
            s: Step(ops[s].durable, ops[s].remove_durable, max(firsts[s]["write"], MIN_SAMPLE_S))
            for s in timed if ops[s].durable is not None and not s.options},
            min_repeat=min(2, settings["min_repeat"]))
    reads = phase("reads", {s: Step(ops[s].read, None, firsts[s]["read"]) for s in timed})
    for s in timed:
        for key, table in (("write", writes), ("write_durable", durables), ("read", reads)):
            if s in table:
                rows[s][key] = table[s].as_dict()

    if probe is not None:
        big = array_bytes >= MEMORY_MIN_BYTES
        for s in _memory_subjects(subjects):
            if big and s in firsts:
                progress(f"{case.name}: memory of {s.label}", 0)
                write = probe.measure(case, s, "write")
                read = probe.measure(case, s, "read", ops[s].path)
                rows[s]["memory"] = {
                    "write_peak_extra_bytes": write.get("peak_extra_bytes"),
                    "read_peak_extra_bytes": read.get("peak_extra_bytes"),
                    "method": write.get("method") or read.get("method"),
                    "error": write.get("error") or read.get("error"),
                }
            progress(f"{case.name}: memory of {s.label}", 1)

    for s in ops:
        if s.kind != "runtime-file":  # RuntimeEncoder's file belongs to its own row
            ops[s].remove()
            ops[s].remove_durable()
    return {"name": case.name, "source": case.source, "array_bytes": array_bytes,
            "entropy_bytes": entropy, "pubs": pubs, "rows": [rows[s] for s in subjects]}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _add_ratios(case: dict[str, Any], statistic: str) -> None:
    """Throughputs and ratios against raw I/O and RuntimeEncoder, from ``statistic``."""
    key = "best_s" if statistic == "best" else "median_s"

    def t(row: dict[str, Any] | None, what: str) -> float | None:
        timing = row.get(what) if row else None
        return timing[key] if timing else None

    by_kind = {r["kind"]: r for r in case["rows"] if r["kind"] in ("raw", "runtime")}
    raw, runtime = by_kind.get("raw"), by_kind.get("runtime")
    nbytes = case["array_bytes"]
    for row in case["rows"]:
        for what in ("write", "read", "write_durable"):
            seconds = t(row, what)
            if seconds and nbytes:
                row["throughput_MBps"][what] = nbytes / seconds / 1e6
        ratios = {
            "write_vs_raw": _ratio(t(row, "write"), t(raw, "write")),
            "read_vs_raw": _ratio(t(row, "read"), t(raw, "read")),
            "write_durable_vs_raw_durable": _ratio(t(row, "write_durable"),
                                                   t(raw, "write_durable")),
            "write_vs_runtime": _ratio(t(row, "write"), t(runtime, "write")),
            "read_vs_runtime": _ratio(t(row, "read"), t(runtime, "read")),
            "size_vs_runtime": _ratio(row["size"], runtime["size"] if runtime else None),
            "size_vs_entropy": _ratio(row["size"], case.get("entropy_bytes")),
        }
        memory = row["memory"] or {}
        for op in ("write", "read"):
            ratios[f"{op}_memory_vs_array_bytes"] = _ratio(
                memory.get(f"{op}_peak_extra_bytes"), nbytes)
        row["ratios"] = {k: v for k, v in ratios.items() if v is not None}


def _filesystem(folder: str) -> str | None:
    """Type of the filesystem holding ``folder`` (Linux), e.g. ``"ext4"``."""
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1:3] for line in f if len(line.split()) > 2]
    except OSError:
        return None
    folder = os.path.realpath(folder)
    best = max((m for m in mounts if folder == m[0] or folder.startswith(m[0].rstrip("/") + "/")),
               key=lambda m: len(m[0]), default=None)
    return best[1] if best else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def machine_info(folder: str | None = None) -> dict[str, Any]:
    """The machine, the filesystem of ``folder`` and the versions of what is measured."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    names = ["qserial", "numpy", "qiskit", "qiskit-ibm-runtime", "pybase64"]
    for ep in md.entry_points(group="qserial.formats"):  # the format plugins
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.metadata["Name"] not in names:
            names.append(dist.metadata["Name"])
    names += ["msgpack", "h5py", "pyarrow", "xxhash"]
    for name in names:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_bytes": _memory_total(),
        "load_average": load,
        "folder": folder,
        "filesystem": _filesystem(folder) if folder else None,
        "versions": versions,
    }


def resolve_settings(*, quick: bool = False, repeat: int | None = None,
                     memory: bool | None = None, durable: bool | None = None) -> dict[str, Any]:
    """The run's settings: the defaults (or ``quick``'s) with the given overrides."""
    settings: dict[str, Any] = dict(QUICK if quick else DEFAULTS)
    if repeat is not None:
        settings["repeat"] = repeat
        settings["min_repeat"] = min(settings["min_repeat"], repeat)
    if memory is not None:
        settings["memory"] = memory
    if durable is not None:
        settings["durable"] = durable
    settings["quick"] = quick
    return settings


def run(
    cases: Iterable[Case] | None = None,
    *,
    formats: Sequence[str] | None = None,
    quick: bool = False,
    repeat: int | None = None,
    memory: bool | None = None,
    durable: bool | None = None,
    sweep: bool = False,
    folder: str | os.PathLike[str] | None = None,
    statistic: str = "median",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Benchmark every installed format, RuntimeEncoder and raw I/O on ``cases``.

    Parameters
    ----------
    cases
        What to benchmark (:func:`scenario_case`, :func:`file_case`); by default every
        built-in scenario (smaller ones with ``quick``).
    formats
        Format names; by default every installed format.
    quick
        Fewer samples, no memory or durable-write measurements: seconds, not a minute.
    repeat
        Samples per measurement when time allows (default 5; 3 with ``quick``).
    memory
        Measure peak extra memory in child processes (default: on unless ``quick``).
    durable
        Also time ``qserial.dump`` to a path, ``fsync`` included (default: on unless
        ``quick``).
    sweep
        Also run each format with each combination of its declared options' sweep
        values (:func:`bench_options`).
    folder
        Where the files are written (default: the system's temporary folder); choose
        one on the disk where results will be kept.
    statistic
        ``"median"`` or ``"best"``: the statistic ratios and throughputs use.
    progress
        Called as ``progress(description, advance)`` while the run goes on.

    Returns
    -------
    dict
        A JSON-able report: ``machine``, ``settings``, ``cases`` (each with ``rows``:
        one per subject with ``write``, ``write_durable``, ``read`` timings, ``size``,
        ``check``, ``memory``, ``throughput_MBps`` and ``ratios``) and ``failures``.
    """
    from ..formats import get_format, list_formats

    if statistic not in ("median", "best"):
        raise ValueError(f"statistic must be 'median' or 'best', not {statistic!r}")
    cases = list(cases) if cases is not None else default_cases(quick)
    names = [get_format(f).name for f in (formats if formats is not None else list_formats())]
    settings = resolve_settings(quick=quick, repeat=repeat, memory=memory, durable=durable)
    settings.update(sweep=sweep, statistic=statistic)
    subjects = _subjects(names, sweep)
    base = os.fspath(folder) if folder is not None else tempfile.gettempdir()
    report: dict[str, Any] = {"machine": machine_info(base), "settings": settings,
                              "formats": names, "cases": [], "failures": []}
    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="qserial-bench-", dir=base)
    probe = None
    if settings["memory"]:
        from ._memory import MemoryProbe

        probe = MemoryProbe()
    try:
        for case in cases:
            result = _bench_case(case, subjects, work, settings, progress or _no_progress,
                                 probe)
            _add_ratios(result, statistic)
            report["cases"].append(result)
            report["failures"] += [f"{case.name}: {row['subject']}: {row['error']}"
                                   for row in result["rows"] if row["failed"]]
    finally:
        if probe is not None:
            probe.close()
        shutil.rmtree(work, ignore_errors=True)
    report["elapsed_s"] = time.perf_counter() - started
    return report


def _memory_subjects(subjects: Sequence[Subject]) -> list[Subject]:
    return [s for s in subjects if not s.options and s.kind != "runtime-file"]


def steps_per_case(formats: Sequence[str], sweep: bool, settings: Mapping[str, Any]) -> int:
    """How many steps of a case ``progress`` is told about (for a progress bar)."""
    subjects = _subjects(formats, sweep)
    memory = len(_memory_subjects(subjects)) if settings.get("memory") else 0
    return 1 + len(subjects) + 2 + bool(settings.get("durable")) + memory


def _no_progress(description: str, advance: int) -> None:
    pass
