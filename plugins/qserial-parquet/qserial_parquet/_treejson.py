"""The part of a tree that is not a bit register, as JSON text.

Plain JSON values stand for themselves; everything JSON cannot say exactly is a
one-member object whose key starts with ``$`` (see docs/formats/parquet.md):

``{"$node": [tag, value]}``, ``{"$bytes": base64}``, ``{"$int": "0x..."}`` for ints
outside the signed 64-bit range, ``{"$float": "7ff8000000000000"}`` (IEEE bits) for
NaN and infinities, ``{"$array": [descr, shape, base64]}`` for numpy arrays,
``{"$column": [name, shape, padding]}`` for a bit register stored in a column, and
``{"$map": {...}}`` for a dict that would otherwise look like one of these.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

import qserial
from qserial import (
    DecodeError,
    ForbiddenTypeError,
    LimitExceededError,
    Node,
    QSerialError,
    path_segment,
)

__all__ = ["encode", "decode", "ColumnRef"]

_INT64 = 1 << 63
_PLAIN = (type(None), bool, str)
_LEAVES = frozenset((*_PLAIN, float))


class ColumnRef:
    """A ``BitArray.array`` kept in a Parquet column instead of the JSON text."""

    __slots__ = ("name", "padding", "shape")

    def __init__(self, name: str, shape: tuple[int, ...], padding: np.ndarray | None) -> None:
        self.name = name
        self.shape = shape
        self.padding = padding


def _lower(x: Any) -> Any:
    t = type(x)
    if t in _PLAIN:
        return x
    if t is int:
        return x if -_INT64 <= x < _INT64 else {"$int": hex(x)}
    if t is float:
        return x if math.isfinite(x) else {"$float": struct.pack(">d", x).hex()}
    if t is list:
        return [_lower(v) for v in x]
    if t is dict:
        out = {k: _lower(v) for k, v in x.items()}
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$map": out}
        return out
    if t is Node:
        return {"$node": [x.tag, _lower(x.value)]}
    if t is np.ndarray:
        return {"$array": _lower_array(x)}
    if t is bytes:
        return {"$bytes": base64.b64encode(x).decode("ascii")}
    if t is ColumnRef:
        pad = None if x.padding is None else _lower_array(x.padding)
        return {"$column": [x.name, list(x.shape), pad]}
    raise qserial.UnsupportedTypeError(f"not a tree value: {t.__name__}")


def _lower_array(a: np.ndarray) -> list:
    if a.dtype.hasobject:
        raise qserial.UnsupportedTypeError(f"numpy arrays of dtype {a.dtype} cannot be stored")
    data = np.ascontiguousarray(a).tobytes()
    descr = np.lib.format.dtype_to_descr(a.dtype)
    return [descr, list(a.shape), base64.b64encode(data).decode("ascii")]


def encode(tree: Any) -> bytes:
    """Return ``tree`` (which may hold :class:`ColumnRef`) as JSON bytes."""
    try:
        return json.dumps(_lower(tree), separators=(",", ":"), allow_nan=False).encode("ascii")
    except RecursionError:
        raise LimitExceededError("object nests too deeply to store") from None


def _tuples(descr: Any) -> Any:
    # JSON turned the structured dtype's field tuples into lists; numpy wants tuples.
    if isinstance(descr, list):
        return [tuple(_tuples(f) if isinstance(f, list) else f for f in field)
                if isinstance(field, list) else field for field in descr]
    return descr


def _shape(value: Any, path: str | None) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(n) is int and n >= 0 for n in value):
        raise DecodeError("an array shape must be a list of non-negative integers", path)
    return tuple(value)


def _raise_array(value: Any, path: str | None) -> np.ndarray:
    if not isinstance(value, list) or len(value) != 3 or not isinstance(value[2], str):
        raise DecodeError("$array must be [descr, shape, base64]", path)
    descr, shape = _tuples(value[0]), _shape(value[1], path)
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as exc:
        raise DecodeError(f"invalid array dtype {value[0]!r}: {exc}", path) from None
    if dtype.hasobject:
        raise ForbiddenTypeError(f"arrays of dtype {dtype} hold Python objects", path)
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    # Check the declared size against the payload before decoding or allocating anything.
    if nbytes != len(value[2]) // 4 * 3 - value[2][-2:].count("="):
        raise DecodeError(
            f"array of shape {shape} and dtype {dtype} needs {nbytes} bytes, the file "
            f"holds {len(value[2]) // 4 * 3 - value[2][-2:].count('=')}", path)
    try:
        data = base64.b64decode(value[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"invalid base64 array data: {exc}", path) from None
    if dtype.itemsize == 0:
        return np.empty(shape, dtype)
    return np.frombuffer(bytearray(data), dtype=dtype, count=count).reshape(shape)


def _raise_int(value: Any, path: str | None) -> int:
    if not isinstance(value, str) or len(value) > 1_000_000:
        raise DecodeError("$int must be a hexadecimal string", path)
    try:
        return int(value, 16)
    except ValueError:
        raise DecodeError(f"invalid $int {value[:40]!r}", path) from None


def _raise_float(value: Any, path: str | None) -> float:
    try:
        return struct.unpack(">d", bytes.fromhex(value))[0]
    except (TypeError, ValueError, struct.error):
        raise DecodeError(f"invalid $float {value!r}", path) from None


def raw_node(x: Any) -> tuple[str, Any] | None:
    """``(tag, value)`` of a parsed, undecoded ``$node``; None for anything else."""
    if type(x) is dict and len(x) == 1:
        found = x.get("$node")
        if type(found) is list and len(found) == 2 and type(found[0]) is str:
            return found[0], found[1]
    return None


def raw_make(tag: str, value: Any) -> dict:
    """A parsed, undecoded ``$node`` of ``tag`` and ``value``."""
    return {"$node": [tag, value]}


def decode(
    data: bytes, path: str,
    column: Callable[[str, tuple[int, ...], Any, str | None], np.ndarray] | None,
    prune: Callable[[Any], Any] | None = None,
) -> Any:
    """Parse JSON bytes written by :func:`encode` back into a tree.

    Parameters
    ----------
    data
        The JSON text.
    path
        Where this text sits in the document (``$`` or ``$.pub_results[3]``).
    column
        Called as ``column(name, shape, padding, None)`` for each ``$column``
        reference (the errors it raises get their path as they unwind); ``None``
        when the text must not hold any.
    prune
        Applied to the parsed JSON before it is decoded (e.g. to leave out what a
        partial read does not need).
    """
    try:
        doc = json.loads(data)
    except RecursionError:
        raise LimitExceededError("document nests too deeply", path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid JSON text: {exc}", path) from None
    if prune is not None:
        doc = prune(doc)

    # Paths are built only for an error, while it unwinds: the walk costs nothing for
    # them. A container finds which member failed by decoding its members again.
    # Plain values are kept without a call (in comprehensions too): this runs for every
    # value. Integers outside int64's range go on to dec's error.
    def dec(x: Any) -> Any:
        t = type(x)
        if t in _LEAVES:
            return x
        if t is int:
            if not -_INT64 <= x < _INT64:
                raise DecodeError("a large integer must be stored as $int")
            return x
        if t is list:
            try:
                return [v if type(v) in _LEAVES or (type(v) is int and -_INT64 <= v < _INT64)
                        else dec(v) for v in x]
            except QSerialError as exc:
                raise blamed(exc, ((f"[{i}]", v) for i, v in enumerate(x))) from None
        if len(x) == 1:
            key, value = next(iter(x.items()))
            if key.startswith("$"):
                return special(key, value)
        return members(x)

    def members(x: dict) -> dict:
        try:
            return {k: v if type(v) in _LEAVES or (type(v) is int and -_INT64 <= v < _INT64)
                    else dec(v) for k, v in x.items()}
        except QSerialError as exc:
            raise blamed(exc, ((path_segment(k), v) for k, v in x.items())) from None

    def blamed(exc: QSerialError, items: Any) -> QSerialError:
        for segment, value in items:
            try:
                dec(value)
            except QSerialError as again:
                again.prepend_path(segment)
                return again
        return exc

    def special(key: str, value: Any) -> Any:
        if key == "$node":
            if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
                raise DecodeError("$node must be [tag, value]")
            return Node(value[0], dec(value[1]))
        if key == "$array":
            return _raise_array(value, None)
        if key == "$bytes":
            if not isinstance(value, str):
                raise DecodeError("$bytes must be a base64 string")
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(f"invalid base64: {exc}") from None
        if key == "$int":
            return _raise_int(value, None)
        if key == "$float":
            return _raise_float(value, None)
        if key == "$map":
            if not isinstance(value, dict):
                raise DecodeError("$map must hold an object")
            return members(value)
        if key == "$column" and column is not None:
            if not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str):
                raise DecodeError("$column must be [name, shape, padding]")
            try:
                pad = None if value[2] is None else _raise_array(value[2], None)
            except QSerialError as exc:
                exc.prepend_path(".padding")
                raise
            return column(value[0], _shape(value[1], None), pad, None)
        raise DecodeError(f"unknown marker {key!r}")

    try:
        return dec(doc)
    except RecursionError:
        raise LimitExceededError("document nests too deeply", path) from None
    except QSerialError as exc:
        exc.prepend_path(path[1:])  # where this text sits; "" for the root, "$"
        raise
    finally:
        # The closures refer to each other: unbound, they and ``column`` (with the
        # reader) are freed now rather than by the cyclic collector.
        dec = members = blamed = special = None  # type: ignore[assignment]
