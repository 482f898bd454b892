"""``dump``/``load`` and friends: objects to files and back in any installed format."""

from __future__ import annotations

import io
import json
import os
from typing import IO, Any

from ._atomic import atomic_write
from ._provenance import is_job, job_provenance
from ._source import FormatSpec, PathLike, is_path, open_source
from .codec import from_tree, to_tree
from .errors import (
    DecodeError,
    FormatOptionError,
    QSerialError,
    UnsupportedFeatureError,
    UnsupportedTypeError,
    WriteError,
    describe_exception,
)
from .formats import Format, format_for_suffix, get_format, list_formats
from .partial import pub_indices, restrict_spans
from .tree import Node

__all__ = ["dump", "load", "dumps", "loads", "dump_tree", "load_tree", "select_pubs"]


def dump(
    obj: Any,
    target: PathLike | IO[bytes],
    *,
    format: FormatSpec = None,
    manifest: dict | None = None,
    durable: bool = True,
    **options: Any,
) -> None:
    """Write ``obj`` to a file or a binary stream.

    Writing to a path is atomic: the data goes to a temporary file in the same
    folder, is flushed to disk, and replaces the target in one step, so a crash
    leaves either the old file or the new one. Whatever ``obj`` holds, nothing but a
    :class:`~qserial.QSerialError` subclass is raised for it.

    Parameters
    ----------
    obj
        A ``PrimitiveResult`` or any value built from registered types; or a job
        (``RuntimeJobV2``, local testing mode's job, anything with callable
        ``result()`` and ``job_id()``), whose result is stored with the job's
        provenance in the manifest, under ``"provenance"`` (see
        :func:`qserial.provenance`).
    target
        A path, or a writable binary file object.
    format
        Format name, :class:`~qserial.formats.Format` class, or a configured format
        (``qserial.get_format("json", compression=1)``). By default taken from the
        path's suffix (``.json``, ``.msgpack``/``.mpk``, ``.h5``/``.hdf5``,
        ``.parquet``/``.pq``); required for streams other than JSON.
    manifest
        A JSON-able dict kept in the file's header, readable without the data by
        :func:`read_header`; needs a format with ``supports_manifest``.
    durable
        If true (the default), a path's file and folder are flushed to disk before
        ``dump`` returns, so the file survives a power loss. ``False`` skips both
        fsyncs, for bulk writers that flush once at the end (``os.sync()``) or can
        write again: the write is still atomic (a crash of the process leaves the old
        file or the new one), but a power loss may lose it. Streams are never synced.
    **options
        The format's write options, over its configuration (for JSON:
        ``compression``, ``indent``; ``qserial.get_format(name).describe_options()``
        lists a format's). They are recorded in the file's header.

    Raises
    ------
    UnknownFormatError
        If the format cannot be told from the suffix; the message lists the known ones.
    FormatOptionError
        For an option the format does not have or an invalid value, before anything
        is written; the message lists the format's options.
    UnsupportedTypeError
        If some part of ``obj`` cannot be stored; the message says where.
    WriteError
        If writing fails (a path is then left as it was), or ``target`` is neither a
        path nor an open binary stream.
    UnsupportedFeatureError
        If a manifest is given (or ``obj`` is a job) and the format cannot store one.
    """
    obj, manifest = _with_provenance(obj, manifest)
    tree = to_tree(obj)
    if is_path(target):
        dump_tree(tree, target, format=format, manifest=manifest, durable=durable, **options)
    else:
        _check_stream(target)
        fmt = _for_write(get_format(format if format is not None else "json"), options)
        try:
            fmt.dump(tree, target, **_manifest_option(fmt, manifest))
        except OSError as exc:
            if isinstance(exc, QSerialError):
                raise
            raise WriteError(
                f"could not write to the stream: {describe_exception(exc)}") from exc


def _check_stream(target: Any) -> None:
    """Refuse, before any work, a target that is no open binary stream."""
    try:
        writable = callable(getattr(target, "write", None))
        closed = writable and getattr(target, "closed", False) is True
    except Exception:  # a file-like object whose attributes fail
        writable = closed = False
    if not writable:
        raise WriteError(f"cannot write to an object of type {type(target).__name__}: give "
                         "a path or a binary file object opened for writing")
    if closed:
        raise WriteError("cannot write to a closed stream")
    if isinstance(target, io.TextIOBase):
        raise WriteError("cannot write to a text stream: open the file in binary mode "
                         "('wb') or give its path")


def dump_tree(tree: Any, path: PathLike, *, format: FormatSpec = None,
              manifest: dict | None = None, durable: bool = True, **options: Any) -> None:
    """Atomically write an already built tree to ``path`` (see :func:`dump`)."""
    path = os.fspath(path)
    fmt = get_format(format) if format is not None else format_for_suffix(os.path.basename(path))
    fmt = _for_write(fmt, options)
    extra = _manifest_option(fmt, manifest)
    atomic_write(path, lambda tmp: fmt.dump_path(tree, tmp, **extra), durable=durable)


def _for_write(fmt: Format, options: dict[str, Any]) -> Format:
    """``fmt`` configured with the write ``options``, checked before anything is written."""
    if not options:
        return fmt
    for key in ("strict", "pubs"):
        if key in options:
            raise FormatOptionError(f"{key!r} is no option of dump")
    fmt.write_options(options)  # names a read option given to dump as such
    return fmt.with_options(**options)


