"""Atomic, durable file writes, and the removal of what killed writers leave behind.

A file is written under a temporary name in its own folder, flushed to disk, renamed
over the target in one step and the folder flushed too, so a crash leaves the old file
or the new one, never half of one. The temporary name records the writer's pid:
``.<target name>.qserial-<pid>-<8 hex digits>.tmp``. A file of that shape whose pid
names no live process on this machine was left by a killed writer; loads never read it,
and :func:`remove_stale_temps` deletes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from .errors import QSerialError, WriteError

__all__ = ["atomic_write", "fsync_folder", "process_exists", "remove_stale_temps",
           "temp_pid", "temp_prefix"]

TEMP_INFIX = ".qserial-"
_NAME_CHARS = 128  # of the target's name, so that the temporary name stays valid
_HEX = frozenset("0123456789abcdef")


def temp_prefix(path: str) -> str:
    """What the name of every temporary file for ``path`` starts with."""
    return f".{os.path.basename(path)[:_NAME_CHARS]}{TEMP_INFIX}"


def temp_pid(name: str) -> int | None:
    """The writer's pid in a temporary file's name; None if ``name`` is not one.

    Examples
    --------
    >>> temp_pid(".job.json.qserial-4242-0123abcd.tmp"), temp_pid("job.json")
    (4242, None)
    """
    head, sep, rest = name.rpartition(TEMP_INFIX)
    if not sep or len(head) < 2 or head[0] != ".":
        return None
    pid, _, tail = rest.partition("-")
    if not (pid.isdigit() and pid.isascii() and len(pid) <= 10 and len(tail) == 12
            and tail.endswith(".tmp") and _HEX.issuperset(tail[:8])):
        return None
    return int(pid)


def process_exists(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this machine; True when it cannot be told.

    Callers delete files or take over work when this is False, so every doubt (another
    user's process, a platform without the probe) answers True.
    """
    if os.name != "posix":  # os.kill(pid, 0) probes only on POSIX (elsewhere it kills)
        return True
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: it exists, as another user's process
        return True
    return True


def fsync_folder(folder: str) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a crash."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[str], None], *, durable: bool = True) -> None:
    """Run ``write(temporary path)``, then put that file at ``path`` in one step.

    Parameters
    ----------
    path
        The target. Through a symbolic link, the file it points to is replaced.
    write
        Writes the whole file at the path it is given.
    durable
        If true (the default), the file and its folder are flushed to disk before this
        returns, so the new file survives a power loss. If false, both fsyncs are
        skipped: still atomic (a crash of the process leaves the old file or the new
        one), but a power loss may lose the write.

    Raises
    ------
    WriteError
        If writing or renaming fails (``OSError``); the target is left as it was and
        the temporary file removed. Errors raised by ``write`` pass through.
    """
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    prefix = temp_prefix(path)
    tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    if mode is not None and not os.access(path, os.W_OK):
        # Replacing the file would get around its permissions, as open(path, "w") cannot.
        raise WriteError(f"could not write {path}: Permission denied")
    try:
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)  # an overwritten file keeps its permissions
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:  # never written, or the folder forbids it: keep the first error
            pass
        if isinstance(exc, OSError) and not isinstance(exc, QSerialError):
            raise WriteError(f"could not write {path}: {exc.strerror or exc}") from exc
        raise
    if durable:
        fsync_folder(folder)
    remove_stale_temps(folder, prefix)


def remove_stale_temps(folder: str, prefix: str = ".") -> int:
    """Delete the temporary files in ``folder`` whose writer no longer runs.

    Only names made by :func:`atomic_write` and starting with ``prefix`` (by default
    any target's; :func:`temp_prefix` for one target's) are considered, and a file is
    deleted only when no process on this machine has the pid in its name.

    Returns
    -------
    int
        How many files were deleted.
    """
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix)]
    except OSError:
        return 0
    me = os.getpid()
    removed = 0
    for name in names:
        pid = temp_pid(name)
        if pid is None or pid == me or process_exists(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed += 1
        except OSError:
            pass
    return removed
