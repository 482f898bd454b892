"""The neutral tree between Python objects and storage formats.

A tree is made of

* ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``;
* ``list`` and ``dict`` with ``str`` keys;
* ``numpy.ndarray`` of a fixed-size dtype (never ``object``);
* :class:`Node`, a tagged value: a registered type's fields, or one of the
  built-in tags below.

Everything else -- tuples, sets, complex numbers, datetimes, numpy scalars, dicts
with non-string keys and every Qiskit result class -- becomes a :class:`Node` through
the type registry. A format therefore maps just these few kinds to its medium.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Node", "UnknownObject", "TREE_LEAF_TYPES"]


class Node:
    """A tagged value in the tree.

    Parameters
    ----------
    tag
        The registered type tag, e.g. ``"BitArray"``.
    value
        The tree of the object's fields.
    """

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"Node({self.tag!r}, {self.value!r})"


class UnknownObject:
    """Placeholder for a tagged value whose tag no decoder knows.

    Only returned when loading with ``strict=False``; writing it back stores the
    same tag and value, so converting a file never drops what it does not know.

    Parameters
    ----------
    tag
        The unknown type tag as found in the file.
    value
        The decoded value that came with it.
    """

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"UnknownObject(tag={self.tag!r}, value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnknownObject):
            return NotImplemented
        return self.tag == other.tag and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


#: Types that stand for themselves in a tree (matched exactly, not by subclass).
TREE_LEAF_TYPES = (type(None), bool, int, float, str, bytes)
