"""Damaged files never load as wrong data, never escape as another error, never crash.

For every installed format, small realistic results are written and then damaged the
ways disks, networks and careless copies damage files: single-bit flips (thousands,
seeded), truncation at every offset, blocks overwritten with zeros or random bytes,
padding, two files joined, random garbage, an empty file, and another format's file.
Every damaged file is loaded -- from a path or from bytes, with its format named or
sniffed -- and the outcome counted:

=========  ==============================================================  ==========
outcome    meaning                                                         allowed
=========  ==============================================================  ==========
error      a ``qserial.QSerialError``                                      yes
equal      loaded, equal to what the intact file holds (a byte not used)  yes
wrong      loaded, different: silently wrong data                         never
escaped    an exception other than ``QSerialError``                       never
crash      the loading process died or hung (a C library's fault)         never
=========  ==============================================================  ==========

Loads run in child processes, one per batch of cases; when a child dies, the case it
died on is run again alone to confirm and count the crash, and the batch goes on
after it. Formats that read only some pubs (``pubs=``) are also damaged and read
partially. Header-only reads (``qserial.read_header``) are damaged too and reported,
not asserted: they read the header alone and do not check the whole file's digest.

The number of cases scales with ``QSERIAL_CORRUPTION_SCALE`` (default 1: about 7,000
per format, all formats in well under a minute on two cores; 4 or more also truncates
every file at every offset). ``pytest -s`` prints the summary table and
``QSERIAL_CORRUPTION_REPORT=path`` writes it to a file. A bigger run, alone::

    python tests/test_corruption.py --scale 10 [--formats json,hdf5] [--report out.txt]

and one case again, in this process, with its traceback::

    python tests/test_corruption.py --replay hdf5 '[17, "flip", 0, 4242]'

The JSON format's digest is tested on its own at the end of this module.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import qserial
from qserial import DecodeError, IntegrityError, QSerialError, UnsupportedVersionError, scenarios
from qserial.formats import _npy, get_format
from qserial.formats import json as json_format
from qserial.testing import assert_equal, first_difference

SCALE = float(os.environ.get("QSERIAL_CORRUPTION_SCALE", "1"))
#: Cases per child process; a child costs one to three seconds to start (imports).
BATCH = 10000
OUTCOMES = ("error", "equal", "wrong", "escaped", "crash")
MANIFEST = {"provenance": {"job_id": "d0f1e2c3b4a5", "backend": "ibm_fez",
                           "created": "2025-03-31T12:00:00+00:00", "tags": ["calibration"]}}


# -- the damaged files ----------------------------------------------------------------------


def mutate(case: list, files: list[bytes], foreign: list[bytes]) -> tuple[bytes, int | None]:
    """The damaged bytes of ``case`` and the index of the file they came from."""
    kind = case[1]
    if kind in ("flip", "pflip", "hflip"):
        f, bit = case[2], case[3]
        data = bytearray(files[f])
        data[bit >> 3] ^= 1 << (bit & 7)
        return bytes(data), f
    if kind == "trunc":
        return files[case[2]][: case[3]], case[2]
    if kind in ("zero", "rand"):
        f, start, size = case[2], case[3], case[4]
        data = bytearray(files[f])
        end = min(start + size, len(data))
        fill = bytes(end - start) if kind == "zero" else \
            np.random.default_rng(case[0]).bytes(end - start)
        data[start:end] = fill
        return bytes(data), f
    if kind == "pad":
        f, how, n = case[2], case[3], case[4]
        extra = {"zeros": bytes(n), "random": np.random.default_rng(case[0]).bytes(n),
                 "newline": b"\n" * n, "space": b" " * n, "head": files[f][:n]}[how]
        return files[f] + extra, f
    if kind == "concat":
        return files[case[2]] + files[case[3]], case[2]
    if kind == "garbage":
        size, f, prefix = case[2], case[3], case[4]
        return files[f][:prefix] + np.random.default_rng(case[0]).bytes(size), None
    if kind == "empty":
        return b"", None
    if kind == "foreign":
        return foreign[case[2]], None
    raise ValueError(f"unknown case kind {kind!r}")


def plan(fmt: str, sizes: list[int], pubs: list[list[int] | None], n_foreign: int,
         scale: float, header_reads: bool) -> list[list]:
    """The cases for one format: ``[id, kind, *arguments]``, the same for every run."""
    rng = np.random.default_rng(zlib.crc32(fmt.encode()))
    cases: list[list] = []

    def add(*case: Any) -> None:
        cases.append([len(cases), *case])

    def flips(kind: str, total: int, which: list[int]) -> None:
        weight = sum(sizes[f] for f in which)
        for f in which:
            bits = sizes[f] * 8
            n = max(int(total * sizes[f] / weight), 50)
            chosen = range(bits) if n >= bits else rng.choice(bits, n, replace=False)
            for bit in chosen:
                add(kind, f, int(bit))

    every = list(range(len(sizes)))
    flips("flip", int(3000 * scale), every)
    partial = [f for f in every if pubs[f]]
    if partial:
        flips("pflip", int(400 * scale), partial)
    if header_reads:
        flips("hflip", int(300 * scale), every)
    smallest = min(every, key=lambda f: sizes[f])
    for f in every:
        n = sizes[f]
        if scale >= 4 or f == smallest:
            cuts: Any = range(n)
        else:
            step = max(n // int(400 * scale), 1)
            cuts = sorted({*range(min(n, 64)), *range(max(n - 64, 0), n), *range(0, n, step)})
        for cut in cuts:
            add("trunc", f, cut)
    for kind in ("zero", "rand"):
        for _ in range(int(400 * scale)):
            f = int(rng.integers(len(sizes)))
            size = int(rng.choice([1, 2, 3, 4, 8, 16, 32, 64, 256, 4096]))
            add(kind, f, int(rng.integers(sizes[f])), size)
    for f in every:
        for how, n in (("zeros", 1), ("zeros", 64), ("random", 1), ("random", 64),
                       ("newline", 1), ("space", 3), ("head", 16), ("head", sizes[f])):
            add("pad", f, how, n)
        add("concat", f, f)
        add("concat", f, (f + 1) % len(sizes))
    for _ in range(int(100 * scale)):
        f = int(rng.integers(len(sizes)))
        prefix = int(rng.choice([0, 0, 4, 8, 16, 64, 512]))
        add("garbage", int(rng.integers(16, 4096)), f, min(prefix, sizes[f]))
    add("empty")
    for g in range(n_foreign):
        add("foreign", g)
    return cases


# -- the child: load each damaged file ------------------------------------------------------


def child_main() -> None:
    """Run the cases of the spec on stdin, one result line per case, in order."""
    warnings.simplefilter("ignore")
    spec = json.load(sys.stdin)
    runner = Runner(spec)
    out = sys.stdout
    for case in spec["cases"]:
        if case[0] == spec.get("die_on"):  # lets a test prove that crashes are counted
            os.abort()
        out.write(json.dumps([case[0], *runner.run(case)]) + "\n")
        out.flush()  # the parent learns which case a dying child was on
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.write(json.dumps(["peak_rss_kib", peak]) + "\n")


class Runner:
    """Loads damaged files of one format and says what happened."""

    def __init__(self, spec: dict) -> None:
        self.fmt = spec["format"]
        paths = spec["files"]
        self.files = [Path(p).read_bytes() for p in paths]
        self.foreign = [Path(p).read_bytes() for p in spec["foreign"]]
        self.pubs = spec["pubs"]
        self.originals = [qserial.load(p, format=self.fmt) for p in paths]
        self.partials = [qserial.load(p, format=self.fmt, pubs=pubs) if pubs else None
                         for p, pubs in zip(paths, self.pubs, strict=True)]
        self.headers = [qserial.read_header(p, format=self.fmt) if spec["header_reads"]
                        else None for p in paths]
        suffix = get_format(self.fmt).suffixes[0]
        self.target = os.path.join(spec["tmp"], f"case-{os.getpid()}{suffix}")

    def run(self, case: list) -> tuple[str, str]:
        try:
            data, f = mutate(case, self.files, self.foreign)
            kind = case[1]
            # Half the cases from a path, half from bytes; half name the format, half
            # leave it to sniffing (except where sniffing would not reach this format).
            via_path = case[0] % 2 == 0
            named = (case[0] // 2) % 2 == 0 or kind in ("garbage", "foreign")
            fmt = self.fmt if named else None
            if via_path:
                with open(self.target, "wb") as out:
                    out.write(data)
            source = self.target if via_path else io.BytesIO(data)
            expected: Any = None
            if f is not None and kind in ("flip", "trunc", "zero", "rand", "pad", "concat"):
                expected = self.originals[f]
            try:
                if kind == "hflip":
                    got = qserial.read_header(source, format=fmt)
                    expected = self.headers[f]
                elif kind == "pflip":
                    got = qserial.load(source, format=fmt, pubs=self.pubs[f])
                    expected = self.partials[f]
                else:
                    got = qserial.load(source, format=fmt)
            except qserial.QSerialError as exc:
                return "error", type(exc).__name__
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-3:]
                frames = "; ".join(f"{Path(fr.filename).name}:{fr.lineno} {fr.name}"
                                   for fr in where)
                return "escaped", f"{type(exc).__name__}: {str(exc)[:200]} [{frames}]"
            if expected is None:
                return "wrong", f"loaded a {type(got).__name__} from a file that holds none"
            if kind == "hflip":
                return ("equal", "") if got == expected else \
                    ("wrong", f"header {str(got)[:150]} != {str(expected)[:150]}")
            diff = first_difference(got, expected)
            return ("equal", "") if diff is None else ("wrong", diff[:300])
        except Exception as exc:  # the harness itself: reported, never hidden
            return "escaped", f"harness {type(exc).__name__}: {exc}"[:300]


# -- the parent: batches of cases in child processes ----------------------------------------


def _child(spec: dict, cases: list[list], timeout: float) -> tuple[dict[int, tuple], int | str,
                                                                   int, str]:
    """Run ``cases`` in a new child: results by case id, exit status, peak RSS, stderr."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(json.dumps({**spec, "cases": cases}), timeout=timeout)
        status: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = f"hung for over {timeout:.0f} s"
    results, peak = {}, 0
    for line in out.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line cut by the child's death
        if item[0] == "peak_rss_kib":
            peak = item[1]
        else:
            results[item[0]] = (item[1], item[2])
    return results, status, peak, err


