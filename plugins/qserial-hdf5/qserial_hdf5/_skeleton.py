"""The tree's structure as JSON text, with arrays moved out to HDF5 datasets.

Every tree kind maps to plain JSON except a few, which become one-key-first objects
whose first key starts with ``$`` (plain dicts never have such a key: a dict that does
is stored as pairs):

===========================  ===============================================
tree value                   JSON
===========================  ===============================================
None, bool, str, list        themselves
int within 64 bits           a number
other int                    ``{"$i": "<hex>"}``
finite float                 a number (always with ``.`` or ``e``)
NaN, inf, -inf               ``{"$f": "<16 hex digits of the IEEE bits>"}``
bytes                        ``{"$b": "<base64>"}``
dict with a ``$`` key        ``{"$d": [[key, value], ...]}``
Node(tag, value)             ``{"$t": tag, "v": value}``
ndarray                      ``{"$a": dataset, "dtype": ..., "shape": [...],
                             "raw": bool, "at": file offset of its bytes or null}``,
                             and when its one chunk is compressed, ``"z": the chunk's
                             stored size, "codec": "deflate" or "zstd"``
numpy scalar (npscalar)      ``{"$a": null, "dtype": ..., "shape": [], "raw": bool,
                             "data": "<base64>"}``
===========================  ===============================================
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

from qserial import (
    DecodeError,
    LimitExceededError,
    Node,
    QSerialError,
    UnsupportedTypeError,
    path_segment,
)

__all__ = ["array_extents", "decode", "dtype_from_json", "dtype_to_json", "dumps_json", "encode",
           "loads_json", "loads_prefix", "loads_run", "loads_span", "storage_dtype"]

_INT64 = 1 << 63
# Keys that say nothing about an array, skipped when naming its dataset.
_ANON_KEYS = frozenset({"array", "fields"})


def dtype_to_json(dt: np.dtype) -> Any:
    """Describe ``dt`` exactly, structured and sub-array dtypes included."""
    if dt.fields is not None:
        names = list(dt.names or ())
        return {
            "names": names,
            "formats": [dtype_to_json(dt.fields[n][0]) for n in names],
            "offsets": [int(dt.fields[n][1]) for n in names],
            "itemsize": dt.itemsize,
        }
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return {"base": dtype_to_json(base), "shape": list(shape)}
    return dt.str


def dtype_from_json(desc: Any) -> np.dtype:
    """Rebuild a dtype from :func:`dtype_to_json`; refuses object dtypes."""
    if isinstance(desc, str):
        dt = _DTYPES.get(desc)
        if dt is None:
            dt = _simple_dtype(desc)
            if len(_DTYPES) < 256:
                _DTYPES[desc] = dt
        return dt
    try:
        if isinstance(desc, dict) and "names" in desc:
            names, formats = desc["names"], desc["formats"]
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise DecodeError("structured dtype names must be strings")
            if not isinstance(formats, list) or len(formats) != len(names):
                raise DecodeError("structured dtype needs one format per name")
            dt = np.dtype({
                "names": names,
                "formats": [dtype_from_json(f) for f in formats],
                "offsets": [_small_int(o) for o in desc["offsets"]],
                "itemsize": _small_int(desc["itemsize"]),
            })
        elif isinstance(desc, dict) and "base" in desc:
            shape = tuple(_small_int(n) for n in desc["shape"])
            dt = np.dtype((dtype_from_json(desc["base"]), shape))
        else:
            raise DecodeError(f"invalid dtype description {desc!r:.80}")
    except QSerialError:
        raise
    except Exception as exc:  # numpy raises TypeError/ValueError/KeyError for bad text
        raise DecodeError(f"invalid dtype {desc!r:.80}: {exc}") from None
    if dt.hasobject:
        raise DecodeError(f"dtype {dt} holds Python objects; refused")
    return dt


_DTYPES: dict[str, np.dtype] = {}


def _simple_dtype(desc: str) -> np.dtype:
    try:
        dt = np.dtype(desc)
    except Exception as exc:  # numpy raises TypeError/ValueError for bad text
        raise DecodeError(f"invalid dtype {desc!r:.80}: {exc}") from None
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise DecodeError(f"dtype {desc!r:.80} is not a plain dtype; refused")
    return dt


def _small_int(v: Any) -> int:
    if type(v) is not int or not 0 <= v < _INT64:
        raise DecodeError(f"expected a non-negative integer, got {v!r:.40}")
    return v


def storage_dtype(dt: np.dtype) -> np.dtype | None:
    """The dtype a dataset holds ``dt`` as natively, or None to store its raw bytes.

    Numbers HDF5 and h5py map one-to-one (any byte order for integers and floats,
    native order for complex) are stored as themselves, so other readers see them as
    numbers; everything else (bool, strings, datetimes, structured) as raw bytes.
    """
    kind, size = dt.kind, dt.itemsize
    if dt.fields is not None or dt.subdtype is not None:
        return None
    if (kind in "iu" and size in (1, 2, 4, 8)) or (kind == "f" and size in (2, 4, 8)):
        return dt
    if kind == "c" and size in (8, 16) and dt.isnative:
        return dt
    return None


def encode(tree: Any,
           add_array: Callable[[np.ndarray, str, dict, bool],
                               tuple[str, int | None, dict | None]],
           claim: Callable[[list[str]], None] = lambda fields: None) -> Any:
    """Return the JSON-ready skeleton of ``tree``.

    ``add_array(array, name_hint, attrs, register)`` stores an array as a dataset and
    returns the dataset name, the file offset of its bytes (None when it has none) and,
    for a compressed dataset, ``{"z": stored size, "codec": name}``; ``register`` is
    true for the array of a DataBin field itself. ``claim(names)`` is called with a
    DataBin's field names before any of its arrays. numpy scalars
    (``npscalar`` nodes) are inlined.
    """

    def enc(x: Any, hint: str, attrs: dict | None = None, register: bool = False) -> Any:
        # Most frequent kinds first: this runs for every value of every pub.
        t = type(x)
        if t is dict:
            for k in x:
                if k[:1] == "$":
                    return {"$d": [[k, enc(v, hint if k in _ANON_KEYS else k)]
                                   for k, v in x.items()]}
            return {k: enc(v, hint if k in _ANON_KEYS else k, attrs if k == "array" else None,
                           register and k == "array")
                    for k, v in x.items()}
        if t is Node:
            value = x.value
            tag = x.tag
            if tag == "npscalar" and type(value) is np.ndarray and value.ndim == 0:
                # numpy scalars stay in the structure: a dataset each would cost more
                # than the value.
                return {"$t": tag, "v": _inline(value)}
            if (tag == "BitArray" and type(value) is dict
                    and type(value.get("num_bits")) is int
                    and -_INT64 <= value["num_bits"] < _INT64):
                # Readers without qserial find num_bits next to the packed bytes.
                return {"$t": tag, "v": enc(value, hint, {"num_bits": value["num_bits"]},
                                            register)}
            if (tag == "DataBin" and type(value) is dict and type(value.get("fields")) is dict
                    and not any(k[:1] == "$" for k in (*value, *value["fields"]))):
                fields = value["fields"]
                claim(list(fields))
                return {"$t": tag, "v": {
                    k: ({f: enc(v, f, None, True) for f, v in fields.items()}
                        if k == "fields" else enc(v, hint))
                    for k, v in value.items()}}
            return {"$t": tag, "v": enc(value, hint)}
        if t is str or t is bool or x is None:
            return x
        if t is int:
            return x if -_INT64 <= x < _INT64 else {"$i": format(x, "x")}
        if t is list:
            # Items share the list's name; the second and later get "#n" names.
            return [v if type(v) is str else enc(v, hint) for v in x]
        if t is np.ndarray:
            if x.dtype.hasobject:
                raise UnsupportedTypeError("an array of Python objects cannot be stored")
            name, offset, packed = add_array(x, hint, attrs or {}, register)
            entry = {"$a": name, "dtype": dtype_to_json(x.dtype), "shape": list(x.shape),
                     "raw": storage_dtype(x.dtype) is None or x.ndim > 31, "at": offset}
            if packed is not None:
                entry.update(packed)
            return entry
        if t is float:
            if math.isfinite(x):
                return x
            return {"$f": struct.pack(">d", x).hex()}
        if t is bytes:
            return {"$b": base64.b64encode(x).decode("ascii")}
        raise UnsupportedTypeError(f"a tree cannot hold {t.__name__}; convert the value "
                                   "with qserial.to_tree first")

    try:
        return enc(tree, "")
    finally:
        # ``enc`` refers to itself: unbound, it and ``add_array`` (with the writer) are
        # freed now rather than by the cyclic collector.
        enc = None  # type: ignore[assignment]


#: Codecs of compressed chunks, and the HDF5 filter each is: deflate is built into every
#: HDF5; zstd is the registered filter 32015, which h5py reads after ``import hdf5plugin``.
CODECS = {"deflate": 1, "zstd": 32015}


def _inline(x: np.ndarray) -> dict:
    return {"$a": None, "dtype": dtype_to_json(x.dtype), "shape": [],
            "raw": storage_dtype(x.dtype) is None,
            "data": base64.b64encode(x.tobytes()).decode("ascii")}


def decode(skel: Any,
           read_array: Callable[[str, np.dtype, tuple, bool, int | None], np.ndarray]) -> Any:
    """Rebuild the tree from a skeleton; ``read_array(name, dtype, shape, raw, at)`` reads one.

    Raises
    ------
    DecodeError
        On anything :func:`encode` does not write; the error's path says where.
    """

    def dec(x: Any) -> Any:
        # Dicts first, and plain values kept without a call: this runs for every value
        # of every pub.
        t = type(x)
        if t is dict:
            if not x:
                return {}
            first = next(iter(x))
            if first == "$t":  # the commonest marker, without a further call
                tag = x["$t"]
                if len(x) != 2 or type(tag) is not str or "v" not in x:
                    raise DecodeError("malformed tagged value")
                v = x["v"]
                tv = type(v)
                if tv is str or tv is int or tv is float or tv is bool or v is None:
                    return Node(tag, v)
                return Node(tag, dec(v))
            if first[:1] == "$":
                return _special(first, x)
            res = {}
            for k, v in x.items():
                tv = type(v)
                if tv is str or tv is int or tv is float or tv is bool or v is None:
                    res[k] = v
                    continue
                try:
                    res[k] = dec(v)
                except QSerialError as e:
                    e.prepend_path(path_segment(k))
                    raise
            return res
        if t is list:
            out = []
            for i, v in enumerate(x):
                tv = type(v)
                if tv is str or tv is int or tv is float or tv is bool or v is None:
                    out.append(v)
                    continue
                try:
                    out.append(dec(v))
                except QSerialError as e:
                    e.prepend_path(f"[{i}]")
                    raise
            return out
        if t is float or t is int or t is str or t is bool or x is None:
            return x
        raise DecodeError(f"unexpected {t.__name__} in the structure")

    def _special(first: str, x: dict) -> Any:
        v = x[first]
        if first == "$a":
            return _array(x)
        if len(x) != 1:
            raise DecodeError(f"malformed {first} value")
        if first == "$b":
            if not isinstance(v, str):
                raise DecodeError("bytes must be base64 text")
            try:
                return base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise DecodeError("invalid base64 in bytes") from None
        if first == "$i":
            if not isinstance(v, str) or not v or len(v) > 1_000_000:
                raise DecodeError("invalid big integer")
            try:
                return int(v, 16)
            except ValueError:
                raise DecodeError("invalid big integer") from None
        if first == "$f":
            if not isinstance(v, str) or len(v) != 16:
                raise DecodeError("invalid special float")
            try:
                return struct.unpack(">d", bytes.fromhex(v))[0]
            except ValueError:
                raise DecodeError("invalid special float") from None
        if first == "$d":
            if not isinstance(v, list):
                raise DecodeError("malformed dict")
            res = {}
            for pair in v:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise DecodeError("malformed dict entry")
                try:
                    res[pair[0]] = dec(pair[1])
                except QSerialError as e:
                    e.prepend_path(path_segment(pair[0]))
                    raise
            return res
        raise DecodeError(f"unknown structure marker {first!r:.40}")

    def _array(x: dict) -> np.ndarray:
        dt = dtype_from_json(x.get("dtype"))
        shape = x.get("shape")
        raw = x.get("raw")
        if not isinstance(shape, list) or type(raw) is not bool:
            raise DecodeError("malformed array description")
        for n in shape:
            if type(n) is not int or not 0 <= n < _INT64:
                raise DecodeError(f"expected a non-negative integer, got {n!r:.40}")
        shape = tuple(shape)
        name = x["$a"]
        if name is None:
            data = x.get("data")
            if shape != () or not isinstance(data, str):
                raise DecodeError("malformed inline array")
            try:
                buf = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise DecodeError("invalid base64 in an array") from None
            if len(buf) != dt.itemsize:
                raise DecodeError(f"inline array holds {len(buf)} bytes, its dtype {dt} needs "
                                  f"{dt.itemsize}")
            if not dt.itemsize:
                return np.empty((), dt)
            return np.frombuffer(buf, dtype=dt).reshape(()).copy()
        at = x.get("at")
        if not isinstance(name, str) or len(x) not in (5, 7) or not (
                at is None or type(at) is int):
            raise DecodeError("malformed array reference")
        if len(x) == 7:  # one compressed chunk: (offset, stored size, codec)
            stored, codec = x.get("z"), x.get("codec")
            if type(at) is not int or type(stored) is not int or stored <= 0 \
                    or codec not in CODECS:
                raise DecodeError("malformed compressed array reference")
            return read_array(name, dt, shape, raw, (at, stored, codec))
        return read_array(name, dt, shape, raw, at)

    try:
        return dec(skel)
    finally:
        # The closures refer to each other: unbound, they and ``read_array`` (with the
        # reader and its buffer) are freed now rather than by the cyclic collector.
        dec = _special = _array = None  # type: ignore[assignment]


def array_extents(skel: Any, text: bytes) -> list[tuple[Any, int]]:
    """``(at, nbytes)`` of every array the skeleton parsed from ``text`` keeps in a dataset.

    Malformed descriptions are left out here (:func:`decode` reports them); a dict
    with an ``"$a"`` key anywhere counts, so the sum is never less than what
    :func:`decode` reads.
    """
    if b'"$a":"' not in text:
        # Only a dataset reference writes these bytes (a string cannot hold an unescaped
        # quote, a "$a" dict key is stored in the "$d" form): no walk through, say,
        # execution spans that name no array.
        return []
    out: list[tuple[Any, int]] = []
    _walk_extents((skel,), out)
    return out


def _walk_extents(values: Any, out: list[tuple[Any, int]]) -> None:
    # A module function, not a closure: a recursive closure is a reference cycle.
    for x in values:
        t = type(x)
        if t is dict:
            if type(x.get("$a")) is str:
                try:
                    count = 1
                    for n in x["shape"]:
                        count *= _small_int(n)
                    out.append((x.get("at"), count * dtype_from_json(x["dtype"]).itemsize))
                except (QSerialError, TypeError, KeyError):
                    pass
            else:
                _walk_extents(x.values(), out)
        elif t is list:
            _walk_extents(x, out)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps_json(skel: Any) -> bytes:
    """Compact ASCII JSON; strict, so no NaN or Infinity literals can slip in."""
    return _ENCODER.encode(skel).encode("ascii")


def _no_constants(name: str) -> Any:
    raise DecodeError(f"non-standard JSON constant {name}")


def loads_json(data: bytes, where: str) -> Any:
    """Parse skeleton text, turning every failure into a :class:`DecodeError`."""
    try:
        return json.loads(data, parse_constant=_no_constants)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError(f"{where} nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{where} is not valid JSON: {exc}") from None


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def loads_prefix(text: str, start: int, where: str) -> tuple[Any, int]:
    """Parse the JSON value that starts at ``text[start]``; returns it and where it ends."""
    try:
        return _DECODER.raw_decode(text, start)
    except QSerialError:
        raise
    except RecursionError:
        raise LimitExceededError(f"{where} nests too deeply") from None
    except ValueError as exc:
        raise DecodeError(f"{where} is not valid JSON: {exc}") from None


def loads_run(text: str, start: int, lengths: list[int], where: str) -> list:
    """Parse the values of ``lengths[j]`` characters each, one comma apart, from ``start``.

    One tight loop for many short values: a full read of a result's spans. The error
    names the value (``where`` formatted with its index) and has its index as path.
    """
    scan = _DECODER.scan_once
    out = []
    pos = start
    j = 0
    try:
        for j, n in enumerate(lengths):
            value, stop = scan(text, pos)
            if stop != pos + n or text[stop:stop + 1] not in (",", "]"):
                raise DecodeError(f"{where.format(j)} does not fill the {n} characters its "
                                  f"length says")
            out.append(value)
            pos = stop + 1
    except QSerialError as e:
        e.prepend_path(f"[{j}]")
        raise
    except RecursionError:
        raise LimitExceededError(f"{where.format(j)} nests too deeply") from None
    except (StopIteration, ValueError) as exc:  # the scanner's "no value here", bad JSON
        error = DecodeError(f"{where.format(j)} is not valid JSON: {exc}")
        error.prepend_path(f"[{j}]")
        raise error from None
    return out


def loads_span(text: str, start: int, end: int, where: str) -> Any:
    """Parse the one JSON value that fills ``text[start:end]`` exactly, without a copy."""
    value, stop = loads_prefix(text, start, where)
    if stop != end:
        raise DecodeError(f"{where} is not valid JSON: its value ends at {stop}, not {end}")
    return value
