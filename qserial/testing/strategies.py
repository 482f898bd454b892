"""Hypothesis strategies for every value qserial stores.

Use them to prove that a format, or a type pack, round-trips what users store::

    from hypothesis import given
    from qserial.testing import assert_equal
    from qserial.testing.strategies import for_tag, primitive_results

    @given(primitive_results())
    def test_round_trip(result):
        assert_equal(qserial.loads(qserial.dumps(result, format="msgpack")), result)

:func:`for_tag` gives a strategy for every registered type tag and for the plain
kinds a tree holds (:data:`LEAF_KINDS`). Type packs add strategies for their own
tags with :func:`register_strategy`; :func:`missing_strategies` lists registered
tags that have none, so a test can fail when a type is added without one.

Examples stay small (arrays of at most a few hundred elements) so that hundreds of
them run in seconds. Qiskit and qiskit-ibm-runtime are imported only when a strategy
that builds their objects is first asked for.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from ..registry import REGISTRY, TypeRegistry
from ._values import (
    _KEYS,
    NUMERIC_DTYPES,
    _complex,
    _floats,
    _ints,
    _memo,
    _metadata_values,
    _nonstr_dicts,
    _pauli_labels,
    _sets,
    arrays,
    datetimes,
    metadata,
    numpy_scalars,
)

__all__ = [
    "LEAF_KINDS",
    "NUMERIC_DTYPES",
    "for_tag",
    "register_strategy",
    "missing_strategies",
    "registered_tags",
    "strategy_names",
    "arrays",
    "numpy_scalars",
    "datetimes",
    "metadata",
    "bit_arrays",
    "data_bins",
    "pub_results",
    "spans",
    "execution_spans",
    "circuits",
    "pauli_lists",
    "pauli_lindblad_errors",
    "layer_errors",
    "noise_learner_results",
    "primitive_results",
    "sampler_results",
    "estimator_results",
    "values",
]

#: Plain kinds a tree holds without a tag; :func:`for_tag` accepts them too.
#: ``"map"`` is a dict with ``str`` keys (a dict with other keys is the ``"dict"`` tag).
LEAF_KINDS = ("None", "bool", "int", "float", "str", "bytes", "list", "map", "ndarray")




# -- Qiskit containers -------------------------------------------------------------

_SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)
_RESERVED_FIELDS = frozenset({"keys", "values", "items", "shape", "ndim", "size"})
_FIELD_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,9}", fullmatch=True).filter(
    lambda n: n not in _RESERVED_FIELDS
)


def _random_bytes(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    fill = draw(st.sampled_from(("random", "random", "zeros", "ones")))
    if fill == "zeros":
        return np.zeros(shape, np.uint8)
    if fill == "ones":
        return np.full(shape, 0xFF, np.uint8)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


@_memo
@st.composite
def bit_arrays(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    *,
    num_bits: int | None = None,
    num_shots: int | None = None,
    padding: str = "random",
) -> Any:
    """Qiskit ``BitArray`` objects.

    Parameters
    ----------
    shape
        The parameter shape (``BitArray.shape``); default: 0 to 2 small dimensions.
    num_bits
        Bits per shot; default 0 to 40, so most are not a multiple of 8.
    num_shots
        Shots per parameter set; default 0 to 16.
    padding
        ``"random"`` leaves the unused high bits of each shot's first byte random
        (a format must keep them); ``"zero"`` clears them, as samplers do.
    """
    from qiskit.primitives.containers import BitArray

    shape = draw(_SHAPES) if shape is None else tuple(shape)
    num_bits = draw(st.integers(0, 40)) if num_bits is None else num_bits
    num_shots = draw(st.integers(0, 16)) if num_shots is None else num_shots
    nbytes = (num_bits + 7) // 8
    array = _random_bytes(draw, (*shape, num_shots, nbytes))
    if padding == "zero" and nbytes and num_bits % 8:
        array[..., 0] &= (1 << (num_bits % 8)) - 1
    return BitArray(array, num_bits)


@_memo
@st.composite
def data_bins(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    *,
    fields: SearchStrategy[list[str]] | None = None,
) -> Any:
    """Qiskit ``DataBin`` objects of any shape holding BitArrays and arrays (or nothing).

    Parameters
    ----------
    shape
        The bin's shape; default: 0 to 2 small dimensions.
    fields
        Strategy for the list of field names; default: 0 to 3 distinct names.
    """
    from qiskit.primitives.containers import DataBin

    shape = draw(_SHAPES) if shape is None else tuple(shape)
    names = draw(fields if fields is not None else st.lists(_FIELD_NAMES, max_size=3, unique=True))
    values = {}
    for name in names:
        if draw(st.booleans()):
            values[name] = draw(bit_arrays(shape))
        else:
            extra = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
            values[name] = draw(arrays(shape=shape + extra))
    return DataBin(shape=shape, **values)


@_memo
def pub_results(kind: str | None = None) -> SearchStrategy[Any]:
    """``PubResult``, ``SamplerPubResult`` or ``EstimatorPubResult`` of any data bin.

    Parameters
    ----------
    kind
        One of those three class names; default: any of them.
    """
    from qiskit.primitives.containers import PubResult, SamplerPubResult
    from qiskit_ibm_runtime.results import EstimatorPubResult

    classes = {"PubResult": PubResult, "SamplerPubResult": SamplerPubResult,
               "EstimatorPubResult": EstimatorPubResult}
    chosen = st.sampled_from(list(classes.values())) if kind is None else st.just(classes[kind])
    return st.builds(lambda cls, data, md: cls(data, md), chosen, data_bins(), metadata())


# -- execution spans ---------------------------------------------------------------

_SLICE_ENDS = st.one_of(st.none(), st.integers(0, 64))
_SLICES = st.builds(slice, _SLICE_ENDS, _SLICE_ENDS)
_SPAN_SHAPES = st.lists(st.integers(0, 8), min_size=1, max_size=3).map(tuple)
_PUB_INDICES = st.integers(0, 12)
_SPAN_TIMES = datetimes()
_SPAN_KINDS = ("ExecutionSpan", "DoubleSliceSpan", "TwirledSliceSpan", "TwirledSliceSpanV2")


@_memo
def _slice_entry(kind: str) -> SearchStrategy[tuple]:
    if kind == "ExecutionSpan":
        return st.tuples(_SPAN_SHAPES, _SLICES)
    if kind == "DoubleSliceSpan":
        return st.tuples(_SPAN_SHAPES, _SLICES, _SLICES)
    if kind == "TwirledSliceSpan":
        return st.tuples(_SPAN_SHAPES, st.booleans(), _SLICES, _SLICES)
    return st.tuples(_SPAN_SHAPES, st.booleans(), _SLICES, _SLICES, st.integers(0, 10**6))


@_memo
def spans(kind: str | None = None) -> SearchStrategy[Any]:
    """Single execution spans: ``SliceSpan`` (tag ``ExecutionSpan``), ``DoubleSliceSpan``,
    ``TwirledSliceSpan`` or ``TwirledSliceSpanV2``, with any start/stop and slices."""
    from qiskit_ibm_runtime.execution_span import (
        DoubleSliceSpan,
        SliceSpan,
        TwirledSliceSpan,
        TwirledSliceSpanV2,
    )

    classes = {"ExecutionSpan": SliceSpan, "DoubleSliceSpan": DoubleSliceSpan,
               "TwirledSliceSpan": TwirledSliceSpan, "TwirledSliceSpanV2": TwirledSliceSpanV2}
    kinds = _SPAN_KINDS if kind is None else (kind,)
    return st.one_of(*(
        st.builds(classes[k], _SPAN_TIMES, _SPAN_TIMES,
                  st.dictionaries(_PUB_INDICES, _slice_entry(k), max_size=3))
        for k in kinds
    ))


@_memo
def execution_spans() -> SearchStrategy[Any]:
    """``ExecutionSpans`` holding any mix of span kinds (possibly none)."""
    from qiskit_ibm_runtime.execution_span import ExecutionSpans

    return st.lists(spans(), max_size=4).map(ExecutionSpans)


# -- circuits and noise-learner results ---------------------------------------------



@_memo
def pauli_lists(num_qubits: int | None = None) -> SearchStrategy[Any]:
    """Qiskit ``PauliList`` objects (phases included)."""
    from qiskit.quantum_info import PauliList

    n = st.integers(1, 5) if num_qubits is None else st.just(num_qubits)
    return n.flatmap(_pauli_labels).map(PauliList)


@_memo
@st.composite
def circuits(draw: st.DrawFn, num_qubits: int | None = None) -> Any:
    """Small Qiskit circuits: common gates, parameters, measurements and metadata."""
    from qiskit.circuit import Parameter, QuantumCircuit

    n = draw(st.integers(0, 4)) if num_qubits is None else num_qubits
    num_clbits = draw(st.integers(0, n))
    name = draw(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True))
    circuit = QuantumCircuit(n, num_clbits, name=name,
                             metadata=draw(st.dictionaries(_KEYS, st.integers(), max_size=2)))
    angles = st.one_of(st.floats(-10, 10), st.just(Parameter("theta")))
    for _ in range(draw(st.integers(0, 6)) if n else 0):
        gate = draw(st.sampled_from(("h", "x", "sx", "rz", "cx", "measure")))
        q = draw(st.integers(0, n - 1))
        if gate == "rz":
            circuit.rz(draw(angles), q)
        elif gate == "cx" and n > 1:
            circuit.cx(q, (q + 1) % n)
        elif gate == "measure" and num_clbits:
            circuit.measure(q, draw(st.integers(0, num_clbits - 1)))
        elif gate in ("h", "x", "sx"):
            getattr(circuit, gate)(q)
    return circuit


@_memo
def pauli_lindblad_errors(num_qubits: int | None = None) -> SearchStrategy[Any]:
    """``PauliLindbladError`` with matching generators and rates."""
    from qiskit.quantum_info import PauliList
    from qiskit_ibm_runtime.results import PauliLindbladError

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        n = draw(st.integers(1, 4)) if num_qubits is None else num_qubits
        labels = draw(_pauli_labels(n))
        rates = draw(hnp.arrays(np.float64, len(labels)))
        return PauliLindbladError(PauliList(labels), rates)

    return build()


@_memo
@st.composite
def layer_errors(draw: st.DrawFn) -> Any:
    """``LayerError``: a circuit, its qubit labels and an error channel (or ``None``)."""
    from qiskit_ibm_runtime.results import LayerError

    n = draw(st.integers(1, 3))
    qubits = draw(st.lists(st.integers(0, 126), min_size=n, max_size=n, unique=True))
    error = draw(st.none() | pauli_lindblad_errors(n))
    return LayerError(draw(circuits(n)), qubits, error)


@_memo
def noise_learner_results() -> SearchStrategy[Any]:
    """``NoiseLearnerResult`` holding a few layer errors and metadata."""
    from qiskit_ibm_runtime.results import NoiseLearnerResult

    return st.builds(NoiseLearnerResult, st.lists(layer_errors(), max_size=2), metadata())


# -- whole results -----------------------------------------------------------------

_TIME0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@_memo
@st.composite
def _sampler_pub(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    from qiskit.primitives.containers import DataBin, SamplerPubResult

    shots = draw(st.integers(1, 32))
    regs = draw(st.lists(_FIELD_NAMES, min_size=1, max_size=2, unique=True))
    data = {r: draw(bit_arrays(shape, num_bits=draw(st.integers(1, 12)), num_shots=shots,
                               padding="zero")) for r in regs}
    md = {"circuit_metadata": draw(st.dictionaries(_KEYS, st.integers(), max_size=2))}
    return SamplerPubResult(DataBin(shape=shape, **data), md)


@_memo
@st.composite
def _estimator_pub(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    from qiskit.primitives.containers import DataBin, PubResult
    from qiskit_ibm_runtime.results import EstimatorPubResult

    cls = draw(st.sampled_from((PubResult, EstimatorPubResult)))
    values = hnp.arrays(np.float64, shape, elements=st.floats(-1, 1))
    stds = hnp.arrays(np.float64, shape, elements=st.floats(0, 1) | st.just(math.nan))
    data = {"evs": draw(values), "stds": draw(stds)}
    if draw(st.booleans()):
        data["ensemble_standard_error"] = draw(stds)
    md = {"target_precision": draw(st.floats(0, 1)), "shots": draw(st.integers(1, 10**5)),
          "circuit_metadata": {}}
    if draw(st.booleans()):
        md["num_randomizations"] = draw(st.integers(1, 64))
    return cls(DataBin(shape=shape, **data), md)


def _spans_for(draw: st.DrawFn, pubs: list[Any]) -> Any:
    # Spans that point at the pubs actually present, as a service result's do.
    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans, SliceSpan

    out = []
    for i, pub in enumerate(pubs):
        size = math.prod(pub.data.shape)
        start = _TIME0 + dt.timedelta(seconds=draw(st.integers(0, 10**5)))
        stop = start + dt.timedelta(microseconds=draw(st.integers(0, 10**9)))
        if draw(st.booleans()):
            out.append(SliceSpan(start, stop, {i: (pub.data.shape or (1,), slice(0, size))}))
        else:
            shots = next(iter(pub.data.values())).num_shots if len(pub.data) else 0
            out.append(DoubleSliceSpan(
                start, stop, {i: ((*pub.data.shape, shots), slice(0, size), slice(0, shots))}
            ))
    return ExecutionSpans(out)


@_memo
@st.composite
def sampler_results(draw: st.DrawFn) -> Any:
    """Realistic ``SamplerV2`` results: pubs of BitArrays, spans in the metadata."""
    from qiskit.primitives.containers import PrimitiveResult

    shapes = st.sampled_from(((), (1,), (3,), (2, 2)))
    pubs = [draw(_sampler_pub(draw(shapes))) for _ in range(draw(st.integers(1, 4)))]
    md: dict[str, Any] = {"version": 2}
    if draw(st.booleans()):
        md["execution"] = {"execution_spans": _spans_for(draw, pubs)}
    return PrimitiveResult(pubs, md)


@_memo
@st.composite
def estimator_results(draw: st.DrawFn) -> Any:
    """Realistic ``EstimatorV2`` results: ``evs``/``stds`` arrays and their options."""
    from qiskit.primitives.containers import PrimitiveResult

    shapes = st.sampled_from(((), (2,), (3, 2)))
    pubs = [draw(_estimator_pub(draw(shapes))) for _ in range(draw(st.integers(1, 4)))]
    md = {
        "dynamical_decoupling": {"enable": draw(st.booleans()), "sequence_type": "XX"},
        "twirling": {"enable_gates": False, "enable_measure": True, "num_randomizations": "auto",
                     "shots_per_randomization": "auto", "strategy": "active-accum"},
        "resilience": {"measure_mitigation": True, "zne_mitigation": False},
        "version": 2,
    }
    return PrimitiveResult(pubs, md)


@_memo
@st.composite
def _mixed_results(draw: st.DrawFn) -> Any:
    from qiskit.primitives.containers import PrimitiveResult

    pubs = [draw(st.one_of(_sampler_pub(draw(_SHAPES)), _estimator_pub(draw(_SHAPES))))
            for _ in range(draw(st.integers(0, 4)))]
    return PrimitiveResult(pubs, draw(metadata()))


@_memo
def primitive_results(kind: str | None = None) -> SearchStrategy[Any]:
    """Whole ``PrimitiveResult`` objects as primitives return them.

    Parameters
    ----------
    kind
        ``"sampler"``, ``"estimator"`` or ``"mixed"`` (pubs of both kinds and
        arbitrary metadata); default: any of them.
    """
    kinds = {"sampler": sampler_results, "estimator": estimator_results,
             "mixed": _mixed_results}
    if kind is not None:
        return kinds[kind]()
    return st.one_of(*(k() for k in kinds.values()))


@_memo
@st.composite
def _any_primitive_result(draw: st.DrawFn) -> Any:
    from qiskit.primitives.containers import PrimitiveResult

    return PrimitiveResult(draw(st.lists(pub_results(), max_size=3)), draw(metadata()))


# -- the tag table -----------------------------------------------------------------

_Factory = Callable[[], SearchStrategy[Any]]
_FACTORIES: dict[str, _Factory] = {
    "None": st.none,
    "bool": st.booleans,
    "int": _ints,
    "float": _floats,
    "str": lambda: st.text(max_size=40),
    "bytes": lambda: st.binary(max_size=64),
    "list": lambda: st.lists(_metadata_values(), max_size=5),
    "map": metadata,
    "ndarray": arrays,
    "tuple": lambda: st.lists(_metadata_values(), max_size=5).map(tuple),
    "set": lambda: _sets(set),
    "frozenset": lambda: _sets(frozenset),
    "complex": _complex,
    "datetime": datetimes,
    "date": st.dates,
    "dict": lambda: _nonstr_dicts(_metadata_values()),
    "npscalar": numpy_scalars,
    "PrimitiveResult": lambda: st.one_of(_any_primitive_result(), primitive_results()),
    "PubResult": lambda: pub_results("PubResult"),
    "SamplerPubResult": lambda: pub_results("SamplerPubResult"),
    "EstimatorPubResult": lambda: pub_results("EstimatorPubResult"),
    "DataBin": data_bins,
    "BitArray": bit_arrays,
    "QuantumCircuit": circuits,
    "PauliList": pauli_lists,
    "ExecutionSpan": lambda: spans("ExecutionSpan"),
    "DoubleSliceSpan": lambda: spans("DoubleSliceSpan"),
    "TwirledSliceSpan": lambda: spans("TwirledSliceSpan"),
    "TwirledSliceSpanV2": lambda: spans("TwirledSliceSpanV2"),
    "ExecutionSpans": execution_spans,
    "NoiseLearnerResult": noise_learner_results,
    "LayerError": layer_errors,
    "PauliLindbladError": pauli_lindblad_errors,
}
_CACHE: dict[str, SearchStrategy[Any]] = {}
# Pubs, operators, gates, object arrays and the executor's results live in their own
# module, which shares the value strategies of ._values with this one.
from ._strategies_more import FACTORIES as _MORE  # noqa: E402

_FACTORIES.update(_MORE)


def register_strategy(
    tag: str, strategy: SearchStrategy[Any] | _Factory, *, replace: bool = False
) -> None:
    """Add the strategy for a registered tag (type packs call this for their types).

    Parameters
    ----------
    tag
        The tag given to :func:`qserial.register_type`.
    strategy
        A strategy, or a function without arguments returning one (called on first use,
        so heavy imports can wait).
    replace
        Allow replacing an existing strategy.
    """
    if tag in _FACTORIES and not replace:
        raise ValueError(f"a strategy for {tag!r} exists already; pass replace=True")
    if isinstance(strategy, SearchStrategy):
        _FACTORIES[tag] = lambda: strategy
    elif callable(strategy):
        _FACTORIES[tag] = strategy
    else:
        raise TypeError("strategy must be a hypothesis strategy or a function returning one")
    _CACHE.pop(tag, None)


def for_tag(tag: str) -> SearchStrategy[Any]:
    """Return the strategy of objects stored under ``tag`` (or of a :data:`LEAF_KINDS` kind).

    Raises
    ------
    KeyError
        If no strategy is registered for ``tag``.
    """
    try:
        return _CACHE[tag]
    except KeyError:
        pass
    entry = REGISTRY.for_tag(tag)
    if entry is not None and entry.tag != tag:  # an alias reads as its current tag
        tag = entry.tag
    try:
        factory = _FACTORIES[tag]
    except KeyError:
        raise KeyError(
            f"no strategy for {tag!r}; add one with "
            "qserial.testing.strategies.register_strategy"
        ) from None
    strategy = _CACHE[tag] = factory()
    return strategy


def registered_tags(registry: TypeRegistry = REGISTRY) -> list[str]:
    """Every registered tag after loading all providers and type packs (aliases excluded)."""
    registry.load_all()
    return sorted({entry.tag for entry in registry})


def missing_strategies(registry: TypeRegistry = REGISTRY) -> list[str]:
    """Registered tags (aliases excluded) that have no strategy, sorted."""
    return [tag for tag in registered_tags(registry) if tag not in _FACTORIES]


def strategy_names() -> list[str]:
    """Every name :func:`for_tag` accepts: registered tags with a strategy, and leaf kinds."""
    return [*LEAF_KINDS, *(t for t in registered_tags() if t in _FACTORIES)]


def values() -> SearchStrategy[Any]:
    """Anything qserial stores: plain values, containers, arrays and every registered type."""
    return st.one_of(*(for_tag(name) for name in strategy_names()))