def run_batch(spec: dict, cases: list[list]) -> tuple[dict[int, tuple], int, float]:
    """Outcomes of ``cases`` by id; a case that kills its child is run alone to confirm."""
    start = time.perf_counter()
    results: dict[int, tuple] = {}
    peak = 0
    pending = cases
    while pending:
        timeout = 120 + 0.05 * len(pending)
        got, status, rss, err = _child(spec, pending, timeout)
        results.update(got)
        peak = max(peak, rss)
        if status == 0 and len(got) == len(pending):
            break
        # Results come in order: the first case without one is where the child died.
        at = next((i for i, c in enumerate(pending) if c[0] not in got), None)
        if at is None:  # all answered, yet the child failed on exit
            raise RuntimeError(f"child exited with {status} after its cases: {err[-2000:]}")
        suspect = pending[at]
        alone, status1, rss1, err1 = _child(spec, [suspect], 120)
        peak = max(peak, rss1)
        if suspect[0] in alone and status1 == 0:
            results[suspect[0]] = ("crash", f"died ({status}) in a batch, not alone: "
                                            f"{err.strip()[-300:]}")
        else:
            reason = -status1 if isinstance(status1, int) and status1 < 0 else status1
            what = f"signal {reason}" if isinstance(status1, int) and status1 < 0 else reason
            results[suspect[0]] = ("crash", f"child died: {what}; {err1.strip()[-300:]}")
        pending = pending[at + 1:]
    return results, peak, time.perf_counter() - start


