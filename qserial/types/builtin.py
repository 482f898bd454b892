"""Python and numpy values that a tree does not hold natively.

Tags ``complex``, ``datetime`` and ``set`` are RuntimeEncoder's; the others are
qserial's own (the JSON format lowers them to what RuntimeEncoder writes).
"""

from __future__ import annotations

import datetime as _dt
import functools
import zoneinfo
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DecodeError, UnsupportedTypeError
from . import _fields

if TYPE_CHECKING:
    from ..registry import TypeRegistry


def _decode_complex(value: Any) -> complex:
    parts = _fields.sequence(value, "complex")
    if len(parts) != 2 or not all(type(p) in (int, float) for p in parts):
        raise DecodeError("complex must be [real, imag] numbers")
    # complex(re, im) keeps infinities and signed zeros; re + 1j * im does not.
    return complex(float(parts[0]), float(parts[1]))


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # The IANA keys of this machine's time zone data, read once: a file can name only
    # one of these (ZoneInfo then reads that zone's data, nothing else).
    return frozenset(zoneinfo.available_timezones())


def _encode_datetime(value: _dt.datetime) -> str:
    """``isoformat()``, plus ``[IANA key]`` (RFC 9557) when the zone is a ZoneInfo.

    The offset alone would lose the zone: its name, and its arithmetic across DST.
    """
    text = value.isoformat()
    zone = value.tzinfo
    if isinstance(zone, zoneinfo.ZoneInfo):
        key = zone.key
        if type(key) is not str or key not in _known_zones():
            raise UnsupportedTypeError(
                f"datetime's time zone {key!r} is not an IANA time zone known here, so it "
                "could not be read back; use ZoneInfo(key) or a fixed UTC offset")
        text += f"[{key}]"
    return text


def _decode_datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, str):
        raise DecodeError(f"datetime must be an ISO 8601 string, not {type(value).__name__}")
    text, key = value, None
    if value.endswith("]"):
        text, _, key = value[:-1].rpartition("[")
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise DecodeError(f"invalid datetime {value!r}") from exc
    if key is None:
        return when
    if when.tzinfo is None:
        raise DecodeError(f"datetime {value!r} names a time zone but has no UTC offset")
    if key not in _known_zones():
        raise DecodeError(f"datetime {value!r}: time zone {key!r} is not known here "
                          "(install the tzdata package for the IANA time zones)")
    zone = zoneinfo.ZoneInfo(key)
    naive = when.replace(tzinfo=None)
    for fold in (0, 1):  # the offset tells which of two equal wall times it was
        local = naive.replace(tzinfo=zone, fold=fold)
        if local.utcoffset() == when.utcoffset():
            return local
    raise DecodeError(f"datetime {value!r}: the offset is not one of zone {key!r} then")


def _decode_date(value: Any) -> _dt.date:
    if not isinstance(value, str):
        raise DecodeError(f"date must be an ISO 8601 string, not {type(value).__name__}")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError as exc:
        raise DecodeError(f"invalid date {value!r}") from exc


def _encode_set(value: set | frozenset) -> list:
    # Sorted where possible so that equal sets give byte-identical files.
    try:
        return sorted(value)
    except TypeError:
        return list(value)


def _decode_npscalar(value: Any) -> np.generic:
    if type(value) is not np.ndarray or value.ndim != 0:
        raise DecodeError("npscalar must hold a 0-d array")
    return value[()]


def _decode_dict(value: Any) -> dict:
    pairs = _fields.sequence(value, "dict")
    out = {}
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DecodeError("dict must hold [key, value] pairs")
        out[pair[0]] = pair[1]
    return out


def _encode_object_array(arr: np.ndarray) -> dict:
    # An array of Python objects: each element is stored as the value it is (so only
    # storable values), never pickled. Plain numeric arrays never come here.
    if type(arr) is not np.ndarray or arr.dtype != np.dtype(object):
        raise UnsupportedTypeError(
            f"numpy arrays of dtype {arr.dtype} hold Python objects and cannot be stored safely")
    return {"shape": tuple(arr.shape), "items": list(arr.ravel(order="C"))}


def _decode_object_array(value: Any) -> np.ndarray:
    f = _fields.fields(value, "objarray", ("shape", "items"))
    shape = _fields.shape(f["shape"], "objarray.shape")
    items = _fields.sequence(f["items"], "objarray.items")
    if len(items) != int(np.prod(shape, dtype=object)):
        raise DecodeError(f"objarray of shape {shape} cannot hold {len(items)} items")
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):  # one by one: a list item must stay one element
        out[i] = item
    return out.reshape(shape)


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    reg = registry.register
    reg(tuple, "tuple", encode=list, decode=lambda v: tuple(_fields.sequence(v, "tuple")))
    reg(set, "set", encode=_encode_set, decode=lambda v: set(_fields.sequence(v, "set")))
    reg(frozenset, "frozenset", encode=_encode_set,
        decode=lambda v: frozenset(_fields.sequence(v, "frozenset")))
    reg(complex, "complex", encode=lambda c: [c.real, c.imag], decode=_decode_complex)
    reg(_dt.datetime, "datetime", encode=_encode_datetime, decode=_decode_datetime)
    reg(_dt.date, "date", encode=_dt.date.isoformat, decode=_decode_date)
    # A dict subclass, or a dict with keys other than str, is stored as key/value pairs.
    reg(dict, "dict", encode=lambda d: [[k, v] for k, v in d.items()], decode=_decode_dict)
    # A numpy scalar is a 0-d array under its own tag: exact for every dtype.
    reg(np.generic, "npscalar", encode=np.asarray, decode=_decode_npscalar)
    # Arrays of fixed-size dtypes are tree leaves; object arrays come here.
    reg(np.ndarray, "objarray", encode=_encode_object_array, decode=_decode_object_array)

