"""Writes to a path never lose the file: killed writers, failing disks, bad objects.

Every installed format is tested. A writer killed with SIGKILL at a random moment
while it overwrites a good file must leave the old file or the new one, never a torn
one; the temporary file it leaves is ignored by loads and removed by the next
successful dump to the same target. A write that fails (file size limit, full disk,
an object that cannot be stored, no permission) raises a QSerialError and leaves the
target byte-identical, with no stray file beside it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

import qserial
from qserial import Format, QSerialError, UnsupportedTypeError, WriteError
from qserial.formats import get_format, list_formats
from qserial.testing import assert_equal
from tests import _results

REPO = Path(__file__).resolve().parents[1]
FORMATS = list_formats()
KILL_RUNS = 30  # per format


def _suffix(fmt: str) -> str:
    return get_format(fmt).suffixes[0]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _run_python(code: str, *args: str, timeout: float = 300, **kwargs: Any
                ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, **kwargs)


def _report(proc: subprocess.Popen, timeout: float = 300) -> Any:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


# -- kill -9 at random moments --------------------------------------------------------------

# Runs in its own process: forks a writer per run, kills it at a random moment of its
# write with SIGKILL, and reports what the target holds afterwards.
_KILL_WRITERS = r"""
import json, os, random, signal, sys, time
import qserial
from qserial.formats import get_format
from qserial.testing import first_difference
from tests import _results

fmt, folder, runs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
exact = fmt not in ("json", "jsongz")
suffix = get_format(fmt).suffixes[0]
target = os.path.join(folder, "result" + suffix)
ref = os.path.join(folder, "reference")
os.mkdir(ref)

def write_time(value):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        qserial.dump(value, os.path.join(ref, "timing" + suffix))
        times.append(time.perf_counter() - start)
    return min(times)

# The new result is big (8 MB of bits), unless the format writes it slowly: the kills
# only need a write that lasts long enough to be hit at many different moments.
old = _results.sampler_result()
for pubs in (32, 8, 2):
    new = _results.random_sweep_result(pubs, 16, 4096, 30)
    duration = write_time(new)
    if duration < 0.1:
        break
refs = {}
for name, value in (("old", old), ("new", new)):
    qserial.dump(value, os.path.join(ref, name + suffix))
    with open(os.path.join(ref, name + suffix), "rb") as f:
        refs[name] = f.read()
prefix = ".result" + suffix + ".qserial-"

def strays():
    return sorted(n for n in os.listdir(folder) if n.startswith(prefix))

def state():
    with open(target, "rb") as f:
        data = f.read()
    for name, expected in refs.items():
        if data == expected:
            return name
    try:  # bytes may differ between two writes of the same value: compare values
        got = qserial.load(target)
    except qserial.QSerialError as exc:
        return "torn: " + str(exc)[:200]
    for name, value in (("old", old), ("new", new)):
        if first_difference(got, value, exact=exact) is None:
            return name
    return "torn: loads as neither"

