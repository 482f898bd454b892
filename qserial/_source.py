"""Opening what a reader is given: telling a file's format, reading its header.

Every reader (``load``, ``load_tree``, ``read_header``, ``provenance``, the command
line) finds the format the same way, through :func:`open_source`: the format named by
the caller, else the one that recognises the first bytes, else the one the suffix
names.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import IO, Any, Union

from .errors import DecodeError, UnknownFormatError, UnsupportedFeatureError
from .formats import (
    SNIFF_BYTES,
    Capability,
    Format,
    format_for_suffix,
    get_format,
    list_formats,
    sniff_format,
)

__all__ = ["detect_format", "open_source", "read_header"]

PathLike = Union[str, "os.PathLike[str]"]
# A name, a class, a configured format or a configuration (Format.get_config).
FormatSpec = Union[str, Format, type[Format], Mapping[str, Any], None]  # noqa: UP007


def is_path(source: Any) -> bool:
    """Whether ``source`` is a path rather than a file object."""
    return isinstance(source, (str, os.PathLike))


def open_source(source: PathLike | IO[bytes], format: FormatSpec = None
                ) -> tuple[Format, str | None, IO[bytes] | None]:
    """The format to read ``source`` with, and the path or the stream to read from.

    Exactly one of the path and the stream is set. A stream is made seekable (a
    non-seekable one is read into memory) and left at the position it was given at.
    """
    if is_path(source):
        path = os.fspath(source)
        # A plain descriptor: a buffered file object costs twice as much, on every load.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            head = os.read(fd, SNIFF_BYTES)
        finally:
            os.close(fd)
        return _resolve(head, format, path), path, None
    stream = _seekable(source)
    start = stream.tell()
    head = stream.read(SNIFF_BYTES)
    stream.seek(start)
    return _resolve(head, format, getattr(source, "name", None)), None, stream


def _seekable(stream: IO[bytes]) -> IO[bytes]:
    """``stream``, or its content in memory when it cannot seek (a pipe, a socket).

    Every format reads at more than one place (a header, then data; a footer first),
    so a stream read once from start to end is buffered whole.
    """
    try:
        seekable = bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        return stream
    try:
        return io.BytesIO(stream.read())
    except (AttributeError, OSError) as exc:
        raise DecodeError(f"cannot read the stream: {exc}", "$") from None


def _resolve(head: bytes, format: FormatSpec, path: str | None) -> Format:
    if format is not None:
        return get_format(format)
    fmt = sniff_format(head)
    if fmt is not None:
        return fmt
    if not head:
        raise DecodeError("the file is empty", "$")
    if path is not None:
        try:
            return format_for_suffix(os.path.basename(path))
        except UnknownFormatError:
            pass
    raise UnknownFormatError(
        f"cannot tell the format of {path or 'the data'} from its content "
        f"(starts with {head[:16]!r}); installed formats: {', '.join(list_formats())}"
    )


def detect_format(source: PathLike | IO[bytes]) -> Format:
    """Return the format a file or stream is in, told as :func:`qserial.load` tells it.

    The format that recognises the first bytes wins; the suffix of the path (or of
    the stream's ``name``) is only a fallback. Nothing but the first bytes is read.

    Parameters
    ----------
    source
        A path, or a readable, seekable binary file object; the stream is left at the
        position it had.

    Returns
    -------
    Format
        The installed format, e.g. ``format.name == "json"``.

    Raises
    ------
    UnknownFormatError
        If no installed format recognises the content or the suffix.
    DecodeError
        If the file is empty.
    ValueError
        If a stream cannot seek back to where it was.

    Examples
    --------
    >>> import io, qserial
    >>> qserial.detect_format(io.BytesIO(qserial.dumps([1, 2]))).name
    'json'
    """
    if not is_path(source) and not (hasattr(source, "seekable") and source.seekable()):
        raise ValueError("detect_format needs a path or a seekable stream")
    return open_source(source)[0]


def read_header(source: PathLike | IO[bytes], *, format: FormatSpec = None) -> dict[str, Any]:
    """Return a file's header without reading its data.

    Parameters
    ----------
    source
        A path, or a readable binary file object.
    format
        Format name or class; by default recognised from the file's first bytes.

    Returns
    -------
    dict
        ``{"format": name, "version": layout version, "writer": {package: version}}``,
        ``"options"`` (the write options the file was made with) and ``"manifest"``
        when the file holds one (``qserial.dump(job, ...)`` puts
        the job's provenance there); formats may add more.

    Raises
    ------
    UnsupportedFeatureError
        If the format cannot read its header alone.

    Examples
    --------
    >>> import io, qserial
    >>> buf = io.BytesIO()
    >>> qserial.dump(complex(1, 2), buf, manifest={"note": "calibration run"})
    >>> _ = buf.seek(0)
    >>> qserial.read_header(buf)["manifest"]
    {'note': 'calibration run'}
    """
    fmt, path, stream = open_source(source, format)
    if not fmt.supports(Capability.HEADER):
        raise UnsupportedFeatureError(f"format {fmt.name!r} cannot read a file's header alone")
    return fmt.read_header_path(path) if path is not None else fmt.read_header(stream)
