"""What a partial read keeps of a ``PrimitiveResult``'s metadata.

``load(path, pubs=[...])`` returns a ``PrimitiveResult`` of the selected pubs, in the
order given, whose metadata is the stored metadata with one change: the execution
spans (``metadata["execution"]["execution_spans"]``, as qiskit-ibm-runtime writes
them) are restricted to the selected pubs, so that they describe the result they
belong to:

- a span that ran none of the selected pubs is dropped;
- a kept span's ``data_slices`` hold only the selected pubs, renumbered to their
  positions in the partial result (``pubs=[7, 2]``: pub 7's slice under 0, pub 2's
  under 1), so ``spans.filter_by_pub(0)`` describes ``result[0]``;
- everything else in the metadata is kept as stored.

Every format gives the same partial result. Formats that read only the selected pubs
apply :func:`restrict_spans` to their own undecoded form of the metadata, so that
the spans of other pubs are never decoded; the rest apply it to the decoded tree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .errors import PubIndexError
from .tree import Node

__all__ = ["pub_indices", "restrict_spans", "SPAN_TAGS"]

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
    if type(metadata) is not dict:
        return metadata
    execution = metadata.get("execution")
    if type(execution) is not dict:
        return metadata
    collection = node(execution.get("execution_spans"))
    if collection is None or collection[0] not in SPAN_TAGS or type(collection[1]) is not dict:
        return metadata
    spans = collection[1].get("spans")
    if type(spans) is not list:
        return metadata
    positions: dict[int, list[int]] = {}
    for pos, i in enumerate(pubs):
        positions.setdefault(i, []).append(pos)
    kept = []
    for span in spans:
        found = node(span)
        if found is None or type(found[1]) is not dict:
            return metadata
        tag, fields = found
        slices = fields.get("data_slices")
        chosen = _chosen(slices, positions, node)
        if chosen is None:
            return metadata
        if not chosen:
            continue  # a span that ran none of the selected pubs
        chosen.sort(key=lambda p: p[0])
        if node(slices) is None:  # JSON's form, a plain dict: keys are the indices as strings
            new_slices: Any = {str(pos): entry for pos, entry in chosen}
        else:
            new_slices = make("dict", [[pos, entry] for pos, entry in chosen])
        kept.append(make(tag, {**fields, "data_slices": new_slices}))
    spans_value = {**collection[1], "spans": kept}
    return {**metadata,
            "execution": {**execution,
                          "execution_spans": make(collection[0], spans_value)}}


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
