"""Peak extra memory of one write or read, measured in a fresh child process.

Why this way: ``tracemalloc`` slows Python code several times over and does not see
what C libraries (HDF5, Arrow, zlib) allocate, and counting numpy/h5py/pyarrow buffers
by hand misses temporary copies, which are the thing to catch. The operating system's
peak resident set size sees every allocation. It is measured in a new process per
operation, so no earlier operation's freed-but-kept memory can hide a new one:

* a fork server (``python -m qserial.bench._memory``) imports qserial, Qiskit and
  qiskit-ibm-runtime once, then forks a child per measurement, which starts in
  milliseconds with a clean heap (the server never runs an operation itself);
* the child builds the object to write (or nothing, to read), runs the operation once
  on a small result to import the format's library, then resets the kernel's peak
  counter (``/proc/self/clear_refs``, Linux), notes the resident size, runs the
  operation once and reads the peak (``VmHWM``). The difference is the operation's
  peak extra memory; for a read it includes the loaded result itself.

Where the peak cannot be reset (macOS, BSD) the difference of ``ru_maxrss`` before and
after is reported instead, which may understate; without ``os.fork`` (Windows) memory
is not measured.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from typing import Any

__all__ = ["MemoryProbe", "available"]


def available() -> bool:
    """Whether peak memory can be measured on this platform."""
    return hasattr(os, "fork")


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # "reset the peak resident set size to the current one"
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, else KiB


def _measure(request: dict[str, Any], scratch: str) -> dict[str, Any]:
    """Run in the forked child: the measurement itself."""
    from ..scenarios import small_sampler
    from ._cases import Case
    from ._subjects import Subject, arrays_of, make_ops, read_op

    case = Case(**{**request["case"], "kwargs": tuple(map(tuple, request["case"]["kwargs"]))})
    subject = Subject(request["subject"]["kind"], request["subject"]["format"],
                      tuple(map(tuple, request["subject"]["options"])))
    write = request["op"] == "write"
    obj = case.build() if write else None
    # Import the format's library and fill the registry's caches on a small result.
    tiny = small_sampler()
    warm = make_ops(subject, tiny, arrays_of(tiny), scratch, "warm-up")
    if warm.write is not None:
        warm.write()
        warm.read()
    if write:
        run = make_ops(subject, obj, arrays_of(obj), scratch, "measured").write
    else:
        run = read_op(subject, request["path"])
    del tiny, warm
    gc.collect()
    exact = _reset_peak() and _status_kib("VmHWM") is not None
    base = (_status_kib("VmRSS") or 0) * 1024 if exact else _maxrss_bytes()
    kept = run()  # kept alive until the peak is read: a loaded result is part of it
    if exact:
        peak = (_status_kib("VmHWM") or 0) * 1024
        method = "peak RSS (VmHWM reset before the operation)"
    else:
        peak = _maxrss_bytes()
        method = "growth of ru_maxrss (may understate)"
    del kept
    return {"peak_extra_bytes": max(0, peak - base), "method": method}


def _serve() -> None:
    """The fork server's loop: one JSON request per line in, one JSON answer per line out."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: measure, answer through the pipe, never return
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)  # nothing the measured code prints may reach the parent
            scratch = tempfile.mkdtemp(prefix="qserial-bench-mem-")
            try:
                answer = _measure(request, scratch)
            except BaseException as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            os.write(write_end, json.dumps(answer).encode())
            os._exit(0)
        os.close(write_end)
        chunks = []
        with os.fdopen(read_end, "rb") as f:
            chunks.append(f.read())
        _, status = os.waitpid(pid, 0)
        data = b"".join(chunks)
        if not data:
            answer = {"error": f"the measuring process died (wait status {status})"}
        else:
            answer = json.loads(data)
        out.write(json.dumps(answer) + "\n")
        out.flush()


class MemoryProbe:
    """Measures peak memory through a fork server process; use as a context manager.

    Examples
    --------
    >>> from qserial.bench import scenario_case, Subject
    >>> with MemoryProbe() as probe:                                # doctest: +SKIP
    ...     probe.measure(scenario_case("sweep"), Subject("format", "msgpack"), "write")
    {'peak_extra_bytes': 8192, 'method': 'peak RSS (VmHWM reset before the operation)'}
    """

    def __init__(self, timeout_s: float = 600.0) -> None:
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> MemoryProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[str]:
        import qserial

        env = dict(os.environ)
        # The server must import this very qserial, installed or not.
        root = os.path.dirname(os.path.dirname(os.path.abspath(qserial.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        # Its own session, so that a stuck measurement can be killed with its server.
        return subprocess.Popen([sys.executable, "-m", "qserial.bench._memory"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)

    def close(self, kill: bool = False) -> None:
        """Stop the fork server (``kill``: at once, with any child it is waiting for)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            if not kill:
                proc.wait(timeout=30)
                return
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, 9)  # the server's session: the server and its children
        except OSError:
            proc.kill()
        proc.wait()

    def measure(self, case: Any, subject: Any, op: str, path: str | None = None
                ) -> dict[str, Any]:
        """Peak extra memory of ``subject``'s ``op`` (``"write"`` or ``"read"``) on ``case``.

        Parameters
        ----------
        case
            The :class:`~qserial.bench.Case`; a write builds its object in the child.
        subject
            The :class:`~qserial.bench.Subject`.
        op
            ``"write"`` (the object already in memory) or ``"read"`` (of ``path``).
        path
            The file a read reads.

        Returns
        -------
        dict
            ``{"peak_extra_bytes": int, "method": str}``, or ``{"error": str}``.
        """
        if not available():
            return {"error": "peak memory is not measured on this platform (no os.fork)"}
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        request = {"case": {"name": case.name, "scenario": case.scenario,
                            "kwargs": list(case.kwargs), "path": case.path},
                   "subject": {"kind": subject.kind, "format": subject.format,
                               "options": list(subject.options)},
                   "op": op, "path": path}
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout_s)
            line = proc.stdout.readline() if ready else ""
        except (OSError, ValueError) as exc:
            line, error = "", f"the fork server failed: {exc}"
        else:
            error = (f"no answer within {self.timeout_s:.0f} s" if not ready
                     else "the fork server died")
        if not line:
            self.close(kill=True)
            return {"error": error}
        return json.loads(line)


if __name__ == "__main__":
    # Imported once here, so that every forked child starts with them loaded.
    import qiskit.primitives.containers  # noqa: F401
    import qiskit_ibm_runtime  # noqa: F401

    import qserial.scenarios  # noqa: F401
    from qserial.bench import _cases, _subjects  # noqa: F401

    _serve()