def _build_files(formats: list[str], folder: Path) -> dict[str, dict]:
    """Small realistic results written in each format, as files in ``folder``."""
    from tests import _results

    results: list[tuple[str, Any]] = [
        ("service_sampler", scenarios.small_sampler()),   # execution spans, service metadata
        ("statevector_sampler", _results.sampler_result()),  # 3 pubs, two registers, sweep
        ("statevector_estimator", _results.estimator_result()),
    ]
    try:
        results.append(("local_mode_sampler", _results.local_mode_result()))
    except ImportError:  # qiskit-aer is not installed
        pass
    out: dict[str, dict] = {}
    for fmt in formats:
        spec = get_format(fmt)
        paths, pubs = [], []
        for i, (name, result) in enumerate(results):
            path = folder / f"{name}{spec.suffixes[0]}"
            manifest = MANIFEST if i == 0 and spec.supports_manifest else None
            qserial.dump(result, path, format=fmt, manifest=manifest)
            paths.append(str(path))
            # Partial reads of the last pub, where the format reads only the pubs asked for.
            pubs.append([len(result) - 1] if spec.supports_partial and len(result) > 1
                        else None)
        header_reads = type(spec).read_header is not qserial.Format.read_header
        out[fmt] = {"files": paths, "pubs": pubs, "names": [n for n, _ in results],
                    "sizes": [os.path.getsize(p) for p in paths], "header_reads": header_reads}
    return out


