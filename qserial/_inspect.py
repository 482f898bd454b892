"""Summaries of a stored tree for ``qserial info`` and ``qserial counts``.

Everything here reads the neutral tree (:func:`qserial.load_tree`), never objects, so
inspecting a file imports neither Qiskit nor qiskit-ibm-runtime, works on tags this
qserial does not know, and costs no more than reading the file. The tree comes from
a file, so no shape is trusted: what does not look as expected is reported as such
(or raises :class:`~qserial.DecodeError`), never a crash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DecodeError, PubIndexError
from .tree import Node

__all__ = ["Counts", "count_outcomes", "pub_trees", "summarize"]

# Tags of a pub result: qiskit's and qiskit-ibm-runtime's, as RuntimeEncoder writes them.
_PUB_TAGS = frozenset({"PubResult", "SamplerPubResult", "EstimatorPubResult"})
_SPANS_TAGS = frozenset({"ExecutionSpans", "ExecutionSpanCollection"})


def _keys(value: Any) -> list[str]:
    """The keys of a tree mapping: a dict, or a ``dict`` node of ``[key, value]`` pairs."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if type(value) is Node and value.tag == "dict" and isinstance(value.value, list):
        return [str(p[0]) for p in value.value if isinstance(p, list) and len(p) == 2]
    return []


def _get(value: Any, key: str) -> Any:
    """``value[key]`` for a tree mapping, else None."""
    if isinstance(value, dict):
        return value.get(key)
    if type(value) is Node and value.tag == "dict" and isinstance(value.value, list):
        for pair in value.value:
            if isinstance(pair, list) and len(pair) == 2 and pair[0] == key:
                return pair[1]
    return None


def _shape(value: Any) -> list[int] | None:
    """A shape stored as a list or a ``tuple`` node of ints, else None."""
    if type(value) is Node and value.tag == "tuple":
        value = value.value
    if isinstance(value, list) and all(type(n) is int and n >= 0 for n in value):
        return list(value)
    return None


def _kind(value: Any) -> str:
    """What a tree value is, in a word: its tag, or its Python type."""
    if type(value) is Node:
        return value.tag
    if isinstance(value, np.ndarray):
        return "ndarray"
    return type(value).__name__


