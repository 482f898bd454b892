"""Objects to trees and back, through the type registry."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import (
    DecodeError,
    LimitExceededError,
    QSerialError,
    UnknownTagError,
    UnsupportedTypeError,
    describe_exception,
    path_segment,
)
from .registry import REGISTRY, TypeRegistry
from .tree import Node, UnknownObject

__all__ = ["to_tree", "from_tree", "key_segment"]

_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


# Kept under its first name for the modules that walk trees.
key_segment = path_segment


def _type_name(t: type) -> str:
    """``module.QualName`` of ``t``, for messages; never fails.

    Qiskit's singleton gates are instances of classes whose ``__module__`` is None;
    they are named after their first public base that has a module (``CXGate``).
    """
    try:
        if type(t.__module__) is str:
            return f"{t.__module__}.{t.__qualname__}"
        for c in t.__mro__[1:]:
            if type(c.__module__) is str and not c.__qualname__.startswith("_"):
                return f"{c.__module__}.{c.__qualname__} ({t.__qualname__})"
        return str(t.__qualname__)
    except Exception:
        return "<a class that cannot be named>"


def to_tree(obj: Any, *, registry: TypeRegistry = REGISTRY) -> Any:
    """Convert ``obj`` into the neutral tree every format writes.

    Parameters
    ----------
    obj
        A result, or any value built from registered types, lists, dicts, numpy
        arrays and plain Python scalars.
    registry
        The type registry to use.

    Returns
    -------
    object
        The tree (see :mod:`qserial.tree`).

    Raises
    ------
    UnsupportedTypeError
        If some part of ``obj`` has no registered encoder; the message says where.
    """
    for_type = registry.for_type

    def enc(x: Any) -> Any:
        t = type(x)
        try:
            if t in _SCALARS:
                return x
        except Exception:  # a metaclass with a broken __hash__: the lookup below says so
            pass
        if t is list:
            out = []
            for i, v in enumerate(x):
                try:
                    out.append(enc(v))
                except QSerialError as e:
                    e.prepend_path(f"[{i}]")
                    raise
            return out
        if t is dict:
            if all(type(k) is str for k in x):
                res = {}
                for k, v in x.items():
                    try:
                        res[k] = enc(v)
                    except QSerialError as e:
                        e.prepend_path(key_segment(k))
                        raise
                return res
            pairs = []
            for k, v in x.items():
                try:
                    pairs.append([enc(k), enc(v)])
                except QSerialError as e:
                    e.prepend_path(key_segment(k))
                    raise
            return Node("dict", pairs)
        if t is np.ndarray and not x.dtype.hasobject:
            return x
        if t is Node or t is UnknownObject:
            return Node(x.tag, enc(x.value))
        try:
            entry = for_type(t)
        except Exception as exc:  # user code run by the lookup: __hash__, __eq__, __module__
            raise UnsupportedTypeError(
                f"cannot store an object of type {_type_name(t)}: looking up its class "
                f"failed with {describe_exception(exc)}") from exc
        if entry is None:
            reason = registry.why_missing(cls=t)
            raise UnsupportedTypeError(
                f"cannot store an object of type {_type_name(t)}; "
                + (reason if reason else "register it with qserial.register_type")
            )
        try:
            fields = entry.encode(x)
        except QSerialError:
            raise
        except Exception as exc:
            raise UnsupportedTypeError(
                f"cannot encode {entry.tag}: {describe_exception(exc)}") from exc
        return Node(entry.tag, enc(fields))

    try:
        return enc(obj)
    except RecursionError:
        raise LimitExceededError("object nests too deeply to store") from None
    finally:
        enc = None  # type: ignore[assignment]  # a recursive closure: see from_tree


_NESTED = frozenset((list, dict, Node))
_UNSEEN = object()


def from_tree(tree: Any, *, strict: bool = True, registry: TypeRegistry = REGISTRY) -> Any:
    """Rebuild objects from a tree.

    Parameters
    ----------
    tree
        A tree as produced by :func:`to_tree` or read by a format.
    strict
        If true (the default) an unknown tag raises :class:`UnknownTagError`; if
        false it becomes an :class:`~qserial.tree.UnknownObject` holding the tag and
        value.
    registry
        The type registry to use.

    Raises
    ------
    UnknownTagError
        On an unknown tag in strict mode.
    DecodeError
        If a tagged value cannot be rebuilt (wrong fields or values).
    """
    registry_for_tag = registry.for_tag
    NESTED = _NESTED
    # Per call: a tag whose provider failed to load is tried once per document.
    entries: dict[str, Any] = {}
    entry_of = entries.get

    def dec(x: Any) -> Any:
        # Leaves (anything but a list, dict or Node) are kept without a call: this runs
        # for every value of a result.
        t = type(x)
        if t is list:
            out = []
            for i, v in enumerate(x):
                if type(v) not in NESTED:
                    out.append(v)
                    continue
                try:
                    out.append(dec(v))
                except QSerialError as e:
                    e.prepend_path(f"[{i}]")
                    raise
            return out
        if t is dict:
            res = {}
            for k, v in x.items():
                if type(v) not in NESTED:
                    res[k] = v
                    continue
                try:
                    res[k] = dec(v)
                except QSerialError as e:
                    e.prepend_path(key_segment(k))
                    raise
            return res
        if t is Node:
            value = x.value
            if type(value) in NESTED:
                value = dec(value)
            entry = entry_of(x.tag, _UNSEEN)
            if entry is _UNSEEN:
                entry = entries[x.tag] = registry_for_tag(x.tag)
            if entry is None:
                if strict:
                    reason = registry.why_missing(tag=x.tag)
                    raise UnknownTagError(
                        f"unknown type tag {x.tag!r}; "
                        + (f"{reason}; " if reason else "")
                        + "load with strict=False to keep it as a qserial.UnknownObject"
                    )
                return UnknownObject(x.tag, value)
            try:
                return entry.decode(value)
            except QSerialError:
                raise
            except Exception as exc:
                raise DecodeError(f"invalid {x.tag}: {exc}") from exc
        return x

    try:
        return dec(tree)
    except RecursionError:
        raise LimitExceededError("document nests too deeply") from None
    finally:
        # ``dec`` refers to itself: unbound, it is freed now, not by the cyclic collector.
        dec = None  # type: ignore[assignment]
