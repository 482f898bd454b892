"""What is benchmarked: the raw I/O floor, RuntimeEncoder/RuntimeDecoder, each format.

Every subject has a write, a read and (except RuntimeEncoder) a durable write:

* raw I/O: ``os.write`` of the array bytes to one file; durable: the same to a
  temporary file, then ``fsync``, rename and ``fsync`` of the folder; read: one
  ``readinto`` of the file into newly allocated memory.
* RuntimeEncoder: ``json.dump(obj, f, cls=RuntimeEncoder)`` to an open text file;
  read: ``json.load(f, cls=RuntimeDecoder)``.
* a format: ``fmt.dump_path(to_tree(obj), path)``, i.e. ``qserial.dump`` without its
  atomic step; durable: ``qserial.dump(obj, path)``; read: ``qserial.load(path)``.

So a write and the raw write compare like with like (no ``fsync``, page cache), and
so do a durable write and the durable raw write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._atomic import fsync_folder

__all__ = ["Subject", "Ops", "make_ops", "read_op", "array_views", "arrays_of", "RAW", "RUNTIME",
           "ZSTD", "zstd_available"]


@dataclass(frozen=True)
class Subject:
    """One row of a benchmark.

    Attributes
    ----------
    kind
        ``"raw"``, ``"zstd"`` (raw I/O of the arrays compressed with zstd level 1),
        ``"runtime"``, ``"format"``, or ``"runtime-file"`` (qserial reading
        the file RuntimeEncoder wrote; read only).
    format
        Format name for ``"format"`` and ``"runtime-file"``.
    options
        Dump options of a format, as sorted ``(name, value)`` pairs.
    """

    kind: str
    format: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """Row label: ``"raw I/O"``, ``"RuntimeEncoder"``, ``"parquet compression=zstd"``."""
        if self.kind == "raw":
            return "raw I/O"
        if self.kind == "zstd":
            return "raw zstd-1"
        if self.kind == "runtime":
            return "RuntimeEncoder"
        if self.kind == "runtime-file":
            return f"{self.format} (Runtime file)"
        opts = " ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.format} {opts}" if opts else str(self.format)

    @property
    def options_dict(self) -> dict[str, Any]:
        """The dump options as a dict."""
        return dict(self.options)


RAW = Subject("raw")
#: The arrays' bytes, each compressed with zstd at level 1, written and read as raw I/O
#: does: what compressing costs at the least, for formats that compress.
ZSTD = Subject("zstd")
RUNTIME = Subject("runtime")


@dataclass
class Ops:
    """The operations of one subject on one object, bound to its files."""

    path: str
    write: Callable[[], Any] | None
    durable: Callable[[], Any] | None
    read: Callable[[], Any]
    durable_path: str | None = None

    def remove(self) -> None:
        """Remove the file :attr:`write` creates (before each timed write)."""
        _unlink(self.path)

    def remove_durable(self) -> None:
        """Remove the file :attr:`durable` creates (before each timed durable write)."""
        if self.durable_path is not None:
            _unlink(self.durable_path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def arrays_of(obj: Any, tree: Any = None) -> list[np.ndarray]:
    """The numpy arrays ``obj`` holds (via its qserial tree): the bytes any format stores."""
    from ..codec import to_tree
    from ..tree import Node

    found: list[np.ndarray] = []
    stack = [to_tree(obj) if tree is None else tree]
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


def array_views(arrays: Sequence[np.ndarray]) -> list[memoryview]:
    """Byte views of ``arrays`` (copies only of non-contiguous ones)."""
    return [memoryview(np.ascontiguousarray(a)).cast("B") for a in arrays]


def _write_all(fd: int, views: Sequence[memoryview]) -> None:
    for view in views:
        while view:
            view = view[os.write(fd, view):]


def _write_file(path: str, views: Sequence[memoryview], *, durable: bool) -> None:
    """``os.write`` of ``views`` to ``path``; durable: what an atomic write must do at least.

    That is a temporary file, fsync, rename and fsync of the folder.
    """
    target = path + ".tmp" if durable else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, views)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    if durable:
        os.replace(target, path)
        fsync_folder(os.path.dirname(path))


def _raw_ops(arrays: Sequence[np.ndarray], folder: str, stem: str) -> Ops:
    views = array_views(arrays)
    path = os.path.join(folder, f"{stem}.raw")
    durable_path = os.path.join(folder, f"{stem}.durable.raw")

    def write() -> None:
        _write_file(path, views, durable=False)

    def durable() -> None:
        _write_file(durable_path, views, durable=True)

    return Ops(path, write, durable, read_op(RAW, path), durable_path)


def zstd_available() -> bool:
    """Whether the ``zstandard`` package (the ``raw zstd-1`` reference) is installed."""
    import importlib.util

    return importlib.util.find_spec("zstandard") is not None


def _zstd_ops(arrays: Sequence[np.ndarray], folder: str, stem: str) -> Ops:
    import zstandard

    views = array_views(arrays)
    path = os.path.join(folder, f"{stem}.zst")
    durable_path = os.path.join(folder, f"{stem}.durable.zst")

    def frames() -> list[bytes]:
        cctx = zstandard.ZstdCompressor(level=1)
        return [cctx.compress(v) for v in views]

    def write() -> None:
        _write_file(path, [memoryview(f) for f in frames()], durable=False)

    def durable() -> None:
        _write_file(durable_path, [memoryview(f) for f in frames()], durable=True)

    def read() -> np.ndarray:
        packed = read_op(RAW, path)()
        total = sum(len(v) for v in views)
        out = np.empty(total, np.uint8)
        with zstandard.ZstdDecompressor().stream_reader(
                memoryview(packed), read_across_frames=True) as reader:
            view, n = memoryview(out), 0
            while n < total:
                got = reader.readinto(view[n:])
                if not got:
                    raise OSError(f"{path} inflated to {n} of {total} bytes")
                n += got
        return out

    return Ops(path, write, durable, read, durable_path)


def _runtime_ops(obj: Any, folder: str, stem: str) -> Ops:
    from qiskit_ibm_runtime import RuntimeEncoder

    path = os.path.join(folder, f"{stem}.runtime.json")

    def write() -> None:
        with open(path, "w") as f:  # as qiskit-ibm-runtime's guide writes results
            json.dump(obj, f, cls=RuntimeEncoder)

    return Ops(path, write, None, read_op(RUNTIME, path))


def _format_ops(subject: Subject, obj: Any, folder: str, stem: str) -> Ops:
    from ..api import dump
    from ..codec import to_tree
    from ..formats import get_format

    fmt = get_format(str(subject.format), **subject.options_dict)  # configured, checked
    suffix = fmt.suffixes[0] if fmt.suffixes else f".{fmt.name}"
    tag = "".join(c if c.isalnum() else "-" for c in subject.label)
    path = os.path.join(folder, f"{stem}.{tag}{suffix}")
    durable_path = os.path.join(folder, f"{stem}.{tag}.durable{suffix}")

    def write() -> None:
        # qserial.dump without its atomic step (temporary file, fsync, rename).
        fmt.dump_path(to_tree(obj), path)

    def durable() -> None:
        dump(obj, durable_path, format=fmt)

    return Ops(path, write, durable, read_op(subject, path), durable_path)


def read_op(subject: Subject, path: str) -> Callable[[], Any]:
    """The read of ``subject`` on the file at ``path``, returning what it read."""
    if subject.kind == "raw":
        def read_raw() -> np.ndarray:
            with open(path, "rb", buffering=0) as f:
                total = os.fstat(f.fileno()).st_size
                out = np.empty(total, dtype=np.uint8)  # newly allocated, as a loader must
                view, n = memoryview(out), 0
                while n < total:
                    got = f.readinto(view[n:])
                    if not got:
                        raise OSError(f"{path} ended after {n} of {total} bytes")
                    n += got
            return out
        return read_raw
    if subject.kind == "runtime":
        from qiskit_ibm_runtime import RuntimeDecoder

        def read_runtime() -> Any:
            with open(path) as f:
                return json.load(f, cls=RuntimeDecoder)
        return read_runtime
    from ..api import load

    return lambda: load(path)


def make_ops(subject: Subject, obj: Any, arrays: Sequence[np.ndarray], folder: str,
             stem: str, runtime_path: str | None = None) -> Ops:
    """Bind ``subject``'s operations to ``obj`` and to files in ``folder``.

    Parameters
    ----------
    subject
        What to run.
    obj
        The object written.
    arrays
        Its arrays (what raw I/O writes).
    folder
        Where the files go.
    stem
        File name stem (the case's name).
    runtime_path
        RuntimeEncoder's file, read by a ``"runtime-file"`` subject.
    """
    if subject.kind == "raw":
        return _raw_ops(arrays, folder, stem)
    if subject.kind == "zstd":
        return _zstd_ops(arrays, folder, stem)
    if subject.kind == "runtime":
        return _runtime_ops(obj, folder, stem)
    if subject.kind == "runtime-file":
        if runtime_path is None:
            raise ValueError("a runtime-file subject needs RuntimeEncoder's file")
        return Ops(runtime_path, None, None, read_op(subject, runtime_path))
    return _format_ops(subject, obj, folder, stem)