def _scratch() -> Path:
    # Damaged files are written for every other case: a RAM disk keeps that cheap.
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="qserial-corruption-", dir=base))


def run_campaign(scale: float = SCALE, formats: list[str] | None = None,
                 workers: int | None = None) -> dict[str, Any]:
    """Damage files of every format and load them; return the counts and the failures."""
    formats = formats or qserial.list_formats()
    workers = workers or int(os.environ.get("QSERIAL_CORRUPTION_WORKERS", 0)) or \
        min(os.cpu_count() or 2, 4)
    folder = _scratch()
    started = time.perf_counter()
    try:
        written = _build_files(qserial.list_formats(), folder)
        jobs = []
        for fmt in formats:
            w = written[fmt]
            foreign = [written[other]["files"][0] for other in written if other != fmt]
            spec = {"format": fmt, "files": w["files"], "foreign": foreign, "pubs": w["pubs"],
                    "header_reads": w["header_reads"], "tmp": str(folder)}
            cases = plan(fmt, w["sizes"], w["pubs"], len(foreign), scale, w["header_reads"])
            w["cases"] = cases
            jobs += [(fmt, spec, cases[i:i + BATCH]) for i in range(0, len(cases), BATCH)]
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(lambda job: (job[0], run_batch(job[1], job[2])), jobs))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary: dict[str, Any] = {"scale": scale, "workers": workers, "formats": {}}
    for fmt in formats:
        cases = written[fmt]["cases"]
        outcomes: dict[int, tuple] = {}
        peak, seconds = 0, 0.0
        for name, (results, rss, secs) in done:
            if name == fmt:
                outcomes.update(results)
                peak, seconds = max(peak, rss), seconds + secs
        summary["formats"][fmt] = _summarize(fmt, cases, outcomes, written[fmt], peak, seconds)
    summary["seconds"] = time.perf_counter() - started
    return summary


def _summarize(fmt: str, cases: list[list], outcomes: dict[int, tuple], written: dict,
               peak: int, seconds: float) -> dict[str, Any]:
    by_kind: dict[str, Counter] = {}
    errors: Counter = Counter()
    failures: dict[str, list] = {"wrong": [], "escaped": [], "crash": [], "header_altered": []}
    for case in cases:
        outcome, detail = outcomes.get(case[0], ("crash", "no result"))
        kind = case[1]
        by_kind.setdefault(kind, Counter())[outcome] += 1
        if outcome == "error":
            errors[detail] += 1
        elif outcome != "equal":
            bucket = "header_altered" if kind == "hflip" and outcome == "wrong" else outcome
            failures[bucket].append((case, detail))
    loads = {k: c for k, c in by_kind.items() if k != "hflip"}
    total: Counter = sum(loads.values(), Counter())
    return {"files": len(written["files"]), "bytes": sum(written["sizes"]),
            "names": written["names"], "by_kind": by_kind, "errors": errors,
            "outcomes": total, "failures": failures, "peak_rss_mib": peak / 1024,
            "seconds": seconds}


