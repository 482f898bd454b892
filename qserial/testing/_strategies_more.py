"""Strategies for pubs, operators, gates, object arrays and the executor's results.

Split from :mod:`qserial.testing.strategies`, which looks them up by tag through
:func:`factories`; use them through :func:`~qserial.testing.strategies.for_tag`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from ._values import _memo, _pauli_labels, _scalars, datetimes, metadata

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
_FINITE = st.floats(-1e6, 1e6, allow_nan=False)
_SMALL_SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)


# -- numpy -----------------------------------------------------------------------------


@_memo
@st.composite
def object_arrays(draw: st.DrawFn) -> np.ndarray:
    """Object-dtype arrays (at least 1-d) of storable scalars and str-keyed dicts.

    No containers that nest like array axes (lists, tuples) and no 0-d arrays: the
    JSON format writes object arrays as ``tolist()``, as RuntimeEncoder does, and reads
    nested lists back as array axes.
    """
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3))
    item = st.one_of(_scalars(), st.dictionaries(st.text(max_size=4), _scalars(), max_size=2))
    items = draw(st.lists(item, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    arr = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        arr[i] = v
    return arr.reshape(shape)


# -- parameters and instructions ----------------------------------------------------------


@_memo
def parameters() -> SearchStrategy[Any]:
    """Qiskit ``Parameter`` objects (any name, a fresh uuid)."""
    from qiskit.circuit import Parameter

    return st.text(min_size=1, max_size=8).map(Parameter)


@_memo
def parameter_vector_elements() -> SearchStrategy[Any]:
    """Elements of ``ParameterVector`` objects."""
    from qiskit.circuit import ParameterVector

    return st.builds(lambda name, n, i: ParameterVector(name, n)[i % n],
                     _NAMES, st.integers(1, 5), st.integers(0, 4))


@_memo
@st.composite
def instructions(draw: st.DrawFn) -> Any:
    """Gates and other instructions: singletons, parametrised and with clbits."""
    from qiskit.circuit import Barrier, Measure, Parameter, Reset
    from qiskit.circuit.library import CXGate, HGate, PhaseGate, RZGate, U2Gate, XGate

    kind = draw(st.sampled_from(("cx", "h", "x", "phase", "u2", "rz", "measure", "reset",
                                 "barrier")))
    if kind == "phase":
        return PhaseGate(draw(_FINITE))
    if kind == "u2":
        return U2Gate(draw(_FINITE), draw(_FINITE))
    if kind == "rz":
        return RZGate(Parameter(draw(_NAMES)))
    if kind == "barrier":
        return Barrier(draw(st.integers(1, 3)))
    return {"cx": CXGate, "h": HGate, "x": XGate, "measure": Measure, "reset": Reset}[kind]()


@_memo
@st.composite
def coupling_maps(draw: st.DrawFn) -> Any:
    """``CouplingMap`` objects: qubits (some without edges), directed edges, a description."""
    from qiskit.transpiler import CouplingMap

    n = draw(st.integers(0, 5))
    cmap = CouplingMap(description=draw(st.none() | _NAMES))
    for q in range(n):
        cmap.add_physical_qubit(q)
    if n > 1:
        pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
            lambda e: e[0] != e[1])
        for edge in draw(st.lists(pairs, unique=True, max_size=6)):
            cmap.add_edge(*edge)
    return cmap


@_memo
def parameter_views() -> SearchStrategy[Any]:
    """``ParameterView`` objects, as ``QuantumCircuit.parameters`` returns them."""
    from qiskit.circuit.parametertable import ParameterView

    return st.lists(parameters(), max_size=3).map(ParameterView)


# -- operators ----------------------------------------------------------------------------


@_memo
@st.composite
def operators(draw: st.DrawFn, kind: str = "Operator") -> Any:
    """``Operator`` or a quantum channel (``Choi``, ``Kraus``, ...) of a 1- or 2-qubit matrix."""
    import qiskit.quantum_info as qi

    dim = draw(st.sampled_from((2, 4)))
    parts = hnp.arrays(np.float64, (dim, dim), elements=st.floats(-2, 2))
    op = qi.Operator(draw(parts) + 1j * draw(parts))
    return op if kind == "Operator" else getattr(qi, kind)(op)


@_memo
def paulis() -> SearchStrategy[Any]:
    """Qiskit ``Pauli`` objects, phases included."""
    from qiskit.quantum_info import Pauli

    return st.integers(1, 5).flatmap(lambda n: _pauli_labels(n)).map(lambda ls: Pauli(ls[0]))


@_memo
@st.composite
def sparse_pauli_ops(draw: st.DrawFn) -> Any:
    """``SparsePauliOp`` with complex coefficients."""
    from qiskit.quantum_info import PauliList, SparsePauliOp

    labels = [label.lstrip("-i") for label in draw(st.integers(1, 4).flatmap(_pauli_labels))]
    coeffs = draw(hnp.arrays(np.complex128, len(labels), elements=st.complex_numbers(
        max_magnitude=1e6, allow_nan=False)))
    return SparsePauliOp(PauliList(labels), coeffs)


@st.composite
def _sparse_terms(draw: st.DrawFn, num_qubits: int, rated: bool) -> list[tuple]:
    terms = []
    for _ in range(draw(st.integers(0, 3))):
        qubits = draw(st.lists(st.integers(0, num_qubits - 1), unique=True, max_size=num_qubits))
        label = "".join(draw(st.lists(st.sampled_from("XYZ"), min_size=len(qubits),
                                      max_size=len(qubits))))
        terms.append((label, qubits, draw(_FINITE)) if rated else (label, qubits))
    return terms


@_memo
def pauli_lindblad_maps() -> SearchStrategy[Any]:
    """``PauliLindbladMap`` objects of up to 4 qubits."""
    from qiskit.quantum_info import PauliLindbladMap

    return st.integers(1, 4).flatmap(lambda n: _sparse_terms(n, True).map(
        lambda terms: PauliLindbladMap.from_sparse_list(terms, num_qubits=n)))


@_memo
def qubit_sparse_pauli_lists() -> SearchStrategy[Any]:
    """``QubitSparsePauliList`` objects of up to 4 qubits."""
    from qiskit.quantum_info import QubitSparsePauliList

    return st.integers(1, 4).flatmap(lambda n: _sparse_terms(n, False).map(
        lambda terms: QubitSparsePauliList.from_sparse_list(terms, num_qubits=n)))


@st.composite
def _observable(draw: st.DrawFn, num_qubits: int) -> dict:
    labels = st.text(alphabet="IXYZ01+-rl", min_size=num_qubits, max_size=num_qubits)
    return draw(st.dictionaries(labels, _FINITE.filter(bool), min_size=1, max_size=3))


@_memo
@st.composite
def observables_arrays(draw: st.DrawFn, num_qubits: int | None = None,
                       shape: tuple[int, ...] | None = None) -> Any:
    """``ObservablesArray`` of any small shape (at least one element)."""
    from qiskit.primitives.containers.observables_array import ObservablesArray

    n = draw(st.integers(1, 3)) if num_qubits is None else num_qubits
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)) \
        if shape is None else shape
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        arr[idx] = draw(_observable(n))
    try:
        built = ObservablesArray(arr)
    except ValueError:  # terms that cancel out: qiskit refuses an empty observable
        assume(False)
    # Built once more from its own list form: that is the array's canonical content.
    return ObservablesArray(built.tolist())


@_memo
@st.composite
def bindings_arrays(draw: st.DrawFn, names: tuple[str, ...] | None = None,
                    shape: tuple[int, ...] | None = None) -> Any:
    """``BindingsArray`` of parameter names grouped into keys, with float values."""
    from qiskit.primitives.containers.bindings_array import BindingsArray

    shape = draw(_SMALL_SHAPES) if shape is None else shape
    names = list(draw(st.lists(_NAMES, unique=True, max_size=4)) if names is None else names)
    data = {}
    while names:
        size = draw(st.integers(1, len(names)))
        key, names = tuple(names[:size]), names[size:]
        data[key] = draw(hnp.arrays(np.float64, (*shape, size), elements=_FINITE))
    return BindingsArray(data, shape=shape)


@st.composite
def _parametrised_circuit(draw: st.DrawFn, measure: bool) -> Any:
    from qiskit.circuit import Parameter, QuantumCircuit

    n = draw(st.integers(1, 3))
    names = draw(st.lists(_NAMES, unique=True, max_size=3))
    circuit = QuantumCircuit(n, name=draw(_NAMES))
    for i, name in enumerate(names):
        circuit.rx(Parameter(name), i % n)
    if measure:
        circuit.measure_all()
    return circuit


@_memo
@st.composite
def estimator_pubs(draw: st.DrawFn) -> Any:
    """``EstimatorPub``: a parametrised circuit, observables, bindings and a precision."""
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    circuit = draw(_parametrised_circuit(False))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    names = tuple(p.name for p in circuit.parameters)
    return EstimatorPub(circuit, draw(observables_arrays(circuit.num_qubits, shape)),
                        draw(bindings_arrays(names, shape)),
                        draw(st.none() | st.floats(1e-4, 1)))


@_memo
@st.composite
def sampler_pubs(draw: st.DrawFn) -> Any:
    """``SamplerPub``: a parametrised, measured circuit, bindings and shots."""
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    circuit = draw(_parametrised_circuit(True))
    names = tuple(p.name for p in circuit.parameters)
    return SamplerPub(circuit, draw(bindings_arrays(names)),
                      draw(st.none() | st.integers(1, 10**6)))


@_memo
@st.composite
def results(draw: st.DrawFn) -> Any:
    """``qiskit.result.Result`` with counts and memory of a few experiments."""
    from qiskit.result import Result

    experiments = [{
        "shots": draw(st.integers(1, 1000)), "success": draw(st.booleans()),
        "data": {"counts": draw(st.dictionaries(st.sampled_from(("0x0", "0x1", "0x3")),
                                                st.integers(0, 100), max_size=3))},
        "header": {"name": draw(_NAMES), "memory_slots": 2},
    } for _ in range(draw(st.integers(0, 2)))]
    return Result.from_dict({"backend_name": draw(_NAMES), "backend_version": "1.0",
                             "job_id": draw(_NAMES), "success": draw(st.booleans()),
                             "results": experiments})


@_memo
@st.composite
def noise_models(draw: st.DrawFn) -> Any:
    """qiskit-aer ``NoiseModel`` objects in the form ``NoiseModel.from_dict`` returns.

    qiskit-aer's ``from_dict`` rebuilds the errors of standard gates as unitaries, so a
    model only comes back identical from a store once it has been through two such
    round trips; the drawn models have.
    """
    from qiskit_aer.noise import NoiseModel, pauli_error

    # Dyadic probabilities: qiskit-aer recomputes them on each from_dict, exactly only so.
    chance = st.integers(1, 63).map(lambda k: k / 64)
    model = NoiseModel()
    for gate in draw(st.lists(st.sampled_from(("x", "sx", "rz")), unique=True, max_size=2)):
        p = draw(chance)
        model.add_all_qubit_quantum_error(pauli_error([("X", p), ("I", 1 - p)]), gate)
    if draw(st.booleans()):
        p = draw(chance)
        model.add_quantum_error(pauli_error([("ZZ", p), ("II", 1 - p)]), "cx",
                                draw(st.lists(st.integers(0, 4), min_size=2, max_size=2,
                                              unique=True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(2):
            model = NoiseModel.from_dict(model.to_dict())
    return model


# -- the executor's results -----------------------------------------------------------------


@_memo
def chunk_parts() -> SearchStrategy[Any]:
    """``ChunkPart``: an item index and a size."""
    from qiskit_ibm_runtime.results import ChunkPart

    return st.builds(ChunkPart, st.integers(0, 100), st.integers(0, 10**6))


@_memo
def chunk_spans() -> SearchStrategy[Any]:
    """``ChunkSpan``: start, stop and the parts executed."""
    from qiskit_ibm_runtime.results import ChunkSpan

    return st.builds(ChunkSpan, datetimes(), datetimes(), st.lists(chunk_parts(), max_size=3))


@_memo
def executor_metadata() -> SearchStrategy[Any]:
    """The executor's ``Metadata`` (``result.metadata["executor"]``)."""
    from qiskit_ibm_runtime.results import Metadata

    return st.builds(Metadata, st.lists(chunk_spans(), max_size=3))


