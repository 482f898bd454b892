"""What a partial read keeps of a ``PrimitiveResult``'s metadata.

``load(path, pubs=[...])`` returns a ``PrimitiveResult`` of the selected pubs, in the
order given, whose metadata is the stored metadata with one change: the execution
spans (``metadata["execution"]["execution_spans"]``, as qiskit-ibm-runtime writes
them) are restricted to the selected pubs, so that they describe the result they
belong to:

- a span that ran none of the selected pubs is dropped;
- a kept span's ``data_slices`` hold only the selected pubs, renumbered to their
  positions in the partial result (``pubs=[7, 2]``: pub 7's slice under 0, pub 2's
  under 1), so ``spans.filter_by_pub(0)`` describes ``result[0]`` (a method that
  fails on ``TwirledSliceSpanV2`` spans in qiskit-ibm-runtime 0.51, which rebuilds
  them without their pub shots);
- everything else in the metadata is kept as stored.

Every format gives the same partial result. Formats that read only the selected pubs
store each span apart (:func:`split_spans` on write, :func:`join_spans` on read), so
that the spans of other pubs are not even parsed, or apply :func:`restrict_spans` to
their own undecoded form of the metadata, so that they are never decoded; the rest
apply it to the decoded tree.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

from .errors import DecodeError, PubIndexError
from .tree import TREE_LEAF_TYPES, Node

__all__ = ["pub_indices", "restrict_spans", "restrict_result_spans", "split_spans",
           "join_spans", "stored_placeholder", "SPAN_TAGS"]

#: Tags of the span collections whose pub slices :func:`restrict_spans` selects.
SPAN_TAGS = frozenset({"ExecutionSpans", "ExecutionSpanCollection"})


def pub_indices(pubs: Any, count: int | None) -> list[int]:
    """The pubs selected by ``pubs=``, as indices in ``range(count)``, in the order given.

    Parameters
    ----------
    pubs
        A sequence of integers: ``int``, numpy integers, or anything else
        ``operator.index`` accepts (a numpy integer array too); negative ones count
        from the end.
    count
        The number of pubs the file holds; ``None`` checks only that the indices are
        integers, and keeps negative ones as they are.

    Returns
    -------
    list of int

    Raises
    ------
    PubIndexError
        If an index is not an integer (``bool`` included) or out of range.

    Examples
    --------
    >>> import numpy as np
    >>> pub_indices(np.array([2, -1]), 4)
    [2, 3]
    """
    if isinstance(pubs, (str, bytes)) or not hasattr(pubs, "__iter__"):
        raise PubIndexError(f"pubs= must be a sequence of pub indices, not "
                            f"{type(pubs).__name__}")
    out = []
    for i in pubs:
        try:
            if isinstance(i, bool):
                raise TypeError
            index = operator.index(i)
        except TypeError:
            raise PubIndexError(f"pub index {i!r} is not an integer") from None
        if count is None:
            out.append(index)
        elif -count <= index < count:
            out.append(index % count)
        else:
            raise PubIndexError(f"pub index {index} is out of range for {count} pubs")
    return out


def _tree_node(x: Any) -> tuple[str, Any] | None:
    return (x.tag, x.value) if type(x) is Node else None


_Node = Callable[[Any], "tuple[str, Any] | None"]
_Make = Callable[[str, Any], Any]


def _locate(metadata: Any, node: _Node, make: _Make
            ) -> tuple[list, Callable[[Any], Any]] | None:
    """The span list in ``metadata`` and a function giving ``metadata`` with another list.

    None when the metadata holds no execution spans in the shape qiskit-ibm-runtime
    writes (``metadata["execution"]["execution_spans"]``, a span collection).
    """
    if type(metadata) is not dict:
        return None
    execution = metadata.get("execution")
    if type(execution) is not dict:
        return None
    collection = node(execution.get("execution_spans"))
    if collection is None or collection[0] not in SPAN_TAGS or type(collection[1]) is not dict:
        return None
    tag, fields = collection
    spans = fields.get("spans")

    def rebuild(new: Any) -> Any:
        return {**metadata, "execution": {**execution, "execution_spans": make(
            tag, {**fields, "spans": new})}}

    return spans, rebuild


def _locate_in_result(root: Any, node: _Node, make: _Make
                      ) -> tuple[list, Callable[[Any], Any]] | None:
    """As :func:`_locate`, in the metadata of ``root``, a ``PrimitiveResult``."""
    found = node(root)
    if found is None or found[0] != "PrimitiveResult" or type(found[1]) is not dict:
        return None
    tag, value = found
    located = _locate(value.get("metadata"), node, make)
    if located is None:
        return None
    spans, rebuild_metadata = located
    return spans, lambda new: make(tag, {**value, "metadata": rebuild_metadata(new)})


def restrict_spans(
    metadata: Any,
    pubs: list[int],
    *,
    node: Callable[[Any], tuple[str, Any] | None] = _tree_node,
    make: Callable[[str, Any], Any] = Node,
) -> Any:
    """Return ``metadata`` with its execution spans restricted to ``pubs``.

    Parameters
    ----------
    metadata
        A ``PrimitiveResult``'s metadata as a tree (see :mod:`qserial.tree`), or in
        a format's own undecoded form in which string-keyed dicts, lists and
        integers stand for themselves (e.g. parsed JSON); ``node`` and ``make``
        then read and build that form's tagged values.
    pubs
        Indices of the selected pubs in the stored result, non-negative, in the
        order of the partial result.
    node
        ``node(x)`` gives ``(tag, value)`` when ``x`` is a tagged value, else None.
    make
        ``make(tag, value)`` builds a tagged value.

    Returns
    -------
    object
        A new metadata value; the input is not modified. Metadata without execution
        spans, or with spans in a shape this function does not know, is returned as
        it is.

    Examples
    --------
    >>> from qserial import Node
    >>> from qserial.partial import restrict_spans
    >>> span = Node("ExecutionSpan", {"start": 0, "stop": 1, "data_slices": Node(
    ...     "dict", [[3, "pub 3's slice"], [4, "pub 4's slice"]])})
    >>> meta = {"execution": {"execution_spans": Node("ExecutionSpans", {"spans": [span]})}}
    >>> out = restrict_spans(meta, [4])
    >>> out["execution"]["execution_spans"].value["spans"][0].value["data_slices"].value
    [[0, "pub 4's slice"]]
    """
    return _with_restricted(metadata, _locate(metadata, node, make), pubs, node, make)


def restrict_result_spans(
    root: Any,
    pubs: list[int],
    *,
    node: Callable[[Any], tuple[str, Any] | None] = _tree_node,
    make: Callable[[str, Any], Any] = Node,
) -> Any:
    """Return ``root``, a ``PrimitiveResult``, with the spans in its metadata restricted.

    As :func:`restrict_spans` on ``root``'s metadata; anything but a
    ``PrimitiveResult`` (as ``node`` reads it) is returned as it is.
    """
    return _with_restricted(root, _locate_in_result(root, node, make), pubs, node, make)


def _with_restricted(value: Any, located: tuple[list, Callable[[Any], Any]] | None,
                     pubs: list[int], node: _Node, make: _Make) -> Any:
    """``value`` rebuilt with its ``located`` spans restricted; as it is if it cannot be."""
    kept = None if located is None else _restricted(located[0], pubs, node, make)
    return value if kept is None else located[1](kept)


def _restricted(spans: Any, pubs: list[int], node: _Node, make: _Make) -> list | None:
    """``spans`` restricted to ``pubs`` and renumbered; None for an unknown shape."""
    if type(spans) is not list:
        return None
    positions: dict[int, list[int]] = {}
    for pos, i in enumerate(pubs):
        positions.setdefault(i, []).append(pos)
    kept = []
    for span in spans:
        found = node(span)
        if found is None or type(found[1]) is not dict:
            return None
        tag, fields = found
        slices = fields.get("data_slices")
        chosen = _chosen(slices, positions, node)
        if chosen is None:
            return None
        if not chosen:
            continue  # a span that ran none of the selected pubs
        chosen.sort(key=lambda p: p[0])
        if node(slices) is None:  # JSON's form, a plain dict: keys are the indices as strings
            new_slices: Any = {str(pos): entry for pos, entry in chosen}
        else:
            new_slices = make("dict", [[pos, entry] for pos, entry in chosen])
        kept.append(make(tag, {**fields, "data_slices": new_slices}))
    return kept


# ------------------------------------------------------------ spans stored apart
#
# A format that reads pubs one by one can store each execution span apart from the
# result's metadata, with a table of the pubs each span ran, so that a partial read
# parses only the spans of the pubs it reads.


def split_spans(root: Any, placeholder: Any = None
                ) -> tuple[Any, list[Any], list[list[int]]] | None:
    """Take the execution spans out of a ``PrimitiveResult`` tree, to store them apart.

    Parameters
    ----------
    root
        The tree of a ``PrimitiveResult`` (see :mod:`qserial.tree`), its pub results
        included or not.
    placeholder
        What stands in the stored tree where the list of spans was.

    Returns
    -------
    tuple or None
        ``(root, spans, table)``: the tree with ``placeholder`` for its spans, the
        span trees, and for each span the sorted indices of the pubs it ran. None
        when the metadata holds no spans, or spans this module cannot restrict, or
        spans holding arrays: the format then stores the tree whole.

    See Also
    --------
    join_spans : the reverse, on a format's undecoded form of the tree.
    """
    located = _locate_in_result(root, _tree_node, Node)
    if located is None or type(located[0]) is not list:
        return None
    spans, rebuild = located
    table = []
    for span in spans:
        keys = _span_pubs(span, _tree_node)
        if keys is None or _holds_array(span):
            return None
        table.append(keys)
    return rebuild(placeholder), list(spans), table


def stored_placeholder(
    root: Any,
    tag: str,
    *,
    node: Callable[[Any], tuple[str, Any] | None] = _tree_node,
) -> Any:
    """The value of the ``tag`` placeholder standing for ``root``'s spans, if there.

    A format that stores spans apart puts a tagged value of its own where the list of
    spans was (``split_spans(tree, placeholder=...)``); on read this finds it in the
    format's undecoded form of the tree (``node`` reads its tagged values).

    Returns
    -------
    object or None
        The placeholder's value; None when ``root`` is no ``PrimitiveResult`` with a
        span collection, or the collection holds no ``tag`` placeholder (spans stored
        inline, as in files written before).
    """
    located = _locate_in_result(root, node, _no_make)
    found = None if located is None else node(located[0])
    return found[1] if found is not None and found[0] == tag else None


def _no_make(tag: str, value: Any) -> Any:
    raise AssertionError("only reading")


def join_spans(
    root: Any,
    table: Any,
    read_span: Callable[[int], Any],
    pubs: list[int] | None = None,
    *,
    count: int,
    node: Callable[[Any], tuple[str, Any] | None] = _tree_node,
    make: Callable[[str, Any], Any] = Node,
) -> Any:
    """Put back the spans :func:`split_spans` took out; for a partial read, only theirs.

    Parameters
    ----------
    root
        The stored tree without its spans, in a format's undecoded form (``node``
        and ``make`` read and build its tagged values, as for :func:`restrict_spans`).
    table
        The stored table of the pubs each span ran, as :func:`split_spans` gave it,
        one row per stored span. The rows of the spans read are checked here (every
        row when ``pubs`` is None; a partial read checks of the others only that they
        are lists), and each span read against its row; the format's digests must
        cover the table, so that no stored span is left out unnoticed.
    read_span
        ``read_span(j)`` returns span ``j`` in the undecoded form; it is called only
        for the spans a partial read keeps.
    pubs
        The pubs of a partial read (non-negative, in the partial result's order), or
        None for every span as stored.
    count
        The number of pubs in the file.

    Returns
    -------
    object
        ``root`` with its spans, restricted to ``pubs`` and renumbered if given.

    Raises
    ------
    DecodeError
        If the table is malformed, a span's pubs differ from its row of the table,
        or ``root`` has no place for the spans.
    """
    located = _locate_in_result(root, node, make)
    if located is None:
        raise DecodeError("the result's metadata has no place for its stored execution spans")
    # Each row read is checked by comparing it with its span's pubs (sorted distinct
    # integers), its shape only when they differ. A partial read checks of the other
    # rows only that they are lists of hashable values, in C loops: its cost grows with
    # its own spans.
    if type(table) is not list:
        raise _malformed_table()
    if pubs is None:
        chosen: Any = range(len(table))
    else:
        try:
            if set(map(type, table)) - {list}:
                raise TypeError
            chosen = list(itertools.compress(range(len(table)), map(
                operator.not_, map(set(pubs).isdisjoint, table))))
        except TypeError:  # a row that is no list, or holds lists or dicts
            raise _malformed_table() from None
    spans = []
    for j in chosen:
        row = table[j]
        span = read_span(j)
        ran = _span_pubs(span, node)
        if ran is None or ran != row or (row and not 0 <= row[0] <= row[-1] < count):
            if not _valid_table([row], count):
                raise _malformed_table()
            raise DecodeError(f"execution span {j} did not run the pubs its table row lists")
        spans.append(span)
    if pubs is not None:
        spans = _restricted(spans, pubs, node, make)
    return located[1](spans)


def _malformed_table() -> DecodeError:
    # Made only when raised: join_spans runs on every partial read.
    return DecodeError("malformed table of the pubs each execution span ran")


def _valid_table(table: Any, count: int) -> bool:
    """Whether ``table`` is a list of sorted lists of distinct pub indices below ``count``."""
    # Whole-list builtins rather than a loop per index.
    if type(table) is not list or not all([type(row) is list for row in table]):
        return False
    flat = [i for row in table for i in row]
    if flat and (set(map(type, flat)) != {int} or min(flat) < 0 or max(flat) >= count):
        return False
    return all([row == sorted(set(row)) for row in table])


def _span_pubs(span: Any, node: _Node) -> list[int] | None:
    """The sorted pub indices of a span's ``data_slices`` (tagged ``dict`` form only)."""
    found = node(span)
    if found is None or type(found[1]) is not dict:
        return None
    pairs = node(found[1].get("data_slices"))
    if pairs is None or pairs[0] != "dict" or type(pairs[1]) is not list:
        return None
    keys = []
    for pair in pairs[1]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int:
            return None
        keys.append(pair[0])
    unique = sorted(set(keys))
    return unique if len(unique) == len(keys) else None


def _holds_array(x: Any) -> bool:
    if type(x) is Node:
        return _holds_array(x.value)
    if type(x) is list:
        return any(_holds_array(v) for v in x)
    if type(x) is dict:
        return any(_holds_array(v) for v in x.values())
    return type(x) not in TREE_LEAF_TYPES


def _chosen(slices: Any, positions: dict[int, list[int]],
            node: Callable[[Any], tuple[str, Any] | None]) -> list[tuple[int, Any]] | None:
    """The ``(position, entry)`` of each selected pub in a span's ``data_slices``.

    ``data_slices`` is a dict with integer keys, so a tagged ``dict`` of ``[key,
    value]`` pairs, or (in JSON, whose keys are strings) a plain dict. None when it
    is neither.
    """
    pairs = node(slices)
    out: list[tuple[int, Any]] = []
    if pairs is None and type(slices) is dict:
        for key, entry in slices.items():
            if type(key) is not str or not key.isdigit():
                return None
            for pos in positions.get(int(key), ()):
                out.append((pos, entry))
        return out
    if pairs is None or pairs[0] != "dict" or type(pairs[1]) is not list:
        return None
    get = positions.get
    for pair in pairs[1]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int:
            return None
        found = get(pair[0])
        if found:
            for pos in found:
                out.append((pos, pair[1]))
    return out
