"""Checks shared by decoders: turn malformed fields into clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DecodeError


def fields(value: Any, tag: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """Return ``value`` if it is a dict holding the ``required`` keys and no others.

    A key neither required nor ``optional`` raises: a field qserial does not know would
    otherwise be dropped without a word.
    """
    if not isinstance(value, dict):
        raise DecodeError(f"{tag} must hold a mapping of fields, not {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise DecodeError(f"{tag} lacks field(s) {', '.join(missing)}")
    if len(value) > len(required):  # every required key is there: only then can others be
        unknown = [k for k in value if k not in required and k not in optional]
        if unknown:
            names = ", ".join(repr(k)[:40] for k in unknown[:5])
            raise DecodeError(f"{tag} has unknown field(s) {names}"
                              f"{' and more' if len(unknown) > 5 else ''}; known: "
                              f"{', '.join((*required, *optional))}")
    return value


def integer(value: Any, what: str, *, minimum: int | None = 0) -> int:
    """Return ``value`` as an int if it is an integral number (not bool)."""
    if type(value) is int and (minimum is None or value >= minimum):
        return value  # the common case, checked first: spans hold hundreds of these
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DecodeError(f"{what} must be an integer, not {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise DecodeError(f"{what} must be at least {minimum}, not {value}")
    return value


def optional_integer(value: Any, what: str) -> int | None:
    """Like :func:`integer`, but ``None`` passes (open slice ends)."""
    return None if value is None else integer(value, what, minimum=None)


def shape(value: Any, what: str = "shape") -> tuple[int, ...]:
    """Return a shape tuple from a list or tuple of non-negative ints."""
    if not isinstance(value, (list, tuple)):
        raise DecodeError(f"{what} must be a sequence of integers, not {type(value).__name__}")
    if all(type(v) is int and v >= 0 for v in value):
        return tuple(value)
    return tuple(integer(v, what) for v in value)


def sequence(value: Any, what: str) -> list:
    """Return ``value`` if it is a list or tuple."""
    if type(value) is list:
        return value
    if not isinstance(value, (list, tuple)):
        raise DecodeError(f"{what} must be a sequence, not {type(value).__name__}")
    return list(value)


def mapping(value: Any, what: str) -> dict:
    """Return ``value`` if it is a dict (``None`` gives an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{what} must be a mapping, not {type(value).__name__}")
    return value
