"""Strategies for the plain values qserial stores: numbers, arrays, datetimes, metadata.

The building blocks shared by :mod:`qserial.testing.strategies` (which re-exports the
public ones) and the strategies of the types it registers later, so that both import
this module and neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy


def _with_orders(names: Sequence[str]) -> tuple[np.dtype, ...]:
    out = []
    for name in names:
        dtype = np.dtype(name)
        out.append(dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype)
        if dtype.itemsize > 1:
            out.append(dtype.newbyteorder(">"))
    return tuple(out)


#: Every fixed-size numeric, bool and complex dtype, in both byte orders where that
#: means something. ``longdouble``/``clongdouble`` are left out: their size differs
#: between platforms, so no file format can promise to keep them.
NUMERIC_DTYPES: tuple[np.dtype, ...] = _with_orders([
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
])
_NATIVE_DTYPES = tuple(d for d in NUMERIC_DTYPES if d.isnative)

# Building a strategy costs more than drawing from it, and composite strategies call
# these builders for every example: build each one once per distinct argument.
def _memo(builder: Callable[..., Any]) -> Callable[..., Any]:
    cached = functools.lru_cache(maxsize=1024)(builder)

    @functools.wraps(builder)
    def build(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument, such as a list for a shape
            return builder(*args, **kwargs)

    return build


# -- numpy -------------------------------------------------------------------------


@st.composite
def _laid_out(draw: st.DrawFn, arr: np.ndarray) -> np.ndarray:
    # Formats must copy what the array holds, not its memory layout: Fortran order
    # and strided views must come back as equal C arrays.
    layout = draw(st.sampled_from(("C", "C", "F", "strided")))
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided" and arr.ndim:
        return np.repeat(arr, 2, axis=0)[::2]
    return arr


@_memo
def arrays(
    dtype: np.dtype | str | SearchStrategy[np.dtype] | None = None,
    shape: int | tuple[int, ...] | SearchStrategy[tuple[int, ...]] | None = None,
    *,
    max_dims: int = 4,
    max_side: int = 4,
    layouts: bool = True,
) -> SearchStrategy[np.ndarray]:
    """Numpy arrays of any numeric, bool or complex dtype and any small shape.

    Covers 0-d arrays, empty arrays and zero-size dimensions, both byte orders,
    NaN, infinities and ``-0.0``, and C, Fortran and strided memory layouts.

    Parameters
    ----------
    dtype
        A dtype, or a strategy of dtypes; default: any of :data:`NUMERIC_DTYPES`.
    shape
        A shape, or a strategy of shapes; default: up to ``max_dims`` dimensions of
        up to ``max_side`` elements (at most 256 elements).
    max_dims, max_side
        Bounds of the default shapes.
    layouts
        Also draw Fortran-ordered and non-contiguous arrays.
    """
    if dtype is None:
        dtype = st.sampled_from(NUMERIC_DTYPES)
    elif not isinstance(dtype, SearchStrategy):
        dtype = np.dtype(dtype)
    if shape is None:
        shape = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
    strategy = hnp.arrays(dtype, shape)
    return strategy.flatmap(_laid_out) if layouts else strategy


@_memo
def numpy_scalars(dtype: np.dtype | str | None = None) -> SearchStrategy[np.generic]:
    """Numpy scalars (``np.float32(1.5)``, ``np.bool_(True)``, ...) of any numeric dtype."""
    dtypes = st.just(np.dtype(dtype)) if dtype is not None else st.sampled_from(_NATIVE_DTYPES)
    return dtypes.flatmap(lambda d: hnp.arrays(d, ())).map(lambda a: a[()])


# -- Python values -----------------------------------------------------------------

_UTC_OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)


def _iana_zones() -> list[dt.tzinfo]:
    # Zones with DST and odd offsets (Lord Howe shifts by 30 minutes), where available.
    import zoneinfo

    known = zoneinfo.available_timezones()
    return [zoneinfo.ZoneInfo(key) for key in
            ("Europe/Zurich", "America/New_York", "Australia/Lord_Howe", "UTC")
            if key in known]


@_memo
def datetimes(*, aware: bool | None = None) -> SearchStrategy[dt.datetime]:
    """Datetimes, naive, with a fixed UTC offset or with an IANA zone (``ZoneInfo``).

    ``aware`` forces naive (False) or aware (True) ones.
    """
    zones = _iana_zones()
    aware_st = st.datetimes(timezones=st.one_of(
        st.just(dt.timezone.utc), _UTC_OFFSETS, *([st.sampled_from(zones)] if zones else [])))
    if aware is True:
        return aware_st
    naive_st = st.datetimes()
    return naive_st if aware is False else st.one_of(naive_st, aware_st)


@_memo
def _floats() -> SearchStrategy[float]:
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from((0.0, -0.0, math.nan, math.inf, -math.inf)),
    )


@_memo
def _complex() -> SearchStrategy[complex]:
    # complex(re, im) keeps signed zeros and infinities in both parts.
    return st.builds(complex, _floats(), _floats())


@_memo
def _ints() -> SearchStrategy[int]:
    # Mostly small, sometimes beyond 64 bits.
    return st.one_of(
        st.integers(-1000, 1000),
        st.integers(),
        st.sampled_from((2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**64) - 1, 10**30)),
    )


_TEXT = st.text(max_size=12)
# Keys of the wire formats among them: a plain dict must stay plain whatever its keys.
_KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["__type__", "__value__", "__module__"]))


@_memo
def _scalars() -> SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), _ints(), _floats(), _TEXT,
        st.binary(max_size=12), _complex(), datetimes(), st.dates(), numpy_scalars(),
    )


@_memo
def _sets(kind: Callable[..., Any] = set) -> SearchStrategy[Any]:
    # Elements of one sortable kind: a set is stored sorted, so equal sets give equal
    # files, and its elements stay hashable after any format's round trip.
    return st.one_of(
        st.sets(st.integers(-(2**70), 2**70), max_size=5),
        st.sets(_TEXT, max_size=5),
    ).map(kind)


@_memo
def _plain_keys() -> SearchStrategy[Any]:
    # Non-str dict keys that RuntimeEncoder's JSON can still name as strings.
    return st.one_of(
        st.integers(-(2**40), 2**40), _floats(), st.booleans(), st.none(),
        st.sampled_from(("int64", "int32", "uint8", "float32", "bool")).flatmap(numpy_scalars),
    )


def _json_name(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(key.item() if isinstance(key, np.generic) else key)


def _nonstr_dicts(children: SearchStrategy[Any]) -> SearchStrategy[dict]:
    # At least one key that is not a str, so the dict is stored under the "dict" tag;
    # no two keys with the same JSON name (None and "null", two NaNs), which JSON
    # cannot keep apart.
    return st.builds(
        lambda other, named: {**named, **other},
        st.dictionaries(_plain_keys(), children, min_size=1, max_size=3),
        st.dictionaries(_KEYS, children, max_size=2),
    ).filter(lambda d: len({_json_name(k) for k in d}) == len(d))


def _containers(children: SearchStrategy[Any]) -> SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_KEYS, children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.integers(-5, 2**40), children, min_size=1, max_size=3),
        _sets(set),
        _sets(frozenset),
    )


@_memo
def _metadata_values() -> SearchStrategy[Any]:
    return st.recursive(_scalars(), _containers, max_leaves=12)


@_memo
def metadata() -> SearchStrategy[dict[str, Any]]:
    """Metadata dicts as results carry them, with every value kind qserial keeps.

    Nested dicts, lists and tuples of ``str``, big and small ``int``, ``float``
    (NaN, infinities, ``-0.0``), ``bool``, ``None``, ``complex``, naive and aware
    datetimes, dates, numpy scalars, ``bytes``, sets and dicts with int keys.
    """
    return st.dictionaries(_KEYS, _metadata_values(), max_size=5)


_PAULI_PHASES = st.sampled_from(("", "-", "i", "-i"))


@_memo
def _pauli_labels(num_qubits: int, min_size: int = 1) -> SearchStrategy[list[str]]:
    label = st.builds(
        lambda phase, body: phase + body,
        _PAULI_PHASES,
        st.text(alphabet="IXYZ", min_size=num_qubits, max_size=num_qubits),
    )
    return st.lists(label, min_size=min_size, max_size=4)
