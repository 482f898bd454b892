"""The JSON reference format: RuntimeEncoder's wire format, read and written.

Files are exactly what ``json.dump(result, f, cls=RuntimeEncoder)`` writes, so
``json.load(f, cls=RuntimeDecoder)`` reads qserial's files, and qserial reads every
RuntimeEncoder release since 0.21. Where RuntimeEncoder has no way to say something
the tree holds, this module writes what RuntimeEncoder would (see
docs/formats/json.md): tuples become lists, dict keys become strings, numpy scalars
become Python numbers, bytes become a ``bytes`` tag of qserial's own.

The top-level tagged object carries a ``__qserial__`` member naming the format
version and writing versions, and ending with an xxh3-128 digest of every byte of
the file before the digest's own value; RuntimeDecoder ignores it. Files without it
(RuntimeEncoder's, and a plain list or dict at the top level) cannot be checked.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import numpy as np
import pybase64
import xxhash

from ..codec import key_segment
from ..errors import (
    DecodeError,
    ForbiddenTypeError,
    IntegrityError,
    LimitExceededError,
    QSerialError,
    TruncatedError,
    UnsupportedFeatureError,
    UnsupportedTypeError,
)
from ..limits import ExpansionBudget
from ..tree import Node
from ._base import Capability, Format
from ._digest import HEADER_DIGEST_KEY, header_digest
from ._npy import (
    check_compression,
    decode_array,
    decode_arrays,
    encode_arrays,
    inflate,
)
from ._options import Option

__all__ = ["JSONFormat", "FORMAT_VERSION"]

FORMAT_VERSION = "1.1"
_HEADER_KEY = "__qserial__"
# The header's last two members: the digest's name, then its value, the last string of
# the file. The value is written as this placeholder and filled in once the bytes
# before it are hashed.
_DIGEST = "xxh3_128"
_DIGEST_PLACEHOLDER = "0" * 32
# Where the digest value sits: nothing but the two closing braces may follow it.
_DIGEST_AT_END = re.compile(rb'"([0-9a-f]{32})"[ \t\r\n]*\}[ \t\r\n]*\}[ \t\r\n]*\Z')

# RuntimeEncoder's generic "settings" / "_json" paths name a module and class to
# import and call. qserial reads only these exact pairs, each as a registered tag
# named after the class: the settings classes under qiskit.quantum_info.operators ...
_OPERATORS = "qiskit.quantum_info.operators."
_SETTINGS = {
    "symplectic.pauli_list": "PauliList", "symplectic.pauli": "Pauli",
    "symplectic.sparse_pauli_op": "SparsePauliOp", "operator": "Operator",
    "channel.chi": "Chi", "channel.choi": "Choi", "channel.kraus": "Kraus",
    "channel.ptm": "PTM", "channel.stinespring": "Stinespring", "channel.superop": "SuperOp",
}
# ... and the noise learner's classes, under their current and their legacy module.
_NOISE_LEARNER = ("qiskit_ibm_runtime.utils.noise_learner_result",
                  "qiskit_ibm_runtime.results.noise_learner")
_NAMED_TYPES: dict[tuple[str, str, str], str] = {
    **{("settings", _OPERATORS + module, cls): cls for module, cls in _SETTINGS.items()},
    **{("_json", module, cls): cls for module in _NOISE_LEARNER
       for cls in ("LayerError", "PauliLindbladError")},
}
# How those tags are written, as RuntimeEncoder writes them (legacy module name included).
_NAMED_WRITE: dict[str, tuple[str, str, str]] = {
    **{cls: ("settings", _OPERATORS + module, cls) for module, cls in _SETTINGS.items()},
    **{cls: ("_json", _NOISE_LEARNER[0], cls) for cls in ("LayerError", "PauliLindbladError")},
}
# The tags RuntimeDecoder's object_hook decodes (qiskit-ibm-runtime 0.51): a plain dict
# whose "__type__" is one of them must not reach it as an object with that member.
_RUNTIME_DECODER_TAGS = frozenset({
    "datetime", "complex", "ndarray", "set", "QuantumCircuit", "Parameter", "Instruction",
    "settings", "_json", "Result", "spmatrix", "ObservablesArray", "BindingsArray",
    "BitArray", "DataBin", "EstimatorPubResult", "SamplerPubResult", "PubResult",
    "PrimitiveResult", "NoiseLearnerResult", "DoubleSliceSpan", "TwirledSliceSpanV2",
    "TwirledSliceSpan", "ExecutionSpan", "ExecutionSpanCollection", "ExecutionSpans",
    "PauliLindbladMap", "to_json", "NoiseModel",
})
# RuntimeEncoder's tag for an object's to_json() value, which RuntimeDecoder returns as
# it is; qserial writes plain dicts that look tagged inside it (see _escaped).
_AS_IS = "to_json"
# Tags whose value is bytes, written as RuntimeEncoder does: base64 of the bytes,
# zlib-compressed first where the flag says so (QPY circuits are, parameters are not).
_BASE64_TAGS = {"QuantumCircuit": True, "Instruction": True, "Parameter": False}
# Classes RuntimeEncoder writes as plain lists (pubs, coupling maps, parameter views):
# written so here too, a documented loss; see runtime_json_form.
PLAIN_LIST_TAGS = frozenset({
    "qserial.qiskit.EstimatorPub", "qserial.qiskit.SamplerPub", "qserial.qiskit.CouplingMap",
    "qserial.qiskit.ParameterView",
})
# RuntimeDecoder passes these ZNE extrapolator names through an "ndarray" tag unchanged.
_EXTRAPOLATORS = frozenset({
    "linear", "exponential", "double_exponential", "fallback",
    *(f"polynomial_degree_{n}" for n in range(1, 8)),
})
_PLAIN = frozenset({type(None), bool, int, float, str})
# Documents this big have their arrays decoded ahead of the walk, several at a time;
# arrays shorter than this (as base64) are not worth a thread. (It must stay longer
# than the extrapolator names above, which are never array data.)
_PREDECODE_FROM = 2 << 20
_PREDECODE_ARRAY_FROM = 1 << 14
# How a JSON document can start (NaN and Infinity as Python's json writes them).
_JSON_START = re.compile(rb'[{\["]|-?(?:[0-9]|Infinity)|NaN|null|true|false')


def _json_key(key: Any) -> str:
    # What json.dumps does with a non-string key, and nothing more.
    if type(key) is str:
        return key
    if type(key) is int:  # the usual case (pub indices): as json.dumps, without its cost
        return int.__repr__(key)
    if key is None or type(key) in (bool, float):
        return json.dumps(key)
    if type(key) is Node and key.tag == "npscalar":
        return _json_key(key.value.item())
    raise UnsupportedTypeError(f"JSON object keys cannot be {type(key).__name__}")


def _escaped(plain: dict) -> dict:
    """A plain dict that would read as a tagged value, wrapped so that it reads as itself.

    RuntimeDecoder takes any object with a ``"__type__"`` member for a tagged value: it
    decodes one whose ``__type__`` it knows (and fails on one without ``__value__``),
    and returns any other unchanged. So a dict RuntimeDecoder would return unchanged is
    written inside ``{"__type__": "to_json", "__value__": ...}``, which RuntimeDecoder
    unwraps; any other as key/value pairs under qserial's ``dict`` tag, which
    RuntimeDecoder returns as that wrapper.
    """
    tag = plain["__type__"]
    if "__value__" in plain and not (type(tag) is str and tag in _RUNTIME_DECODER_TAGS):
        return {"__type__": _AS_IS, "__value__": plain}
    return {"__type__": "dict", "__value__": [[k, v] for k, v in plain.items()]}


class _Writer:
    # Arrays are lowered to placeholder strings and encoded afterwards, all at once (in
    # threads when big); their base64 is then written around the JSON text instead of
    # going through json.dumps, which would scan and copy every byte of it.
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.slots: list[dict] = []
        self.mark = os.urandom(8).hex()

    def lower(self, x: Any) -> Any:
        t = type(x)
        if t in _PLAIN:
            return x
        if t is list:
            out = []
            for i, v in enumerate(x):
                try:
                    out.append(self.lower(v))
                except QSerialError as e:  # the message says where, as on reading
                    e.prepend_path(f"[{i}]")
                    raise
            return out
        if t is dict:
            res = {}
            for k, v in x.items():
                try:
                    res[k] = self.lower(v)
                except QSerialError as e:
                    e.prepend_path(key_segment(k))
                    raise
            return _escaped(res) if "__type__" in res else res
        if t is np.ndarray:
            if x.dtype.hasobject:
                raise UnsupportedTypeError(f"numpy arrays of dtype {x.dtype} cannot be stored")
            slot = {"__type__": "ndarray", "__value__": f"{self.mark}#{len(self.arrays)}"}
            self.arrays.append(x)
            self.slots.append(slot)
            return slot
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
            out = {_json_key(k): self.lower(v) for k, v in value}
            if len(out) != len(value):  # e.g. 1 and "1": one would silently replace the other
                raise UnsupportedTypeError("dict keys collide once written as JSON strings")
            return _escaped(out) if "__type__" in out else out
        if tag == "npscalar":
            if value.dtype.kind in "mM":  # .item() gives a bare int for ns resolution
                raise UnsupportedTypeError(f"numpy scalar of dtype {value.dtype} has no JSON form")
            return self.lower_item(value.item())
        if tag == "date":
            return {"__type__": "datetime", "__value__": value}
        if tag == "datetime" and type(value) is str and value.endswith("]"):
            # RuntimeDecoder's parser knows no zone name: keep the offset (documented loss).
            return {"__type__": tag, "__value__": value[:value.rfind("[")]}
        if tag == "frozenset":
            return {"__type__": "set", "__value__": self.lower(value)}
        packs = _BASE64_TAGS.get(tag)
        if packs is not None and type(value) is bytes:
            packed = zlib.compress(value) if packs else value
            return {"__type__": tag, "__value__": pybase64.b64encode(packed).decode("ascii")}
        if tag == "objarray":
            return {"__type__": "ndarray", "__value__": self.lower_object_array(value)}
        if tag in PLAIN_LIST_TAGS:
            return self.lower(runtime_json_form(node))
        named = _NAMED_WRITE.get(tag)
        if named is not None:
            kind, module, cls = named
            return {"__type__": kind, "__module__": module, "__class__": cls,
                    "__value__": self.lower(value)}
        return {"__type__": tag, "__value__": self.lower(value)}

    def lower_object_array(self, value: Any) -> list:
        # As RuntimeEncoder writes an object array: arr.tolist(), its items nested by shape.
        if type(value) is not dict or "shape" not in value or "items" not in value:
            raise UnsupportedTypeError("objarray needs its shape and items")
        shape = value["shape"].value if type(value["shape"]) is Node else value["shape"]
        if not shape:
            raise UnsupportedTypeError("a 0-d object array has no JSON form RuntimeDecoder reads")
        return _nest(self.lower(value["items"]), list(shape))

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
    def __init__(self, max_array_bytes: int, budget: ExpansionBudget) -> None:
        self.max_array_bytes = max_array_bytes
        self.budget = budget
        # Big arrays are decoded together, ahead of the walk (see predecode): the id of
        # each one's value string, its base64 text, and then its array (or error).
        self.pending: list[tuple[int, str | memoryview]] = []
        self.ready: dict[int, np.ndarray | QSerialError] = {}

    def parse_cut(self, data: bytes) -> Any:
        """Parse ``data`` with the base64 of its big arrays cut out first (see _cut_payloads).

        Returns ``None`` when the text must be parsed as it is: it is not valid JSON, or a
        payload did not land in an ``ndarray`` object (a key given twice, say).
        """
        mark = os.urandom(8).hex()
        skeleton, payloads = _cut_payloads(data, mark.encode("ascii"))
        if not payloads:
            return None
        try:
            doc = json.loads(skeleton)
        except (ValueError, RecursionError):  # the full parse names the error
            return None
        if not self.find_arrays(doc, mark, payloads):
            self.pending.clear()
            return None
        return doc

    def find_arrays(self, doc: Any, mark: str | None = None,
                    payloads: list[memoryview] | None = None) -> bool:
        """List the document's big arrays to decode, each cut payload in place of its mark.

        Returns whether every payload was found as the value of an ``ndarray`` object.
        """
        found = 0
        stack = [doc]
        while stack:
            x = stack.pop()
            if type(x) is dict:
                value = x.get("__value__")
                if x.get("__type__") != "ndarray" or type(value) is not str:
                    stack.extend(x.values())
                elif mark is not None and value.startswith(mark):
                    index = value[len(mark):]
                    if not (index.isascii() and index.isdigit()) or int(index) >= len(payloads):
                        return False
                    self.pending.append((id(value), payloads[int(index)]))
                    found += 1
                elif len(value) >= _PREDECODE_ARRAY_FROM:
                    self.pending.append((id(value), value))
            elif type(x) is list:
                stack.extend(x)
        return found == (len(payloads) if payloads is not None else 0)

    def predecode(self) -> None:
        """Decode the arrays :meth:`find_arrays` listed, at once, in threads if big."""
        if self.pending:
            arrays = decode_arrays([text for _, text in self.pending], self.max_array_bytes,
                                   self.budget)
            self.ready = {key: a for (key, _), a in zip(self.pending, arrays, strict=True)}

    def raise_(self, x: Any) -> Any:
        t = type(x)
        if t is dict:
            tag = x.get("__type__")
            if tag is not None and type(tag) is str and "__value__" in x:
                return self.raise_tagged(tag, x)
            return self.raise_members(x)
        if t is list:
            out = []
            for i, v in enumerate(x):
                try:
                    out.append(self.raise_(v))
                except QSerialError as e:
                    e.prepend_path(f"[{i}]")
                    raise
            return out
        return x

    def raise_members(self, obj: dict) -> dict:
        """A plain dict with each of its values read."""
        out = {}
        for k, v in obj.items():
            try:
                out[k] = self.raise_(v)
            except QSerialError as e:
                e.prepend_path(key_segment(k))
                raise
        return out

    def raise_tagged(self, tag: str, obj: dict) -> Any:
        value = obj["__value__"]
        if tag == "ndarray":
            if type(value) is str:
                if value in _EXTRAPOLATORS:
                    return value
                # pop, so that no array object is ever shared by two places in the tree
                ready = self.ready.pop(id(value), None)
                if ready is None:
                    return decode_array(value, self.max_array_bytes, self.budget)
                if isinstance(ready, QSerialError):
                    raise ready
                return ready
            return self.array_from_list(value)
        if tag in ("settings", "_json"):
            key = (tag, obj.get("__module__"), obj.get("__class__"))
            named = _NAMED_TYPES.get(key)
            if named is None:
                raise ForbiddenTypeError(
                    f"refusing {tag!r} object naming {key[1]}.{key[2]}: qserial never "
                    "imports or calls what a file names"
                )
            return Node(named, self.raise_(_drop_int_keys_flag(value)))
        if tag == _AS_IS and type(value) is dict:
            # A dict as it is: its own members are not a tag, its values are read as usual.
            return self.raise_members(value)
        if tag == "bytes":
            return _b64(value, "bytes")
        packs = _BASE64_TAGS.get(tag)
        if packs is not None:
            raw = _b64(value, tag)
            return Node(tag, inflate(raw, self.budget, tag) if packs else raw)
        return Node(tag, self.raise_(value))

    def array_from_list(self, value: Any) -> Any:
        """An ``ndarray`` given as nested lists, as RuntimeEncoder writes object arrays.

        Rectangular numbers are read as a numeric array (as RuntimeDecoder does); any
        other rectangular nesting as an object array of the decoded items. Ragged
        nesting is refused, as numpy and RuntimeDecoder refuse it.
        """
        try:
            arr = np.array(value)
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"ndarray: {exc}") from None
        if arr.dtype.kind in "biufc":
            return arr
        if arr.ndim == 0:
            raise DecodeError("ndarray: a list value must be a nested list")
        arr = np.array(value, dtype=object)  # the same shape: numbers stay numbers
        items = []
        for i, item in enumerate(arr.ravel()):
            try:
                items.append(self.raise_(item))
            except QSerialError as e:
                e.prepend_path(f"[{i}]")
                raise
        return Node("objarray", {"shape": list(arr.shape), "items": items})


def _b64(value: Any, what: str) -> bytes:
    if type(value) is not str:
        raise DecodeError(f"{what} must hold a base64 string")
    try:
        return pybase64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"{what}: invalid base64 ({exc})") from None


def _nest(items: list, shape: list) -> list:
    """``items`` (C order) as nested lists of ``shape``, as ``ndarray.tolist()`` gives them."""
    if len(shape) <= 1:
        return items
    step = len(items) // shape[0] if shape[0] else 0
    return [_nest(items[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def runtime_json_form(node: Node) -> Any:
    """The tree of the plain list RuntimeEncoder writes for ``node`` (a documented loss).

    ``node`` has one of :data:`PLAIN_LIST_TAGS`; it is rebuilt as its object, whose
    list is what RuntimeEncoder would write.
    """
    # Through the registry, which owns the type's plain form: the format never imports
    # a types module (they import the API, which imports the formats).
    from ..codec import from_tree, to_tree
    from ..registry import REGISTRY

    entry = REGISTRY.for_tag(node.tag)
    if entry is None or entry.plain_json is None:
        raise UnsupportedTypeError(f"no plain JSON form is registered for {node.tag!r}")
    return to_tree(entry.plain_json(from_tree(node)))


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

    Write options (declared in :attr:`options`): ``compression``, ``"auto"`` or a
    zlib level 0-9 for arrays (``"auto"`` compresses only what shrinks); ``indent``,
    pretty-print with this indent. ``manifest=`` is kept in the ``__qserial__`` header
    member, which RuntimeDecoder ignores (so only for a tagged top-level value, e.g. a
    result).

    Read options: ``verify`` checks the digest in the ``__qserial__`` header, when the
    file has one, before any array is decoded (a mismatch raises
    :class:`~qserial.IntegrityError`); ``max_array_bytes`` and ``max_expansion`` limit
    what arrays and circuits decompress to (see :class:`~qserial.Limits`).
    """

    name = "json"
    suffixes = (".json",)
    version = FORMAT_VERSION
    header_name = "qserial-json"
    capabilities = frozenset({Capability.MANIFEST, Capability.HEADER})
    options = (
        Option("compression", (str, int), "auto",
               "zlib level 0-9 of arrays; 'auto' compresses only what shrinks",
               choices=("auto", *range(10)), sweep=(0, 1, 6, 9)),
        Option("indent", int, None, "pretty-print with this indent", min=0, nullable=True),
    )

    def sniff(self, head: bytes) -> bool:
        head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        # Any JSON value, so that loads(dumps(x)) works for a bare number or string too.
        return _JSON_START.match(head) is not None

    def dump(self, tree: Any, stream: IO[bytes], *, manifest: dict | None = None,
             **options: Any) -> None:
        opts = self.write_options(options)
        compression, indent = opts["compression"], opts["indent"]
        check_compression(compression)
        writer = _Writer()
        try:
            doc = writer.lower(tree)
        except RecursionError:
            raise LimitExceededError("the tree nests too deeply to write as JSON") from None
        header = None
        if isinstance(doc, dict) and _HEADER_KEY in doc and "__type__" not in doc:
            doc = {"__type__": _AS_IS, "__value__": doc}  # the user's key, kept beside ours
        # Plain dicts with a "__type__" member were wrapped by lower(): a root that has
        # one now is a tagged value written by qserial, and only such a root has room
        # for the header.
        if isinstance(doc, dict) and "__type__" in doc:
            header = self.new_header(opts, manifest)
            # Lets read_header verify the header without hashing the whole file.
            header[HEADER_DIGEST_KEY] = header_digest({**header, "digest": _DIGEST})
            # Last in the header, which is last in the document: see _write_with_digest.
            header["digest"] = _DIGEST
            header["digest_value"] = _DIGEST_PLACEHOLDER
            doc[_HEADER_KEY] = header
        elif manifest is not None:
            raise UnsupportedFeatureError(
                "JSON keeps a manifest only beside a tagged top-level value (e.g. a "
                "PrimitiveResult); a plain list or dict has no room for it", "$")
        # ensure_ascii (the default) makes the text ASCII, as base64 is.
        try:
            text = json.dumps(doc, indent=indent, allow_nan=True)
        except RecursionError:
            raise LimitExceededError("the tree nests too deeply to write as JSON") from None
        pieces = text.split(f'"{writer.mark}#')
        payloads = encode_arrays(writer.arrays, compression)
        try:
            parts: Iterable[bytes]
            if len(pieces) != len(writer.arrays) + 1:
                # The random mark also occurs in the data itself: put the payloads in place.
                for slot, payload in zip(writer.slots, payloads, strict=True):
                    slot["__value__"] = payload.decode("ascii")
                parts = (json.dumps(doc, indent=indent, allow_nan=True).encode("ascii"),)
            else:
                parts = _spliced(pieces, payloads)
            if header is None:
                for part in parts:
                    stream.write(part)
            else:
                _write_with_digest(parts, stream.write)
        finally:
            payloads.close()  # stops the encoding threads if a write failed

    def _check_header(self, header: Any) -> None:
        if not isinstance(header, dict) or not isinstance(header.get("version"), str):
            raise DecodeError(f"invalid {_HEADER_KEY} header", "$")
        self.check_header(header, "$", f"the {_HEADER_KEY} header")

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """Return the ``__qserial__`` header: format, version, writer and manifest.

        qserial writes the header as the last member of the document, so only the
        file's tail is parsed when it holds the header; otherwise the whole text is.
        A file without a header (RuntimeEncoder's) gives version None. The header
        names the file's digest (``"digest": "xxh3_128"``) when it has one.

        What is returned is verified: against the header's own digest
        (``header_digest``), or, in files written before it existed or whose header
        does not parse, against the digest of the whole file. Damage raises
        :class:`~qserial.IntegrityError`.
        """
        header = _header_from_tail(stream)
        if header is not None and HEADER_DIGEST_KEY in header:
            self._check_header(header)  # first: a newer major version may differ in all else
            if header_digest(header, exclude=("digest_value",)) != header[HEADER_DIGEST_KEY]:
                raise IntegrityError(f"the digest of the {_HEADER_KEY} header does not match "
                                     "it: the file was altered or damaged", "$")
        else:
            data = stream.read()
            if _has_digest(data):
                _verify_digest(data, {"digest_value": _DIGEST_AT_END.search(
                    data, max(len(data) - 256, 0))[1].decode("ascii")})
            if header is None:
                try:
                    doc = json.loads(data)
                except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
                    raise DecodeError(f"invalid JSON: {exc}", "$") from None
                header = doc.get(_HEADER_KEY) if isinstance(doc, dict) else None
        if header is None:
            return {"format": self.name, "version": None, "writer": {}}
        self._check_header(header)
        out = {"format": self.name, "version": header["version"],
               "writer": header.get("writer") or {}}
        for key in ("options", "manifest", "digest"):
            if key in header:
                out[key] = header[key]
        return out

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        return self.loads(stream.read(), **options)

    def loads(self, data: bytes | str, **options: Any) -> Any:
        """Read a tree from JSON text (options as for :meth:`load`)."""
        opts = self.read_options(options)
        limits, verify = opts["limits"], opts["verify"]
        reader = _Reader(limits.max_array_bytes, limits.budget(len(data)))
        big = len(data) >= _PREDECODE_FROM
        doc = reader.parse_cut(data) if big and isinstance(data, bytes) else None
        if doc is None:
            doc = _parse(data)
            if big:
                reader.find_arrays(doc)
        if isinstance(doc, dict):
            # Also when "__type__" is missing: a damaged key must not hide the digest.
            header = doc.pop(_HEADER_KEY, None)
            if header is not None:
                self._check_header(header)  # first: a newer major version may differ in all else
                # Either key names a digest: damage to the other must not skip the check.
                if verify and ("digest" in header or "digest_value" in header):
                    _verify_digest(data, header)
        reader.predecode()
        return reader.raise_(doc)