def table(summary: dict[str, Any]) -> str:
    """The campaign's figures as text tables."""
    lines = [f"qserial corruption campaign: scale {summary['scale']:g}, "
             f"{summary['workers']} worker processes, {summary['seconds']:.1f} s"]
    head = (f"{'format':8} {'files':>5} {'bytes':>7} {'loads':>6} {'flips':>6} "
            f"{'partial':>7} {'truncs':>6} {'blocks':>6} {'other':>5} | {'error':>6} "
            f"{'equal':>6} {'WRONG':>5} {'ESCAPED':>7} {'CRASH':>5} | {'rss MiB':>7} "
            f"{'cpu s':>6}")
    lines += ["", head, "-" * len(head)]
    for fmt, s in summary["formats"].items():
        k = {kind: sum(c.values()) for kind, c in s["by_kind"].items()}
        o = s["outcomes"]
        other = sum(k.get(x, 0) for x in ("pad", "concat", "garbage", "empty", "foreign"))
        lines.append(
            f"{fmt:8} {s['files']:>5} {s['bytes']:>7} {sum(o.values()):>6} "
            f"{k.get('flip', 0):>6} {k.get('pflip', 0):>7} {k.get('trunc', 0):>6} "
            f"{k.get('zero', 0) + k.get('rand', 0):>6} {other:>5} | {o['error']:>6} "
            f"{o['equal']:>6} {o['wrong']:>5} {o['escaped']:>7} {o['crash']:>5} | "
            f"{s['peak_rss_mib']:>7.0f} {s['seconds']:>6.1f}")
    lines += ["", "loaded equal (damage in bytes the reader does not use), by kind:"]
    for fmt, s in summary["formats"].items():
        equal = {kind: c["equal"] for kind, c in s["by_kind"].items()
                 if c["equal"] and kind != "hflip"}
        lines.append(f"  {fmt:8} " + (", ".join(f"{kind} {n}" for kind, n in equal.items())
                                      or "none"))
    lines += ["", "errors raised, by class:"]
    for fmt, s in summary["formats"].items():
        lines.append(f"  {fmt:8} " + ", ".join(f"{name} {n}"
                                                for name, n in s["errors"].most_common()))
    lines += ["", "header-only reads (read_header) of flipped files: error / equal / altered:"]
    for fmt, s in summary["formats"].items():
        c = s["by_kind"].get("hflip")
        if c:
            lines.append(f"  {fmt:8} {c['error']} / {c['equal']} / {c['wrong']}")
    for fmt, s in summary["formats"].items():
        for bucket, items in s["failures"].items():
            for case, detail in items[:10]:
                lines.append(f"{bucket.upper()} {fmt} {json.dumps(case)}: {detail}")
    return "\n".join(lines)


# -- the tests --------------------------------------------------------------------------------


INSTALLED = qserial.list_formats()


def _failures(summary: dict, fmt: str, bucket: str) -> str:
    items = summary["formats"][fmt]["failures"][bucket]
    shown = "\n".join(f"  python tests/test_corruption.py --replay {fmt} '{json.dumps(case)}'"
                      f"  # {detail}" for case, detail in items[:20])
    return f"{len(items)} {bucket} outcomes for {fmt}, e.g.:\n{shown}"


@pytest.fixture(scope="module")
def campaign() -> dict[str, Any]:
    summary = run_campaign()
    text = table(summary)
    print("\n" + text)
    report = os.environ.get("QSERIAL_CORRUPTION_REPORT")
    if report:
        Path(report).write_text(text + "\n")
    return summary


@pytest.mark.parametrize("fmt", INSTALLED)
def test_no_silent_wrong_data(campaign: dict, fmt: str) -> None:
    assert campaign["formats"][fmt]["outcomes"]["wrong"] == 0, _failures(campaign, fmt, "wrong")


@pytest.mark.parametrize("fmt", INSTALLED)
def test_no_exception_but_qserial_errors(campaign: dict, fmt: str) -> None:
    assert campaign["formats"][fmt]["outcomes"]["escaped"] == 0, \
        _failures(campaign, fmt, "escaped")


@pytest.mark.parametrize("fmt", INSTALLED)
def test_no_crash(campaign: dict, fmt: str) -> None:
    assert campaign["formats"][fmt]["outcomes"]["crash"] == 0, _failures(campaign, fmt, "crash")