def _with_provenance(obj: Any, manifest: dict | None) -> tuple[Any, dict | None]:
    """A job's result, and the manifest with the job's provenance added."""
    if not is_job(obj):
        return obj, manifest
    result = obj.result()  # first, so that the provenance records the final status
    return result, {"provenance": job_provenance(obj), **(manifest or {})}


def _manifest_option(fmt: Format, manifest: dict | None) -> dict[str, Any]:
    if manifest is None:
        return {}
    if not fmt.supports_manifest:
        able = [name for name in list_formats() if get_format(name).supports_manifest]
        raise UnsupportedFeatureError(
            f"format {fmt.name!r} cannot store a manifest (e.g. a job's provenance); "
            f"formats that can: {', '.join(able)}")
    if not isinstance(manifest, dict):
        raise UnsupportedTypeError(f"the manifest must be a dict, not {type(manifest).__name__}")
    try:
        json.dumps(manifest, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnsupportedTypeError(f"the manifest must be plain JSON data: {exc}") from None
    return {"manifest": manifest}


def dumps(obj: Any, *, format: FormatSpec = "json", manifest: dict | None = None,
          **options: Any) -> bytes:
    """Return ``obj`` encoded in ``format`` (JSON by default) as bytes.

    Examples
    --------
    >>> import qserial
    >>> qserial.dumps({"shots": 1024})
    b'{"shots": 1024}'
    """
    obj, manifest = _with_provenance(obj, manifest)
    fmt = _for_write(get_format(format if format is not None else "json"), options)
    buf = io.BytesIO()
    fmt.dump(to_tree(obj), buf, **_manifest_option(fmt, manifest))
    return buf.getvalue()


def load_tree(source: PathLike | IO[bytes], *, format: FormatSpec = None, **options: Any) -> Any:
    """Read the tree of a file or stream without building objects (see :func:`load`)."""
    return _load_opened(*open_source(source, format), options)


def _load_opened(fmt: Format, path: str | None, stream: IO[bytes] | None,
                 options: dict[str, Any]) -> Any:
    rest = {k: v for k, v in options.items() if k != "pubs"}
    if rest:
        fmt.read_options(rest)  # unknown or write options refused before reading
    return fmt.load_path(path, **options) if path is not None else fmt.load(stream, **options)


def select_pubs(tree: Any, pubs: list[int]) -> Any:
    """Return the tree of a ``PrimitiveResult`` holding only the pubs at ``pubs``.

    Its metadata's execution spans are restricted to those pubs, as every format's
    partial read does (see :mod:`qserial.partial`).
    """
    if not (type(tree) is Node and tree.tag == "PrimitiveResult" and isinstance(tree.value, dict)):
        raise DecodeError("pubs= needs a file holding a PrimitiveResult", "$")
    results = tree.value.get("pub_results")
    if not isinstance(results, list):
        raise DecodeError("PrimitiveResult.pub_results is not a list", "$.pub_results")
    pubs = pub_indices(pubs, len(results))
    value = {**tree.value, "pub_results": [results[i] for i in pubs]}
    if "metadata" in value:
        value["metadata"] = restrict_spans(value["metadata"], pubs)
    return Node("PrimitiveResult", value)


def load(
    source: PathLike | IO[bytes],
    *,
    format: FormatSpec = None,
    strict: bool = True,
    pubs: list[int] | None = None,
    **options: Any,
) -> Any:
    """Read an object from a file or a binary stream.

    Parameters
    ----------
    source
        A path, or a readable binary file object.
    format
        Format name or class. By default the format is recognised from the
        file's first bytes; the suffix is only a fallback.
    strict
        If true (the default) an unknown type tag raises
        :class:`~qserial.UnknownTagError`; if false it is returned as a
        :class:`~qserial.UnknownObject`.
    pubs
        Indices of the pubs to read from a ``PrimitiveResult``: any integers (numpy
        integers or an integer array too), negative ones counting from the end.
        Formats that support partial reads read only those pubs' data.
    **options
        The format's read options. Every format takes ``verify=False`` to skip its
        digest checks on trusted files, and the limits ``max_array_bytes``,
        ``max_expansion`` and ``max_bytes``, one by one or as
        ``limits=qserial.Limits(...)`` (see docs/compatibility.md).

    Returns
    -------
    object
        The stored object, e.g. a ``PrimitiveResult``.

    Raises
    ------
    QSerialError
        A subclass naming what went wrong and where: unknown format, unknown tag,
        corrupt or truncated data, unsupported version, exceeded limit, an unknown
        option (:class:`~qserial.FormatOptionError`).
    """
    if pubs is not None:
        pubs = pub_indices(pubs, None)  # plain ints for the formats, from numpy's too
    opened = open_source(source, format)
    if pubs is None:
        tree = _load_opened(*opened, options)
    elif opened[0].supports_partial:
        tree = _load_opened(*opened, {**options, "pubs": pubs})
    else:
        tree = select_pubs(_load_opened(*opened, options), pubs)
    return from_tree(tree, strict=strict)


def loads(data: bytes | bytearray | memoryview | str, *, format: FormatSpec = None,
          strict: bool = True, pubs: list[int] | None = None, **options: Any) -> Any:
    """Read an object from bytes (or JSON text).

    Examples
    --------
    >>> import qserial
    >>> qserial.loads('{"__type__": "complex", "__value__": [1.0, -2.0]}')
    (1-2j)
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return load(io.BytesIO(data), format=format, strict=strict, pubs=pubs, **options)
