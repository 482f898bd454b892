"""The JSON reference format: RuntimeEncoder's wire format, read and written.

Files are exactly what ``json.dump(result, f, cls=RuntimeEncoder)`` writes, so
``json.load(f, cls=RuntimeDecoder)`` reads qserial's files, and qserial reads every
RuntimeEncoder release since 0.21. Where RuntimeEncoder has no way to say something
the tree holds, this module writes what RuntimeEncoder would (see
docs/formats/json.md): tuples become lists, dict keys become strings, numpy scalars
become Python numbers, bytes become a ``bytes`` tag of qserial's own.

The top-level tagged object carries a ``__qserial__`` member naming the format
version and writing versions; RuntimeDecoder ignores it.
"""

from __future__ import annotations

import json
import zlib
from typing import IO, Any

import numpy as np
import pybase64

from ..codec import key_segment
from ..errors import (
    DecodeError,
    ForbiddenTypeError,
    LimitExceededError,
    QSerialError,
    TruncatedError,
    UnsupportedTypeError,
    UnsupportedVersionError,
)
from ..tree import Node
from . import Format, writer_versions
from ._npy import DEFAULT_MAX_ARRAY_BYTES, decode_array, encode_array

__all__ = ["JSONFormat", "FORMAT_VERSION"]

FORMAT_VERSION = "1.0"
_HEADER_KEY = "__qserial__"

# RuntimeEncoder's generic "settings" / "_json" paths name a module and class to
# import and call. qserial reads only these exact pairs, each as a registered tag.
_NAMED_TYPES: dict[tuple[str, str, str], str] = {
    ("settings", "qiskit.quantum_info.operators.symplectic.pauli_list", "PauliList"): "PauliList",
    ("_json", "qiskit_ibm_runtime.utils.noise_learner_result", "LayerError"): "LayerError",
    ("_json", "qiskit_ibm_runtime.results.noise_learner", "LayerError"): "LayerError",
    ("_json", "qiskit_ibm_runtime.utils.noise_learner_result", "PauliLindbladError"):
        "PauliLindbladError",
    ("_json", "qiskit_ibm_runtime.results.noise_learner", "PauliLindbladError"):
        "PauliLindbladError",
}
# How those tags are written, as RuntimeEncoder writes them (legacy module name included).
_NAMED_WRITE: dict[str, tuple[str, str, str]] = {
    "PauliList": ("settings", "qiskit.quantum_info.operators.symplectic.pauli_list", "PauliList"),
    "LayerError": ("_json", "qiskit_ibm_runtime.utils.noise_learner_result", "LayerError"),
    "PauliLindbladError": (
        "_json", "qiskit_ibm_runtime.utils.noise_learner_result", "PauliLindbladError",
    ),
}
# RuntimeDecoder passes these ZNE extrapolator names through an "ndarray" tag unchanged.
_EXTRAPOLATORS = frozenset({
    "linear", "exponential", "double_exponential", "fallback",
    *(f"polynomial_degree_{n}" for n in range(1, 8)),
})
_PLAIN = frozenset({type(None), bool, int, float, str})


def _json_key(key: Any) -> str:
    # What json.dumps does with a non-string key, and nothing more.
    if type(key) is str:
        return key
    if key is None or type(key) in (bool, int, float):
        return json.dumps(key)
    if type(key) is Node and key.tag == "npscalar":
        return _json_key(key.value.item())
    raise UnsupportedTypeError(f"JSON object keys cannot be {type(key).__name__}")


class _Writer:
    def __init__(self, compression: str | int) -> None:
        self.compression = compression

    def lower(self, x: Any) -> Any:
        t = type(x)
        if t in _PLAIN:
            return x
        if t is list:
            return [self.lower(v) for v in x]
        if t is dict:
            return {k: self.lower(v) for k, v in x.items()}
        if t is np.ndarray:
            return {"__type__": "ndarray", "__value__": encode_array(x, self.compression)}
        if t is bytes:
            return {"__type__": "bytes", "__value__": pybase64.b64encode(x).decode("ascii")}
        if t is Node:
            return self.lower_node(x)
        raise UnsupportedTypeError(f"not a tree value: {t.__name__}")

    def lower_node(self, node: Node) -> Any:
        tag, value = node.tag, node.value
        if tag == "tuple":
            return self.lower(value)
        if tag == "dict":
            return {_json_key(k): self.lower(v) for k, v in value}
        if tag == "npscalar":
            return self.lower_item(value.item())
        if tag == "date":
            return {"__type__": "datetime", "__value__": value}
        if tag == "frozenset":
            return {"__type__": "set", "__value__": self.lower(value)}
        if tag == "QuantumCircuit":
            packed = zlib.compress(value)
            return {"__type__": tag, "__value__": pybase64.b64encode(packed).decode("ascii")}
        named = _NAMED_WRITE.get(tag)
        if named is not None:
            kind, module, cls = named
            return {"__type__": kind, "__module__": module, "__class__": cls,
                    "__value__": self.lower(value)}
        return {"__type__": tag, "__value__": self.lower(value)}

    def lower_item(self, item: Any) -> Any:
        # A numpy scalar's Python value, written as RuntimeEncoder writes that value.
        if type(item) in _PLAIN:
            return item
        if type(item) is complex:
            return {"__type__": "complex", "__value__": [item.real, item.imag]}
        if type(item) is bytes:
            return self.lower(item)
        raise UnsupportedTypeError(f"numpy scalar of type {type(item).__name__} has no JSON form")