rng = random.Random(seed)
report = []
mid_write = 0
# ``runs`` kills, and more (up to three times as many) until a fifth landed mid-write:
# on a busy machine a write may take another time than it did when timed above.
while len(report) < runs or (mid_write < runs // 5 and len(report) < 3 * runs):
    qserial.dump(old, target)  # each run overwrites a good file; also removes strays
    left = strays()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, b"!")
        try:
            qserial.dump(new, target)
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    os.read(r, 1)  # the writer is about to start
    os.close(r)
    delay = rng.uniform(0, 1.5 * duration)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    report.append({"delay": delay, "killed": os.WIFSIGNALED(status),
                   "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                   "state": state(), "strays": strays(), "strays_before": left})
    mid_write += report[-1]["killed"] and bool(report[-1]["strays"])
final = {"strays": strays()}
final["loads_beside_strays"] = state() in ("old", "new")
qserial.dump(new, target)
final["after_dump"] = strays()
final["new_ok"] = first_difference(qserial.load(target), new, exact=exact) is None
print(json.dumps({"duration": duration, "bytes": len(refs["new"]), "runs": report,
                  "final": final}))
"""


@pytest.fixture(scope="module")
def kill_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.Popen]:
    # All formats at once: each writer process mostly waits on its victims.
    procs = {}
    for i, fmt in enumerate(FORMATS):
        folder = tmp_path_factory.mktemp(f"kill-{fmt}")
        procs[fmt] = _run_python(_KILL_WRITERS, fmt, str(folder), str(KILL_RUNS), str(1000 + i))
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_during_overwrite_never_tears(kill_reports: dict[str, subprocess.Popen],
                                          fmt: str) -> None:
    report = _report(kill_reports[fmt])
    runs = report["runs"]
    assert KILL_RUNS <= len(runs) <= 3 * KILL_RUNS
    torn = [r for r in runs if r["state"] not in ("old", "new")]
    assert torn == [], f"{len(torn)} torn files: {torn[:3]}"
    assert all(r["exit"] in (None, 0) for r in runs), runs
    # The test is only worth something if writers were really killed mid-write, which
    # the temporary file they leave shows; a kill before the rename keeps the old file.
    mid_write = [r for r in runs if r["killed"] and r["strays"]]
    assert len(mid_write) >= KILL_RUNS // 5, f"only {len(mid_write)} kills landed mid-write"
    assert all(r["state"] == "old" for r in mid_write)
    # What a killed writer leaves is removed by the next successful dump to the target.
    assert all(r["strays_before"] == [] for r in runs)
    final = report["final"]
    assert final["loads_beside_strays"]
    assert final["after_dump"] == []
    assert final["new_ok"]


# -- a file size limit: write() fails with EFBIG ------------------------------------------

_FSIZE_LIMITED = r"""
import hashlib, json, os, resource, signal, sys
import qserial
from qserial.formats import get_format
from tests import _results

folder = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
old, new = _results.sampler_result(), _results.random_sweep_result(8, 4, 1000, 30)
out = {}
for fmt in qserial.list_formats():
    sub = os.path.join(folder, fmt)
    os.mkdir(sub)
    target = os.path.join(sub, "result" + get_format(fmt).suffixes[0])
    qserial.dump(old, target)
    with open(target, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 10, hard))  # the new file is 128 kB+
    try:
        qserial.dump(new, target)
        error = None
    except BaseException as exc:
        error = {"type": type(exc).__name__, "write_error": isinstance(exc, qserial.WriteError),
                 "message": str(exc)}
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    out[fmt] = {"target": target, "before": before, "error": error}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def fsize_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fsize")
    return _report(_run_python(_FSIZE_LIMITED, str(folder)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_size_limit_is_a_write_error(fsize_report: dict[str, Any], fmt: str) -> None:
    got = fsize_report[fmt]
    assert got["error"] is not None, "the write should have failed"
    assert got["error"]["write_error"], got["error"]
    assert "too large" in got["error"]["message"].lower()
    target = Path(got["target"])
    assert hashlib.sha256(target.read_bytes()).hexdigest() == got["before"]
    assert _listing(target.parent) == [target.name]


# -- failures in this process -------------------------------------------------------------


@pytest.fixture(params=FORMATS)
def existing(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, bytes]:
    fmt = request.param
    path = tmp_path / f"result{_suffix(fmt)}"
    qserial.dump(_results.estimator_result(), path)
    return fmt, path, path.read_bytes()


def _untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert _listing(path.parent) == [path.name]


def test_object_that_cannot_be_stored(existing: tuple[str, Path, bytes]) -> None:
    _fmt, path, before = existing
    with pytest.raises(UnsupportedTypeError) as info:
        qserial.dump({"result": _results.sampler_result(), "bad": [1, object()]}, path)
    assert info.value.path == "$.bad[1]"
    _untouched(path, before)


# Trees the writers cannot store, each behind a big array so the failure comes mid-file.
_BAD_TREES = {
    "object": lambda: {"a": np.arange(1 << 16), "z": [1, object()]},
    "set": lambda: {"a": np.arange(1 << 16), "z": {1, 2}},
    "object array": lambda: {"a": np.arange(1 << 16), "z": np.array([object()])},
}


@pytest.mark.parametrize("bad", sorted(_BAD_TREES))
def test_writer_failing_mid_file_leaves_target(existing: tuple[str, Path, bytes],
                                               bad: str) -> None:
    _fmt, path, before = existing
    try:
        with pytest.raises(UnsupportedTypeError):
            qserial.dump_tree(_BAD_TREES[bad](), path)
    finally:
        _untouched(path, before)


class _FullDisk(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes."""

    room = 20_000

    def write(self, data: Any) -> int:
        if self.tell() + memoryview(data).nbytes > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def _on_full_disk(fmt: str) -> Format:
    inner = get_format(fmt)

    class OnFullDisk(Format):
        name = f"{fmt}-on-full-disk"

        def dump_path(self, tree: Any, path: str, **options: Any) -> None:
            with _FullDisk(path, "w+") as stream:
                inner.dump(tree, stream, **options)

    return OnFullDisk()


def test_full_disk_is_a_write_error(existing: tuple[str, Path, bytes]) -> None:
    fmt, path, before = existing
    try:
        with pytest.raises(WriteError, match="No space left"):
            qserial.dump(_results.random_sweep_result(8, 4, 1000, 30), path,
                         format=_on_full_disk(fmt))
    finally:
        _untouched(path, before)


class _Crashing(Format):
    """Writes half a file, then fails with something other than an OSError."""

    name = "crashing"
    error: type[BaseException] = RuntimeError

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        get_format("json").dump(tree, stream)
        stream.seek(stream.tell() // 2)
        stream.truncate()
        raise self.error("the format gave up")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, MemoryError])
def test_format_failing_mid_write_leaves_target(existing: tuple[str, Path, bytes],
                                                error: type[BaseException]) -> None:
    _fmt, path, before = existing
    crashing = type("Crashing", (_Crashing,), {"error": error})
    with pytest.raises(error, match="gave up"):
        qserial.dump(_results.sampler_result(), path, format=crashing)
    _untouched(path, before)


# -- permissions ----------------------------------------------------------------------------

# Runs without the privileges that let root ignore permissions.
_WRITE_EACH = r"""
import json, sys
import numpy as np
import qserial
out = {}
for target in sys.argv[1:]:
    try:
        qserial.dump({"x": np.arange(100)}, target)
        out[target] = None
    except BaseException as exc:
        out[target] = {"type": type(exc).__name__, "write_error":
                       isinstance(exc, qserial.WriteError), "message": str(exc)}
print(json.dumps(out))
"""


def _write_each(targets: list[Path]) -> dict[str, Any]:
    command = [sys.executable, "-c", _WRITE_EACH, *map(str, targets)]
    if os.geteuid() == 0:
        # root without capabilities (CAP_DAC_OVERRIDE above all) obeys file permissions.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is not installed")
        command = [setpriv, "--bounding-set=-all", "--", *command]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture
def unlocked(tmp_path: Path) -> Path:
    yield tmp_path
    for sub in tmp_path.iterdir():  # so that pytest can remove them
        sub.chmod(0o755)


def test_permission_denied_is_a_write_error(unlocked: Path) -> None:
    targets = []
    for fmt in FORMATS:
        locked = unlocked / fmt
        locked.mkdir()
        (unlocked / f"{fmt}-ro-file").mkdir()
        for folder in (locked, unlocked / f"{fmt}-ro-file"):
            target = folder / f"result{_suffix(fmt)}"
            qserial.dump(_results.sampler_result(), target)
            targets.append(target)
        locked.chmod(0o555)  # the folder: no new file in it
        targets[-1].chmod(0o444)  # the file: the folder is open, the file is read-only
    before = {t: t.read_bytes() for t in targets}
    report = _write_each(targets)
    for target in targets:
        got = report[str(target)]
        assert got is not None and got["write_error"], (target, got)
        assert "ermission denied" in got["message"]
        assert target.read_bytes() == before[target]
        assert _listing(target.parent) == [target.name]


# -- what a killed writer leaves behind -----------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    qserial.dump({"x": 1}, target)
    dead, alive = _dead_pid(), os.getppid()
    names = {
        f".result.json.qserial-{dead}-0123abcd.tmp": False,  # its writer is gone
        f".result.json.qserial-{alive}-0123abcd.tmp": True,  # a live writer's
        f".result.json.qserial-{os.getpid()}-0123abcd.tmp": True,  # this process's
        f".other.json.qserial-{dead}-0123abcd.tmp": True,  # another target's
        f".result.json.qserial-{dead}-0123abcd.tmp.bak": True,  # not a name qserial makes
        f".result.json.qserial-{dead}-NOTHEX00.tmp": True,
        ".result.json.qserial-0-0123abcd.tmp": True,
        "result.json.qserial-1-0123abcd.tmp": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    assert qserial.load(target) == {"x": 1}  # loads never look at them
    qserial.dump({"x": 2}, target)
    assert qserial.load(target) == {"x": 2}
    kept = sorted(n for n, keep in names.items() if keep)
    assert _listing(tmp_path) == sorted([*kept, "result.json"])


def test_stale_temporaries_of_a_failed_write_stay_until_a_success(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    qserial.dump({"x": 1}, target)
    stale = tmp_path / f".result.json.qserial-{_dead_pid()}-0123abcd.tmp"
    stale.write_bytes(b"partial")
    with pytest.raises(UnsupportedTypeError):
        qserial.dump({"x": object()}, target)
    assert stale.exists()
    qserial.dump({"x": 3}, target)
    assert not stale.exists()


# -- what a successful overwrite keeps -------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_overwrite_keeps_permissions(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"result{_suffix(fmt)}"
    qserial.dump({"x": np.arange(3)}, target)
    target.chmod(0o640)
    qserial.dump({"x": np.arange(5)}, target)
    assert target.stat().st_mode & 0o777 == 0o640
    assert_equal(qserial.load(target), {"x": np.arange(5)})


def test_overwrite_through_a_symlink_replaces_the_linked_file(tmp_path: Path) -> None:
    real = tmp_path / "data" / "result.json"
    real.parent.mkdir()
    qserial.dump({"x": 1}, real)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    qserial.dump({"x": 2}, link)
    assert link.is_symlink()
    assert qserial.load(real) == {"x": 2}
    assert _listing(real.parent) == ["result.json"]


def test_write_errors_are_qserial_errors() -> None:
    assert issubclass(WriteError, QSerialError) and issubclass(WriteError, OSError)


# -- the module every writer uses --------------------------------------------------------------


@pytest.mark.parametrize("durable, syncs", [(True, 2), (False, 0)])
def test_durable_flag_decides_the_fsyncs_not_the_atomicity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool, syncs: int) -> None:
    from qserial import _atomic

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    seen: list[bytes] = []

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(b"new")
        seen.append(target.read_bytes())  # the target is untouched until the rename

    _atomic.atomic_write(str(target), write, durable=durable)
    assert seen == [b"old"] and target.read_bytes() == b"new"
    assert len(synced) == syncs  # the file, then its folder
    assert _listing(tmp_path) == ["out.bin"]


def test_stale_temporaries_of_any_target_go_when_no_prefix_is_given(tmp_path: Path) -> None:
    from qserial import _atomic

    dead = _dead_pid()
    stale = [f".a.json.qserial-{dead}-0123abcd.tmp", f".b.h5.qserial-{dead}-89abcdef.tmp"]
    kept = [f".a.json.qserial-{os.getpid()}-0123abcd.tmp", f".qserial-{dead}-0123abcd.tmp",
            "b.h5"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    assert _atomic.remove_stale_temps(str(tmp_path)) == 2
    assert _listing(tmp_path) == sorted(kept)
    assert _atomic.temp_pid(f".a.json.qserial-{dead}-0123abcd.tmp") == dead
    assert not _atomic.process_exists(dead) and _atomic.process_exists(os.getpid())
