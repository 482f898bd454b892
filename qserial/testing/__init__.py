"""Testing helpers for qserial users, type-pack authors and format-plugin authors.

* :func:`assert_equal` compares results structurally: dtype-exact, NaN-aware,
  Python and numpy types compared, with a message pointing at the first difference.
* :func:`partial_result` is the result a partial read (``load(path, pubs=...)``) must
  equal.
* :mod:`qserial.testing.strategies` holds hypothesis strategies for every registered
  type (needs ``hypothesis``).
* :mod:`qserial.testing.conformance` is the reusable test suite a format plugin runs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..api import select_pubs
from ..codec import from_tree, key_segment, to_tree
from ..formats.json import PLAIN_LIST_TAGS, runtime_json_form
from ..tree import Node

__all__ = ["assert_equal", "first_difference", "lossy_json_view", "partial_result"]

_SUBMODULES = ("strategies", "conformance")  # need the ``testing`` extra: hypothesis, pytest


def __getattr__(name: str) -> Any:
    # ``qserial.testing.strategies`` works without an explicit import of the submodule,
    # and hypothesis/pytest are imported only then.
    if name in _SUBMODULES:
        import importlib

        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name not in ("hypothesis", "pytest"):
                raise
            raise ModuleNotFoundError(
                f"qserial.testing.{name} needs {exc.name}: pip install 'qserial[testing]'",
                name=exc.name,
            ) from exc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



def partial_result(result: Any, pubs: Any) -> Any:
    """Return the ``PrimitiveResult`` that ``load(path, pubs=pubs)`` gives for ``result``.

    Every format's partial read of a file holding ``result`` must equal it: the pubs at
    ``pubs``, in that order, and the stored metadata with its execution spans
    restricted to them and renumbered (see :mod:`qserial.partial`).

    Parameters
    ----------
    result
        A ``PrimitiveResult``, or its tree (as :func:`qserial.load_tree` reads it).
    pubs
        Pub indices, as ``load`` takes them; negative ones count from the end.

    Returns
    -------
    PrimitiveResult

    Examples
    --------
    >>> from qserial import scenarios
    >>> from qserial.testing import partial_result
    >>> result = scenarios.sweep(pubs=3, params=2, shots=4, bits=3)
    >>> len(partial_result(result, [2, 0]))
    2
    """
    tree = result if type(result) is Node else to_tree(result)
    return from_tree(select_pubs(tree, pubs))


def assert_equal(actual: Any, expected: Any, *, exact: bool = True) -> None:
    """Assert that two results (or any storable values) are the same.

    Both sides are compared through their trees, so two ``PrimitiveResult`` objects
    are equal when every pub, field, array (dtype, shape and bytes, padding bits of
    a ``BitArray`` included), metadata value and type is equal. NaN equals NaN,
    ``-0.0`` differs from ``0.0``.

    Parameters
    ----------
    actual, expected
        The values to compare.
    exact
        If false, compare as the RuntimeEncoder JSON format stores values: tuples as
        lists, dict keys as strings, numpy scalars as Python numbers.

    Raises
    ------
    AssertionError
        Naming the path of the first difference, e.g. ``$.pub_results[0].data.meas``.

    Examples
    --------
    >>> import numpy as np
    >>> from qserial.testing import assert_equal
    >>> assert_equal({"x": np.float32(1)}, {"x": np.float32(1)})
    >>> assert_equal({"x": np.float32(1)}, {"x": np.float64(1)})
    Traceback (most recent call last):
    ...
    AssertionError: at $.x.dtype: float32 != float64
    """
    diff = first_difference(actual, expected, exact=exact)
    if diff is not None:
        raise AssertionError(diff)


def first_difference(actual: Any, expected: Any, *, exact: bool = True) -> str | None:
    """Return a description of the first difference, or ``None`` if equal."""
    a, b = to_tree(actual), to_tree(expected)
    if not exact:
        a, b = lossy_json_view(a), lossy_json_view(b)
    return _diff(a, b, "$")


def lossy_json_view(tree: Any) -> Any:
    """Normalise a tree to what survives the RuntimeEncoder JSON format."""
    t = type(tree)
    if t is list:
        return [lossy_json_view(v) for v in tree]
    if t is dict:
        return {k: lossy_json_view(v) for k, v in tree.items()}
    if t is Node:
        if tree.tag == "tuple":
            return lossy_json_view(tree.value)
        if tree.tag == "dict":
            return {_json_key(k): lossy_json_view(v) for k, v in tree.value}
        if tree.tag == "npscalar":
            return lossy_json_view(to_tree(tree.value.item()))
        if tree.tag == "frozenset":
            return Node("set", lossy_json_view(tree.value))
        if tree.tag == "date":
            return Node("datetime", tree.value + "T00:00:00")
        if tree.tag == "objarray":
            return _lossy_object_array(lossy_json_view(tree.value))
        if tree.tag in PLAIN_LIST_TAGS:
            return lossy_json_view(runtime_json_form(tree))
        if tree.tag == "datetime" and type(tree.value) is str and tree.value.endswith("]"):
            return Node("datetime", tree.value[:tree.value.rfind("[")])  # the zone's name
        return Node(tree.tag, lossy_json_view(tree.value))
    return tree


def _lossy_object_array(value: dict) -> Any:
    # What the JSON reader makes of the nested lists RuntimeEncoder writes: numbers
    # become a numeric array, anything else an object array of the same shape.
    from ..formats.json import _nest

    nested = _nest(value["items"], value["shape"])
    if all(type(v) in (bool, int, float) for v in value["items"]):
        arr = np.array(nested)
        if arr.dtype.kind in "biufc":
            return arr
    return Node("objarray", value)


def _json_key(key: Any) -> str:
    if type(key) is Node and key.tag == "npscalar":
        key = key.value.item()
    if isinstance(key, str):
        return key
    # json.dumps names keys as the JSON writer does (NaN, Infinity, true, null).
    return json.dumps(key)


def _diff(a: Any, b: Any, path: str) -> str | None:
    ta, tb = type(a), type(b)
    if ta is not tb:
        return f"at {path}: type {_tname(a)} != {_tname(b)}"
    if ta is Node:
        if a.tag != b.tag:
            return f"at {path}: tag {a.tag!r} != {b.tag!r}"
        return _diff(a.value, b.value, path)
    if ta is list:
        if len(a) != len(b):
            return f"at {path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if ta is dict:
        if list(a) != list(b):
            return f"at {path}: keys {list(a)} != {list(b)}"
        for k in a:
            d = _diff(a[k], b[k], path + key_segment(k))
            if d:
                return d
        return None
    if ta is np.ndarray:
        if a.dtype != b.dtype:
            return f"at {path}.dtype: {a.dtype} != {b.dtype}"
        if a.shape != b.shape:
            return f"at {path}.shape: {a.shape} != {b.shape}"
        if np.ascontiguousarray(a).tobytes() != np.ascontiguousarray(b).tobytes():
            if a.dtype.kind in "fc" and _same_floats(a, b):
                return None
            idx = _first_unequal_index(a, b)
            where = ", ".join(map(str, idx))
            return f"at {path}[{where}]: {a[idx]!r} != {b[idx]!r}"
        return None
    if ta is float:
        if a == b and math.copysign(1, a) == math.copysign(1, b):
            return None
        if math.isnan(a) and math.isnan(b):
            return None
        return f"at {path}: {a!r} != {b!r}"
    if a != b:
        return f"at {path}: {a!r} != {b!r}"
    return None


def _same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    # Differing bytes can still be equal values when only NaN payloads differ.
    return bool(np.array_equal(a, b, equal_nan=True)) and bool(
        np.array_equal(np.signbit(a.real), np.signbit(b.real))
    )


def _first_unequal_index(a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    if a.size == 0:
        return ()
    if a.dtype.kind not in "OUS" and a.ndim:
        # A byte view needs contiguous memory (a Fortran-ordered array is not, row-wise).
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        ne = a.view(np.uint8).reshape(*a.shape, -1) != b.view(np.uint8).reshape(*b.shape, -1)
    else:
        ne = np.asarray(a != b)
    if ne.ndim > a.ndim:
        ne = ne.any(axis=-1)
    found = np.argwhere(ne)
    return tuple(int(i) for i in found[0]) if len(found) else ()


def _tname(x: Any) -> str:
    return f"Node({x.tag!r})" if type(x) is Node else type(x).__name__