@_memo
def item_metadata() -> SearchStrategy[Any]:
    """``ItemMetadata`` with or without scheduler timing and stretch values."""
    from qiskit_ibm_runtime.results import ItemMetadata

    return st.builds(ItemMetadata, st.none() | scheduler_timings(),
                     st.none() | st.lists(stretch_values(), max_size=2))


@_memo
def scheduler_timings() -> SearchStrategy[Any]:
    """``SchedulerTiming``: a timing text and a duration."""
    from qiskit_ibm_runtime.results import SchedulerTiming

    return st.builds(SchedulerTiming, st.text(max_size=20), st.integers(0, 10**9))


@_memo
def stretch_values() -> SearchStrategy[Any]:
    """``StretchValues`` with (time, duration) pairs."""
    from qiskit_ibm_runtime.results import StretchValues

    pairs = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=3)
    return st.builds(StretchValues, _NAMES, st.integers(0, 10**6), st.integers(0, 10**3), pairs)


_RESULT_ARRAYS = st.dictionaries(_NAMES, hnp.arrays(
    st.sampled_from((np.bool_, np.float64, np.int64, np.uint8)), _SMALL_SHAPES), max_size=3)


@_memo
def quantum_program_item_results(base: bool = False) -> SearchStrategy[Any]:
    """``QuantumProgramItemResult`` (runtime's, or samplomatic's base class)."""
    if base:
        from samplomatic.quantum_program import QuantumProgramItemResult as Base

        return st.builds(Base, _RESULT_ARRAYS)
    from qiskit_ibm_runtime.results import QuantumProgramItemResult

    return st.builds(QuantumProgramItemResult, _RESULT_ARRAYS,
                     item_metadata() | metadata().filter(bool))