@pytest.mark.parametrize("fmt", INSTALLED)
def test_the_campaign_is_as_big_as_documented(campaign: dict, fmt: str) -> None:
    s = campaign["formats"][fmt]
    kinds = {kind: sum(c.values()) for kind, c in s["by_kind"].items()}
    assert kinds["flip"] >= 3000 * SCALE * 0.95
    assert kinds["trunc"] >= min(s["bytes"] // s["files"], 400 * SCALE)
    assert kinds["zero"] + kinds["rand"] >= 800 * SCALE
    # Each kind of damage is caught at least once: the loads really were damaged.
    for kind in ("flip", "trunc", "zero", "rand", "pad", "concat", "garbage", "empty",
                 "foreign"):
        assert s["by_kind"][kind]["error"] > 0, kind


def test_the_harness_sees_wrong_data_and_escapes(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The child classifies a loader's silent change and foreign exception as such."""
    good = tmp_path / "x.json"
    qserial.dump({"a": [1, 2]}, good)  # no header, no digest: a flip loads silently
    runner = Runner({"format": "json", "files": [str(good)], "foreign": [], "pubs": [None],
                     "header_reads": True, "tmp": str(tmp_path)})
    digit = good.read_bytes().index(b"2") * 8
    assert runner.run([0, "flip", 0, digit])[0] == "wrong"  # "2" -> "3"
    assert runner.run([2, "trunc", 0, 3]) == ("error", "TruncatedError")
    assert runner.run([4, "pad", 0, "space", 2]) == ("equal", "")
    monkeypatch.setattr(qserial, "load", lambda *a, **k: [][1])
    outcome, detail = runner.run([6, "flip", 0, 0])
    assert outcome == "escaped" and detail.startswith("IndexError")


def test_a_dying_child_is_counted_as_a_crash(tmp_path: Path) -> None:
    good = tmp_path / "x.json"
    qserial.dump([1, 2], good)
    spec = {"format": "json", "files": [str(good)], "foreign": [], "pubs": [None],
            "header_reads": False, "tmp": str(tmp_path), "die_on": 3}
    cases = [[i, "flip", 0, 8 * 4 + i % 8] for i in range(6)]
    results, _peak, _seconds = run_batch(spec, cases)
    assert sorted(results) == list(range(6))
    assert results[3][0] == "crash" and "signal 6" in results[3][1]
    assert all(results[i][0] != "crash" for i in (0, 1, 2, 4, 5))


# -- the JSON format's digest -------------------------------------------------------------------


COMPAT = Path(__file__).parent / "data" / "compat" / "runtime-json"


def _service_result() -> Any:
    return scenarios.small_sampler()


def test_json_digest_covers_every_byte_before_its_value() -> None:
    data = qserial.dumps(_service_result(), manifest=MANIFEST)
    value = json.loads(data)["__qserial__"]["digest_value"]
    end = data.rindex(value.encode())
    assert data[end - 1:end] == b'"' and data[end + 32:] == b'"}}'
    assert xxhash.xxh3_128_hexdigest(data[:end]) == value


def test_json_flipped_digit_in_metadata_is_caught() -> None:
    result = _service_result()
    data = qserial.dumps(result)
    at = data.index(b'"version": 2') + len(b'"version": ')
    bad = data[:at] + b"3" + data[at + 1:]  # still valid JSON, and a valid result
    with pytest.raises(IntegrityError, match=r"digest mismatch: xxh3_128 of bytes 0-\d+"):
        qserial.loads(bad)
    # Without the check the altered value loads: the digest is what caught it.
    assert "version" in first_difference(qserial.loads(bad, verify=False), result)


def test_json_every_byte_altered_is_caught() -> None:
    result = _service_result()
    data = qserial.dumps(result, manifest=MANIFEST)
    key = data.rindex(b'"__qserial__"')
    loaded = []
    for i in range(len(data)):
        bad = data[:i] + bytes([data[i] ^ 0x04]) + data[i + 1:]
        try:
            got = qserial.loads(bad)
        except QSerialError:
            continue
        assert first_difference(got, result) is None, i
        loaded.append(i)
    # Only a damaged header key loads: the header is then an unknown member, ignored,
    # and the data around it is intact.
    assert loaded == list(range(key + 1, key + len('"__qserial__"') - 1)), loaded


def test_json_manifest_and_header_are_covered() -> None:
    data = qserial.dumps(_service_result(), manifest=MANIFEST)
    for old, new in ((b"d0f1e2c3b4a5", b"d0f1e2c3b4a6"),
                     (f'"version": "{json_format.FORMAT_VERSION}"'.encode(),
                      b'"version": "1.99"')):
        with pytest.raises(IntegrityError):
            qserial.loads(data.replace(old, new))


def test_json_indented_files_are_checked() -> None:
    data = qserial.dumps(_service_result(), indent=2, manifest=MANIFEST)
    assert data.endswith(b'"\n  }\n}')
    assert_equal(qserial.loads(data), _service_result())
    with pytest.raises(IntegrityError):
        qserial.loads(data.replace(b'"version": 2', b'"version": 3'))


def test_json_trailing_whitespace_is_allowed() -> None:
    data = qserial.dumps(_service_result())
    assert_equal(qserial.loads(data + b"\n"), _service_result())
    with pytest.raises(DecodeError):
        qserial.loads(data + b"\n}")


def test_json_digest_not_at_the_end_is_refused() -> None:
    doc = json.loads(qserial.dumps(_service_result()))
    header = doc.pop("__qserial__")
    doc["__qserial__"] = {"digest_value": header.pop("digest_value"), **header}
    with pytest.raises(IntegrityError, match="not the last value"):
        qserial.loads(json.dumps(doc))
    header["digest_value"] = "0" * 32
    doc["__qserial__"] = header
    with pytest.raises(IntegrityError, match="digest mismatch"):
        qserial.loads(json.dumps(doc))


def test_json_damaged_digest_keys_are_refused() -> None:
    data = qserial.dumps(_service_result())
    for old, new in ((b'"digest":', b'"digesu":'), (b'"digest_value":', b'"digest_valuf":')):
        with pytest.raises(IntegrityError):
            qserial.loads(data.replace(old, new))


def test_json_unknown_digest_is_refused() -> None:
    data = qserial.dumps(_service_result()).replace(b'"xxh3_128"', b'"sha256"')
    with pytest.raises(DecodeError, match="unknown digest 'sha256'"):
        qserial.loads(data)
    assert_equal(qserial.loads(data, verify=False), _service_result())


def test_json_newer_major_version_is_named_before_the_digest() -> None:
    version = f'"version": "{json_format.FORMAT_VERSION}"'.encode()
    data = qserial.dumps(_service_result()).replace(version, b'"version": "2.0"')
    with pytest.raises(UnsupportedVersionError):
        qserial.loads(data)


def test_json_files_without_a_digest_still_load() -> None:
    # qserial-json files written before the digest existed (and hand-edited ones whose
    # digest was removed) load unchecked, as RuntimeEncoder's files do.
    doc = json.loads(qserial.dumps(_service_result()))
    del doc["__qserial__"]["digest"], doc["__qserial__"]["digest_value"]
    assert_equal(qserial.loads(json.dumps(doc)), _service_result())


def test_json_runtime_encoder_files_cannot_be_checked() -> None:
    # The documented limit: without a header there is nothing to check against.
    data = (COMPAT / "0.51.0" / "sampler_small.json").read_bytes()
    altered = qserial.loads(data.replace(b'"version": 2', b'"version": 3'))
    assert altered.metadata["version"] == 3 and qserial.loads(data).metadata["version"] == 2


def test_json_read_header_names_the_digest() -> None:
    header = qserial.read_header(io.BytesIO(qserial.dumps(_service_result())))
    assert header["digest"] == "xxh3_128"
    assert "digest" not in qserial.read_header(io.BytesIO(qserial.dumps({"a": 1})))


def test_json_digest_is_the_same_from_every_write_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = _service_result()
    path = tmp_path / "r.json"
    qserial.dump(result, path)
    in_memory = qserial.dumps(result)
    assert path.read_bytes() == in_memory
    # Arrays encoded in threads, and a placeholder mark that collides with the data.
    monkeypatch.setattr(_npy, "_PARALLEL_FROM", 0)
    init = json_format._Writer.__init__

    def colliding(self: Any) -> None:
        init(self)
        self.mark = "0" * 16

    monkeypatch.setattr(json_format._Writer, "__init__", colliding)
    assert qserial.dumps(result) == in_memory


# -- running it alone ---------------------------------------------------------------------------


def _replay(fmt: str, case: list) -> None:
    folder = _scratch()
    try:
        every = _build_files(qserial.list_formats(), folder)
        written = every[fmt]
        foreign = [w["files"][0] for f, w in every.items() if f != fmt]
        runner = Runner({"format": fmt, "files": written["files"], "foreign": foreign,
                         "pubs": written["pubs"], "header_reads": written["header_reads"],
                         "tmp": str(folder)})
        data, _ = mutate(case, runner.files, runner.foreign)
        print(f"{len(data)} bytes; outcome: {runner.run(case)}")
        qserial.loads(data, format=fmt)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=SCALE)
    parser.add_argument("--formats", help="comma-separated; default: every installed format")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--report", help="also write the table to this file")
    parser.add_argument("--replay", nargs=2, metavar=("FORMAT", "CASE"))
    args = parser.parse_args(argv)
    if args.child:
        child_main()
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.replay:
        _replay(args.replay[0], json.loads(args.replay[1]))
        return 0
    summary = run_campaign(args.scale, args.formats.split(",") if args.formats else None,
                           args.workers)
    text = table(summary)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    bad = sum(s["outcomes"][o] for s in summary["formats"].values()
              for o in ("wrong", "escaped", "crash"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
