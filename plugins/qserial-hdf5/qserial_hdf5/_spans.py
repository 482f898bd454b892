"""Execution spans stored apart from the root's structure (layout 2.0).

``qserial_tree`` is ``[root,span0,...,spanM-1,pub0,...,pubN-1]``. In the root, the list of
spans is a placeholder ``{"$t":"$spans","v":[[length, [pubs]], ...]}``: the length of
each span's text and the pubs it ran (its row of the table), so that a partial read
parses only the spans of its pubs (:func:`qserial.partial.join_spans`). The root digest
covers the root's text and the spans' together. Files of layout 1.x, and results whose
spans cannot be split, hold them in the root, restricted with
:func:`qserial.partial.restrict_result_spans`.
"""

from __future__ import annotations

from typing import Any

from qserial import DecodeError, QSerialError, partial

from . import _skeleton

PLACEHOLDER_TAG = "$spans"


def skel_node(x: Any) -> tuple[str, Any] | None:
    """A tagged value of the skeleton (``{"$t": tag, "v": value}``) as ``(tag, value)``."""
    if type(x) is dict and len(x) == 2 and type(x.get("$t")) is str and "v" in x:
        return x["$t"], x["v"]
    return None


def skel_make(tag: str, value: Any) -> dict:
    return {"$t": tag, "v": value}


def span_table(skel: Any) -> tuple[list[int], list] | None:
    """The length of each span's text and its table row, when the spans are apart.

    Raises
    ------
    DecodeError
        If the placeholder is malformed.
    """
    entries = partial.stored_placeholder(skel, PLACEHOLDER_TAG, node=skel_node)
    if entries is None:
        return None
    try:
        # C loops: a partial read should not pay a Python step per span.
        if type(entries) is not list or set(map(len, entries)) - {2}:
            raise TypeError
        lengths = [e[0] for e in entries]
        table = [e[1] for e in entries]
    except (TypeError, KeyError, IndexError):
        raise DecodeError("malformed placeholder of the execution spans in the root's "
                          "structure", "$") from None
    if not positive_ints(lengths):
        raise DecodeError("invalid list of execution span text lengths", "$")
    return lengths, table


def positive_ints(values: list) -> bool:
    """Whether all are integers above 0 (booleans count as 0 and 1): C loops only."""
    try:
        total = sum(values)
    except TypeError:
        return False
    return type(total) is int and (not values or min(values) > 0)


def root_skeleton(meta: Any, pubs: list[int] | None) -> Any:
    """The root skeleton with its execution spans; only those of ``pubs`` if given.

    ``meta`` is the reader's checked root attributes (``skel``, ``spans``: the result
    of :func:`span_table` or None, ``span_first``, ``count``). A partial read parses
    only the spans whose row of the table names one of ``pubs``, restricts them to
    those pubs and renumbers them; spans held in the root are restricted there.
    """
    if meta.spans is None:
        if pubs is None:
            return meta.skel
        return partial.restrict_result_spans(meta.skel, pubs, node=skel_node,
                                             make=skel_make)
    lengths, table = meta.spans

    def read_span(j: int) -> Any:
        start = meta.span_first + j + sum(lengths[:j])
        return span_text(meta, j, start, start + lengths[j])

    try:
        if pubs is None:  # every span, parsed in one loop
            read_span = _skeleton.loads_run(meta.tree_text, meta.span_first, lengths,
                                            "the structure of execution span {}").__getitem__
        return partial.join_spans(meta.skel, table, read_span, pubs, count=meta.count,
                                  node=skel_node, make=skel_make)
    except QSerialError as e:
        for segment in (".execution_spans", ".execution", ".metadata"):
            e.prepend_path(segment)
        raise


def span_text(meta: Any, j: int, start: int, end: int) -> Any:
    """Span ``j``'s skeleton, parsed from ``qserial_tree[start:end]``."""
    text = meta.tree
    try:
        if text[start - 1] != 44 or text[end] not in (44, 93):  # b"," before; b"," or b"]"
            raise DecodeError("qserial_tree does not hold the span texts the placeholder "
                              "describes")
        return _skeleton.loads_span(meta.tree_text, start, end,
                                    f"the structure of execution span {j}")
    except QSerialError as e:
        e.prepend_path(f"[{j}]")
        raise