_PASSTHROUGH = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 100) | _FINITE | st.text(max_size=5)
    | hnp.arrays(np.float64, _SMALL_SHAPES),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_NAMES, kids, max_size=3),
    max_leaves=6)


@_memo
@st.composite
def quantum_program_results(draw: st.DrawFn, base: bool = False) -> Any:
    """``QuantumProgramResult`` (runtime's, or samplomatic's base class)."""
    items = draw(st.lists(quantum_program_item_results(base), max_size=3))
    if base:
        from samplomatic.quantum_program import QuantumProgramResult as Base

        return Base(items, draw(_PASSTHROUGH))
    from qiskit_ibm_runtime.results import QuantumProgramResult

    result = QuantumProgramResult(items, draw(executor_metadata()), draw(_PASSTHROUGH))
    result._semantic_role = draw(st.sampled_from((None, "sampler-v2", "estimator-v2")))
    return result


@_memo
@st.composite
def noise_learner_v3_results(draw: st.DrawFn) -> Any:
    """``NoiseLearnerV3Result``: generators, rates and their standard deviations."""
    from qiskit.quantum_info import QubitSparsePauliList
    from qiskit_ibm_runtime.results import NoiseLearnerV3Result

    n = draw(st.integers(1, 3))
    size = draw(st.integers(1, 3))
    gens = [QubitSparsePauliList.from_sparse_list(draw(_sparse_terms(n, False)), num_qubits=n)
            for _ in range(size)]
    rates = draw(st.lists(_FINITE, min_size=size, max_size=size))
    return NoiseLearnerV3Result.from_generators(
        gens, rates, draw(st.none() | st.lists(_FINITE, min_size=size, max_size=size)),
        draw(st.dictionaries(_NAMES, st.integers(), max_size=2)))