def _spliced(pieces: list[str], payloads: Iterator[bytes]) -> Iterator[bytes]:
    """The document's bytes: the JSON text with each array's base64 put in its place."""
    yield pieces[0].encode("ascii")
    # json.dumps writes values in the order lower() met them, so the placeholders come
    # in index order: each piece is '<index>"<text up to the next one>'.
    for piece, payload in zip(pieces[1:], payloads, strict=True):
        yield b'"'
        yield payload
        yield piece[piece.index('"'):].encode("ascii")


_PLACEHOLDER_VALUE = f'"{_DIGEST_PLACEHOLDER}"'.encode("ascii")


def _write_with_digest(parts: Iterable[bytes], write: Callable[[bytes], Any]) -> None:
    """Write ``parts``, the digest placeholder replaced by the digest of all before it.

    The placeholder is the last string of the document, so it is in the last part and
    found from its end; everything before it is hashed as it is written.
    """
    hasher = xxhash.xxh3_128()
    parts = iter(parts)
    last = next(parts)
    for part in parts:
        hasher.update(last)
        write(last)
        last = part
    cut = last.rindex(_PLACEHOLDER_VALUE) + 1
    hasher.update(last[:cut])
    write(last[:cut])
    write(hasher.hexdigest().encode("ascii") + last[cut + len(_DIGEST_PLACEHOLDER):])