class _Reader:
    def __init__(self, max_array_bytes: int) -> None:
        self.max_array_bytes = max_array_bytes

    def raise_(self, x: Any) -> Any:
        t = type(x)
        if t is dict:
            tag = x.get("__type__")
            if tag is not None and type(tag) is str and "__value__" in x:
                return self.raise_tagged(tag, x)
            out = {}
            for k, v in x.items():
                try:
                    out[k] = self.raise_(v)
                except QSerialError as e:
                    e._prepend(key_segment(k))
                    raise
            return out
        if t is list:
            out = []
            for i, v in enumerate(x):
                try:
                    out.append(self.raise_(v))
                except QSerialError as e:
                    e._prepend(f"[{i}]")
                    raise
            return out
        return x

    def raise_tagged(self, tag: str, obj: dict) -> Any:
        value = obj["__value__"]
        if tag == "ndarray":
            if type(value) is str:
                if value in _EXTRAPOLATORS:
                    return value
                return decode_array(value, self.max_array_bytes)
            return _array_from_list(value)
        if tag in ("settings", "_json"):
            key = (tag, obj.get("__module__"), obj.get("__class__"))
            named = _NAMED_TYPES.get(key)
            if named is None:
                raise ForbiddenTypeError(
                    f"refusing {tag!r} object naming {key[1]}.{key[2]}: qserial never "
                    "imports or calls what a file names"
                )
            return Node(named, self.raise_(_drop_int_keys_flag(value)))
        if tag == "bytes":
            return _b64(value, "bytes")
        if tag == "QuantumCircuit":
            try:
                return Node(tag, zlib.decompress(_b64(value, tag)))
            except zlib.error as exc:
                raise DecodeError(f"QuantumCircuit: invalid zlib data ({exc})") from None
        return Node(tag, self.raise_(value))


def _b64(value: Any, what: str) -> bytes:
    if type(value) is not str:
        raise DecodeError(f"{what} must hold a base64 string")
    try:
        return pybase64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"{what}: invalid base64 ({exc})") from None


def _array_from_list(value: Any) -> np.ndarray:
    # RuntimeEncoder writes object arrays as nested lists; they are read as numbers
    # (as RuntimeDecoder does) and refused if they are not rectangular numbers.
    try:
        arr = np.array(value)
    except ValueError as exc:
        raise DecodeError(f"ndarray: {exc}") from None
    if arr.dtype.hasobject:
        raise DecodeError("ndarray: nested lists are not a rectangular array of numbers")
    return arr


def _drop_int_keys_flag(value: Any) -> Any:
    if isinstance(value, dict) and "__int_keys__" in value:
        out = {}
        for k, v in value.items():
            if k == "__int_keys__":
                continue
            try:
                k = int(k)
            except ValueError:
                pass
            out[k] = v
        return out
    return value


class JSONFormat(Format):
    """RuntimeEncoder-compatible JSON.

    Dump options
    ------------
    compression : "auto" or int
        zlib level for arrays; ``"auto"`` compresses only what shrinks.
    indent : int or None
        Pretty-print with this indent.

    Load options
    ------------
    max_array_bytes : int
        Refuse any array larger than this once decompressed.
    """

    name = "json"
    suffixes = (".json",)
    version = FORMAT_VERSION

    def sniff(self, head: bytes) -> bool:
        head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return head[:1] in (b"{", b"[")

    def dump(self, tree: Any, stream: IO[bytes], *, compression: str | int = "auto",
             indent: int | None = None) -> None:
        doc = _Writer(compression).lower(tree)
        if isinstance(doc, dict) and "__type__" in doc:
            doc[_HEADER_KEY] = {"format": "qserial-json", "version": FORMAT_VERSION,
                                "writer": writer_versions()}
        stream.write(json.dumps(doc, indent=indent, allow_nan=True).encode("utf-8"))

    def load(self, stream: IO[bytes], *, max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> Any:
        return self.loads(stream.read(), max_array_bytes=max_array_bytes)

    def loads(self, data: bytes | str, *, max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> Any:
        """Read a tree from JSON text."""
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno} (byte {exc.pos})"
            if exc.pos >= len(data.rstrip() if isinstance(data, (bytes, str)) else data):
                raise TruncatedError(f"JSON ends early at {where}: {exc.msg}") from None
            raise DecodeError(f"invalid JSON at {where}: {exc.msg}") from None
        except UnicodeDecodeError as exc:
            raise DecodeError(f"JSON is not valid UTF-8 at byte {exc.start}") from None
        except RecursionError:
            raise LimitExceededError("JSON nests too deeply") from None
        if isinstance(doc, dict):
            header = doc.pop(_HEADER_KEY, None)
            if header is not None:
                _check_header(header)
        return _Reader(max_array_bytes).raise_(doc)


def _check_header(header: Any) -> None:
    if not isinstance(header, dict) or not isinstance(header.get("version"), str):
        raise DecodeError(f"invalid {_HEADER_KEY} header", "$")
    major = header["version"].partition(".")[0]
    if not major.isdigit():
        raise DecodeError(f"invalid {_HEADER_KEY} version {header['version']!r}", "$")
    if int(major) > int(FORMAT_VERSION.partition(".")[0]):
        raise UnsupportedVersionError(
            f"file is qserial-json {header['version']}; this qserial reads up to "
            f"{FORMAT_VERSION}: upgrade qserial"
        )