@_memo
def chunk_timings() -> SearchStrategy[Any]:
    """``ChunkTiming``: a collection of chunk spans."""
    from qiskit_ibm_runtime.results import ChunkTiming

    return st.lists(chunk_spans(), max_size=3).map(ChunkTiming)


@_memo
def calibrator_results() -> SearchStrategy[Any]:
    """``CalibratorResult``: a start and a stop time."""
    from qiskit_ibm_runtime.results import CalibratorResult

    return st.builds(CalibratorResult, datetimes(), datetimes())


@_memo
def noise_learner_v3_results_lists() -> SearchStrategy[Any]:
    """``NoiseLearnerV3Results`` holding a few results and metadata (or none)."""
    from qiskit_ibm_runtime.results import NoiseLearnerV3Results

    return st.builds(NoiseLearnerV3Results, st.lists(noise_learner_v3_results(), max_size=2),
                     st.none() | st.dictionaries(_NAMES, st.integers(), min_size=1, max_size=2))


_Q, _R = "qserial.qiskit.", "qserial.runtime."
#: Strategy factories of the tags this module covers.
FACTORIES: dict[str, Callable[[], SearchStrategy[Any]]] = {
    "objarray": object_arrays,
    "Parameter": parameters,
    _Q + "ParameterVectorElement": parameter_vector_elements,
    "Instruction": instructions,
    "Pauli": paulis,
    **{kind: (lambda kind=kind: operators(kind)) for kind in (
        "Operator", "Chi", "Choi", "Kraus", "PTM", "Stinespring", "SuperOp")},
    "SparsePauliOp": sparse_pauli_ops,
    "PauliLindbladMap": pauli_lindblad_maps,
    _Q + "QubitSparsePauliList": qubit_sparse_pauli_lists,
    "ObservablesArray": observables_arrays,
    "BindingsArray": bindings_arrays,
    _Q + "EstimatorPub": estimator_pubs,
    _Q + "SamplerPub": sampler_pubs,
    _Q + "CouplingMap": coupling_maps,
    _Q + "ParameterView": parameter_views,
    "Result": results,
    "NoiseModel": noise_models,
    _R + "ChunkPart": chunk_parts,
    _R + "ChunkSpan": chunk_spans,
    _R + "ChunkTiming": chunk_timings,
    _R + "SchedulerTiming": scheduler_timings,
    _R + "StretchValues": stretch_values,
    _R + "ItemMetadata": item_metadata,
    _R + "Metadata": executor_metadata,
    _R + "QuantumProgramItemResult": quantum_program_item_results,
    _R + "QuantumProgramResult": quantum_program_results,
    "qserial.samplomatic.QuantumProgramItemResult": lambda: quantum_program_item_results(True),
    "qserial.samplomatic.QuantumProgramResult": lambda: quantum_program_results(True),
    _R + "CalibratorResult": calibrator_results,
    _R + "NoiseLearnerV3Result": noise_learner_v3_results,
    _R + "NoiseLearnerV3Results": noise_learner_v3_results_lists,
}
