"""``qserial.open``: a stored ``PrimitiveResult`` whose pubs are read when touched.

A format that can read one pub at a time (HDF5, Parquet) declares the ``lazy``
capability and returns a :class:`PubReader` from ``Format.open_lazy``; qserial wraps
it in a :class:`LazyResult`. Any other format is loaded whole when opened, behind the
same interface.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from typing import IO, Any

from ._source import FormatSpec, PathLike, open_source
from .codec import from_tree
from .errors import DecodeError, FileChangedError, PubIndexError
from .formats import Capability
from .tree import Node

__all__ = ["open", "LazyResult", "PubReader"]


class PubReader:
    """What a format's ``open_lazy(path, **options)`` returns: one open file, read by pub.

    Subclass it in a format plugin that declares the ``lazy`` capability. Each method
    returns trees (see :mod:`qserial.tree`) and checks the digests of what it read;
    bad input raises :class:`~qserial.QSerialError` subclasses, as ``load`` does.
    Opening must read no more than the file's structure: no pub's data.
    """

    def __len__(self) -> int:
        """The number of pubs."""
        raise NotImplementedError

    def root(self) -> Any:
        """The tree of the ``PrimitiveResult`` with an empty ``pub_results``: its metadata."""
        raise NotImplementedError

    def pub(self, index: int) -> Any:
        """The tree of pub ``index`` (``0 <= index < len(self)``), read and verified."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file; called once."""


class _LoadedReader(PubReader):
    """The fallback for formats that cannot read a pub alone: the whole tree, in memory."""

    def __init__(self, tree: Any) -> None:
        if not (type(tree) is Node and tree.tag == "PrimitiveResult"
                and type(tree.value) is dict and type(tree.value.get("pub_results")) is list):
            raise DecodeError("qserial.open needs a file holding a PrimitiveResult "
                              "(qserial.load reads any file)", "$")
        self.pubs = tree.value["pub_results"]
        self.rest = Node(tree.tag, {**tree.value, "pub_results": []})

    def __len__(self) -> int:
        return len(self.pubs)

    def root(self) -> Any:
        return self.rest

    def pub(self, index: int) -> Any:
        return self.pubs[index]


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class LazyResult:
    """A stored ``PrimitiveResult`` whose pubs are read from the file when touched.

    Returned by :func:`qserial.open`. ``len()``, iteration and ``result[k]`` read only
    the pubs they return (each access reads again: keep what you use); ``metadata``
    is read on first access. While it is open, the file must not change: each read
    checks the digests of what it read, and the file's identity (device, inode, size,
    modification time) against the one it had when opened, so a file replaced or
    rewritten underneath raises :class:`~qserial.FileChangedError`. Close it, or use it
    as a context manager.

    Attributes
    ----------
    path : str or None
        The file opened, None for a stream.
    format : str
        The name of its format.
    lazy : bool
        Whether pubs are read when touched; False when the format cannot do that and
        the file was loaded whole when opened.
    """

    def __init__(self, reader: PubReader, *, path: str | None, format: str, lazy: bool,
                 strict: bool, identity: tuple[int, ...] | None) -> None:
        self._reader: PubReader | None = reader
        self._count = len(reader)
        self._strict = strict
        self._identity = identity
        self._metadata: dict | None = None
        self.path = path
        self.format = format
        self.lazy = lazy

    # -- state ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._reader is None

    def close(self) -> None:
        """Release the file. Pubs and metadata already returned stay valid."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def __enter__(self) -> LazyResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # never raise from a finaliser
            pass

    def _open_reader(self) -> PubReader:
        reader = self._reader
        if reader is None:
            raise ValueError("I/O operation on a closed qserial result")
        if self._identity is not None and self.lazy:
            try:
                now = _identity(os.stat(self.path))
            except OSError as exc:
                raise FileChangedError(f"{self.path} is gone since it was opened: "
                                       f"{exc.strerror or exc}", "$") from None
            if now != self._identity:
                raise FileChangedError(f"{self.path} was replaced or modified since it was "
                                       "opened: open it again", "$")
        return reader

    # -- the PrimitiveResult interface ------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"pub indices are integers or slices, not {type(index).__name__}")
        index = operator.index(index)  # numpy integers too
        if not -self._count <= index < self._count:
            raise PubIndexError(f"pub index {index} is out of range for {self._count} pubs")
        index %= self._count
        tree = self._open_reader().pub(index)
        return _from_tree(tree, self._strict, index)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self._count):
            yield self[i]

    @property
    def metadata(self) -> dict:
        """The result's metadata, read on first access (all pubs' execution spans)."""
        if self._metadata is None:
            root = from_tree(self._open_reader().root(), strict=self._strict)
            self._metadata = root.metadata
        return self._metadata

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("lazy" if self.lazy else "loaded")
        where = self.path if self.path is not None else "a stream"
        return f"<qserial.LazyResult of {self._count} pubs, {self.format}, {state}: {where}>"


def _from_tree(tree: Any, strict: bool, index: int) -> Any:
    from .errors import QSerialError

    try:
        return from_tree(tree, strict=strict)
    except QSerialError as e:
        e.prepend_path(f"[{index}]")
        e.prepend_path(".pub_results")
        raise


def open(source: PathLike | IO[bytes], *, format: FormatSpec = None, strict: bool = True,
         **options: Any) -> LazyResult:
    """Open a stored ``PrimitiveResult``, reading its pubs only when they are touched.

    Formats with the ``lazy`` capability (HDF5, Parquet) read only the file's
    structure when it is opened; each pub when it is indexed or iterated over, its
    digests checked; the metadata on first access. Other formats (JSON, msgpack),
    and streams, are loaded whole when opened, behind the same interface.

    Parameters
    ----------
    source
        A path, or a readable binary file object (always loaded whole).
    format
        Format name or class; by default recognised from the file's first bytes.
    strict
        As for :func:`qserial.load`.
    **options
        Passed to the format's reader, as for :func:`qserial.load` (e.g. ``verify``).

    Returns
    -------
    LazyResult
        ``len()``, iteration, ``[k]`` and ``metadata`` as a ``PrimitiveResult`` has;
        close it, or use it in a ``with`` block.

    Raises
    ------
    DecodeError
        If the file does not hold a ``PrimitiveResult``.
    FileChangedError
        On a read after the file was replaced or modified.

    Examples
    --------
    >>> import os, tempfile, qserial
    >>> from qiskit import QuantumCircuit
    >>> from qiskit.primitives import StatevectorSampler
    >>> bell = QuantumCircuit(2); _ = bell.h(0); _ = bell.cx(0, 1); bell.measure_all()
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.json")
    >>> qserial.dump(StatevectorSampler(seed=1).run([bell] * 3, shots=10).result(), path)
    >>> with qserial.open(path) as result:
    ...     print(len(result), result[2].data.meas.num_shots)
    3 10
    """
    fmt, path, stream = open_source(source, format)
    if path is not None and fmt.supports(Capability.LAZY):
        identity = _identity(os.stat(path))
        reader = fmt.open_lazy(path, **options)
        try:
            if _identity(os.stat(path)) != identity:
                raise FileChangedError(f"{path} changed while it was being opened", "$")
            return LazyResult(reader, path=path, format=fmt.name, lazy=True, strict=strict,
                              identity=identity)
        except BaseException:
            reader.close()
            raise
    tree = fmt.load_path(path, **options) if path is not None else fmt.load(stream, **options)
    return LazyResult(_LoadedReader(tree), path=path, format=fmt.name, lazy=False,
                      strict=strict, identity=None)