def _bit_array(value: Any) -> tuple[np.ndarray, int] | None:
    """``(packed uint8 array, num_bits)`` of a well-formed ``BitArray`` node, else None."""
    if not (type(value) is Node and value.tag == "BitArray" and isinstance(value.value, dict)):
        return None
    array, num_bits = value.value.get("array"), value.value.get("num_bits")
    if (type(array) is not np.ndarray or array.dtype != np.uint8 or array.ndim < 2
            or type(num_bits) is not int or num_bits < 0
            or array.shape[-1] != (num_bits + 7) // 8):
        return None
    return array, num_bits


def pub_trees(tree: Any) -> list[Any] | None:
    """The pub result trees of a stored ``PrimitiveResult`` (or of a lone pub result).

    Returns None when the tree holds neither.
    """
    if type(tree) is not Node:
        return None
    if tree.tag == "PrimitiveResult" and isinstance(tree.value, dict):
        pubs = tree.value.get("pub_results")
        if type(pubs) is Node and pubs.tag == "tuple":
            pubs = pubs.value
        return list(pubs) if isinstance(pubs, list) else None
    if _data_bin(tree) is not None:
        return [tree]
    return None


def _data_bin(pub: Any) -> dict | None:
    """The value of a pub result's ``DataBin`` node, else None."""
    if type(pub) is not Node or not isinstance(pub.value, dict):
        return None
    data = pub.value.get("data")
    if type(data) is Node and data.tag == "DataBin" and isinstance(data.value, dict):
        return data.value
    return None


def _fields(data_bin: dict) -> dict[str, Any]:
    fields = data_bin.get("fields")
    return {str(k): v for k, v in fields.items()} if isinstance(fields, dict) else {}


def _summarize_pub(index: int, pub: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "type": _kind(pub), "shape": None,
                           "registers": [], "arrays": [], "other": [], "metadata_keys": []}
    data_bin = _data_bin(pub)
    if data_bin is None:
        return out
    out["shape"] = _shape(data_bin.get("shape"))
    for name, value in _fields(data_bin).items():
        bits = _bit_array(value)
        if bits is not None:
            array, num_bits = bits
            out["registers"].append({"name": name, "num_bits": num_bits,
                                     "shots": int(array.shape[-2])})
        elif isinstance(value, np.ndarray):
            out["arrays"].append({"name": name, "dtype": str(value.dtype),
                                  "shape": list(value.shape)})
        else:
            out["other"].append({"name": name, "type": _kind(value)})
    out["metadata_keys"] = _keys(pub.value.get("metadata"))
    return out


def _datetime(value: Any) -> dt.datetime | None:
    if type(value) is Node and value.tag == "datetime" and isinstance(value.value, str):
        try:
            return dt.datetime.fromisoformat(value.value)
        except ValueError:
            return None
    return None


def _spans(metadata: Any) -> dict[str, Any] | None:
    """Count, time range and total duration of ``metadata["execution"]["execution_spans"]``."""
    spans = _get(_get(metadata, "execution"), "execution_spans")
    if not (type(spans) is Node and spans.tag in _SPANS_TAGS):
        return None
    items = _get(spans.value, "spans")
    if not isinstance(items, list):
        return None
    kinds: dict[str, int] = {}
    times = []
    for span in items:
        kinds[_kind(span)] = kinds.get(_kind(span), 0) + 1
        value = span.value if type(span) is Node else None
        start, stop = _datetime(_get(value, "start")), _datetime(_get(value, "stop"))
        if start is not None and stop is not None:
            times.append((start, stop))
    out: dict[str, Any] = {"count": len(items), "kinds": kinds, "first_start": None,
                           "last_stop": None, "duration_s": None}
    if times and len(times) == len(items):
        try:
            out["first_start"] = min(t[0] for t in times).isoformat()
            out["last_stop"] = max(t[1] for t in times).isoformat()
            # Time spent in the spans themselves (they may leave gaps between them).
            out["duration_s"] = sum((b - a).total_seconds() for a, b in times)
        except TypeError:  # naive and aware datetimes mixed: no order between them
            pass
    return out


def summarize(tree: Any) -> dict[str, Any]:
    """Describe a stored tree: its type, each pub's data and the execution spans.

    Parameters
    ----------
    tree
        A tree as :func:`qserial.load_tree` returns it.

    Returns
    -------
    dict
        JSON-able: ``type`` (the top-level tag or Python type), ``pubs`` (None if the
        tree is no result; else per pub ``index``, ``type``, ``shape``, ``registers``
        [name, num_bits, shots], ``arrays`` [name, dtype, shape], ``other`` [name,
        type] and ``metadata_keys``), ``metadata_keys`` of the result and
        ``execution_spans`` (None, or ``count``, ``kinds``, ``first_start``,
        ``last_stop`` and ``duration_s``, the sum of the spans' lengths).
    """
    pubs = pub_trees(tree)
    is_result = type(tree) is Node and tree.tag == "PrimitiveResult"
    metadata = tree.value.get("metadata") if is_result and isinstance(tree.value, dict) else None
    return {
        "type": _kind(tree),
        "pubs": None if pubs is None else [_summarize_pub(i, p) for i, p in enumerate(pubs)],
        "metadata_keys": _keys(metadata) if is_result else [],
        "execution_spans": _spans(metadata) if is_result else None,
    }


@dataclass
class Counts:
    """The outcomes of one register (or of registers joined) of one pub, most frequent first.

    Attributes
    ----------
    pub
        Index of the pub.
    registers
        Names of the registers counted; more than one are joined as
        ``SamplerPubResult.join_data`` joins them (the first one's bits rightmost).
    num_bits
        Bits per outcome.
    shots
        Number of outcomes counted, over every position of the pub's shape.
    counts
        ``(bitstring, count)`` pairs by falling count, then by bitstring.
    """

    pub: int
    registers: list[str]
    num_bits: int
    shots: int
    counts: list[tuple[str, int]] = field(default_factory=list)


def count_outcomes(tree: Any, pub: int = 0, registers: list[str] | None = None) -> Counts:
    """Count the bitstrings of a stored pub, as ``BitArray.get_counts()`` does.

    Parameters
    ----------
    tree
        A tree as :func:`qserial.load_tree` returns it.
    pub
        Index of the pub in the tree.
    registers
        Names of the registers to count, joined in this order (the first one's bits
        rightmost, as ``SamplerPubResult.join_data(names)``). By default the pub's
        only register, or all of its registers joined.

    Raises
    ------
    PubIndexError
        If the tree has no pub ``pub``.
    DecodeError
        If the tree is no result, the pub holds no such register, or the registers do
        not fit together.
    """
    pubs = pub_trees(tree)
    if pubs is None:
        raise DecodeError(f"the file holds a {_kind(tree)}, not a result with pubs", "$")
    if not 0 <= pub < len(pubs):
        raise PubIndexError(f"pub index {pub} is out of range for {len(pubs)} pubs")
    data_bin = _data_bin(pubs[pub])
    where = f"$.pub_results[{pub}]"
    if data_bin is None:
        raise DecodeError(f"pub {pub} is a {_kind(pubs[pub])} without a DataBin", where)
    fields = _fields(data_bin)
    bit_arrays = {name: _bit_array(v) for name, v in fields.items()}
    available = [name for name, bits in bit_arrays.items() if bits is not None]
    if not available:
        held = ", ".join(f"{n} ({_kind(v)})" for n, v in fields.items()) or "nothing"
        raise DecodeError(f"pub {pub} holds no bit registers (BitArray); it holds {held}",
                          where)
    names = list(registers) if registers else available
    for name in names:
        if name not in available:
            raise DecodeError(f"pub {pub} has no register {name!r}; its registers: "
                              f"{', '.join(available)}", where)
    parts = [bit_arrays[name] for name in names]
    if len({a.shape[:-1] for a, _ in parts}) != 1:
        raise DecodeError(f"registers {', '.join(names)} of pub {pub} differ in shape or "
                          "shots", where)
    total_bits = sum(n for _, n in parts)
    shots = int(np.prod(parts[0][0].shape[:-1]))
    return Counts(pub, names, total_bits, shots, _tally(parts, shots))


def _tally(parts: list[tuple[np.ndarray, int]], shots: int) -> list[tuple[str, int]]:
    if shots == 0:
        return []
    width = sum(a.shape[-1] for a, _ in parts)
    if width == 0:  # registers of no bits: one outcome, named as BitArray names it
        return [(bin(0)[2:], shots)]
    # Count distinct rows of packed bytes (padding bits cleared), then name each once.
    rows = []
    for array, num_bits in parts:
        flat = array.reshape(shots, array.shape[-1])
        pad = 8 * array.shape[-1] - num_bits
        if pad and flat.shape[1]:
            flat = flat.copy()
            flat[:, 0] &= 0xFF >> pad
        rows.append(flat)
    joined = np.ascontiguousarray(np.concatenate(rows, axis=1))
    unique, counts = np.unique(joined.view(np.dtype((np.void, width))).ravel(),
                               return_counts=True)
    total_bits = sum(n for _, n in parts)
    out = []
    for row, count in zip(unique, counts.tolist(), strict=True):
        raw = row.tobytes()
        value, offset, at = 0, 0, 0
        for array, num_bits in parts:
            nbytes = array.shape[-1]
            value |= int.from_bytes(raw[at:at + nbytes], "big") << offset
            offset += num_bits
            at += nbytes
        out.append((bin(value)[2:].zfill(total_bits), count))
    out.sort(key=lambda item: (-item[1], item[0]))
    return out