def _verify_digest(data: bytes | str, header: dict) -> None:
    """Check the header's digest against every byte of ``data`` before its value."""
    algorithm = header.get("digest", _DIGEST)
    if algorithm != _DIGEST:
        raise DecodeError(f"unknown digest {algorithm!r} in the {_HEADER_KEY} header "
                          f"(this qserial checks {_DIGEST})", "$")
    if isinstance(data, str):
        data = data.encode("utf-8")
    expected = header.get("digest_value")
    found = _DIGEST_AT_END.search(data, max(len(data) - 256, 0))
    if found is None or found[1].decode("ascii") != expected:
        raise IntegrityError(f"the {_HEADER_KEY} header's digest value is not the last "
                             "value of the file, where it is written: the file was altered",
                             "$")
    end = found.start(1)
    actual = xxhash.xxh3_128_hexdigest(memoryview(data)[:end])
    if actual != expected:
        raise IntegrityError(
            f"digest mismatch: {_DIGEST} of bytes 0-{end} is {actual}, the file says "
            f"{expected}: the file was altered or damaged (verify=False reads it anyway)",
            "$")


def _parse(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (byte {exc.pos})"
        if _ends_early(exc):
            raise TruncatedError(f"JSON ends early at {where}: {exc.msg}") from None
        raise DecodeError(f"invalid JSON at {where}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"JSON is not valid UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise LimitExceededError("JSON nests too deeply") from None


# How json.dumps (RuntimeEncoder's and qserial's) lays out the start of an array.
_ARRAY_OPEN = b'{"__type__": "ndarray", "__value__": "'


def _cut_payloads(data: bytes, mark: bytes) -> tuple[bytes, list[memoryview]]:
    """Take the base64 of big arrays out of JSON text before it is parsed.

    Each ``ndarray`` value of at least ``_PREDECODE_ARRAY_FROM`` characters without a
    backslash is replaced by ``mark`` and its index in the returned list of payloads.
    The JSON scanner reads a string character by character and copies it: without the
    payloads, parsing a big result takes a few milliseconds instead of a hundred.

    In valid JSON a match is always the start of an object whose ``__type__`` is
    ``"ndarray"``: the quote after the brace has no backslash before it, so it opens
    or closes a string, and had it closed one, ``__type__`` would stand outside any
    string. The payload holds no quote or backslash, so the string state of the rest
    of the text is unchanged and the first quote after the payload ends it. So where
    the text is not valid JSON its skeleton is not either, and the caller parses the
    text as it is; the one exception, a byte inside a payload that JSON forbids in a
    string, is refused by the base64 decoder instead.
    """
    view = memoryview(data)
    parts: list[Any] = []
    payloads: list[memoryview] = []
    done = 0  # data[:done] is in parts
    at = data.find(_ARRAY_OPEN)
    while at != -1:
        start = at + len(_ARRAY_OPEN)
        end = data.find(b'"', start)
        if end == -1:
            break
        if end - start >= _PREDECODE_ARRAY_FROM and data.find(b"\\", start, end) == -1:
            parts += (view[done:start], mark + b"%d" % len(payloads))
            payloads.append(view[start:end])
            done = end
        at = data.find(_ARRAY_OPEN, end)
    parts.append(view[done:])
    return b"".join(parts), payloads


# What the end of a cut document can hold after the parser's error position: part of
# a number or of a NaN/Infinity/true/false/null token.
_PARTIAL_TOKENS = ("NaN", "Infinity", "-Infinity", "true", "false", "null")


def _ends_early(exc: json.JSONDecodeError) -> bool:
    """Whether the parse failed because the text stops, not because it is wrong."""
    tail = exc.doc[exc.pos:].rstrip()
    if not tail or exc.msg.startswith("Unterminated string"):
        return True
    if exc.msg.startswith("Invalid \\uXXXX escape"):
        return len(tail) < 6  # the text stops inside the escape
    if any(tok.startswith(tail) for tok in _PARTIAL_TOKENS):
        return True
    return all(c in "0123456789+-.eE" for c in tail)


_TAIL_BYTES = 1 << 16
_HEADER_NEEDLE = f'"{_HEADER_KEY}"'


def _header_from_tail(stream: IO[bytes]) -> dict | None:
    """The header parsed from the file's last bytes, or None to parse the whole text.

    Accepted only as the last member of the top-level object: preceded by ``{`` or
    ``,`` and followed by nothing but the closing brace. A key of a nested object
    would be followed by two braces, and inside a string the quotes are escaped.
    """
    if not (hasattr(stream, "seekable") and stream.seekable()):
        return None
    start = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(max(start, end - _TAIL_BYTES))
    tail = stream.read()
    stream.seek(start)
    try:
        text = tail.decode("utf-8")  # may fail on a cut multi-byte character: parse it all
    except UnicodeDecodeError:
        return None
    at = text.rfind(_HEADER_NEEDLE)
    if at < 0 or text[:at].rstrip()[-1:] not in ("{", ","):
        return None
    colon = at + len(_HEADER_NEEDLE)
    rest = text[colon:].lstrip()
    if not rest.startswith(":"):
        return None
    try:
        header, stop = json.JSONDecoder().raw_decode(rest, len(rest) - len(rest[1:].lstrip()))
    except (ValueError, RecursionError):
        return None
    return header if rest[stop:].strip() == "}" and isinstance(header, dict) else None


def _has_digest(data: bytes) -> bool:
    """Whether ``data`` ends as qserial writes a digest: its value, the last string."""
    tail = data[-1024:]
    return (_DIGEST_AT_END.search(data, max(len(data) - 256, 0)) is not None
            and _HEADER_NEEDLE.encode("ascii") in tail and _DIGEST.encode("ascii") in tail)
