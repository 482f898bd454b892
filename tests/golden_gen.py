"""The golden corpus: the values, and the script that writes their files once.

``tests/data/golden/<format>/<name><suffix>`` holds the value built by ``build(name)``
written in that format by the qserial (and plugin) of the day it was generated. The
files are committed and never rewritten: ``tests/test_golden.py`` decodes every one of
them with today's qserial and compares it with ``build(name)``, so a change that stops
any released file from loading, or makes it load differently, fails the tests.

There is one value per registered type tag (named after the tag), plus plain values
and a realistic sampler and estimator result. Values are built from fixed data (no
simulator, no random generator whose stream may change), so ``build(name)`` gives the
same value in every later version. Once files exist for a name, its value must never
change: add a new name instead.

Run from the repository root, after adding a type or a format::

    python tests/golden_gen.py            # writes the files that are missing, and only those
    python tests/golden_gen.py --check    # lists what is missing; exit status 1 if anything

Formats that are no longer written keep their files under ``<format>/_inward/``
(see tests/data/golden/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"

#: Formats of this repository that get golden files (the jsongz plugin under
#: docs/examples is an example of a plugin, not a format qserial publishes).
GOLDEN_FORMATS = ("json", "msgpack", "hdf5", "parquet")
#: Formats that store values as RuntimeEncoder's JSON does: compared with exact=False.
LOSSY_FORMATS = frozenset({"json"})

_UTC = dt.timezone.utc
_T0 = dt.datetime(2024, 6, 14, 11, 44, 31, 680425, tzinfo=_UTC)


def _bytes(label: str, n: int) -> np.ndarray:
    """``n`` fixed pseudo-random bytes named by ``label`` (SHAKE-256: the same forever)."""
    return np.frombuffer(hashlib.shake_256(label.encode()).digest(n), np.uint8).copy()


def _unit(label: str, shape: tuple[int, ...]) -> np.ndarray:
    """Fixed floats in [0, 1) of ``shape``, exact in every version."""
    n = int(np.prod(shape, dtype=np.int64))
    words = _bytes(label, 4 * n).view("<u4").astype(np.float64)
    return (words / 2.0**32).reshape(shape)


def _bits(label: str, shape: tuple[int, ...], num_bits: int) -> Any:
    """A BitArray of ``shape + (shots,)`` with fixed bits; padding bits are zero."""
    from qiskit.primitives.containers import BitArray

    nbytes = (num_bits + 7) // 8
    array = _bytes(label, int(np.prod(shape, dtype=np.int64)) * nbytes).reshape(*shape, nbytes)
    array[..., 0] &= 0xFF >> (8 * nbytes - num_bits)
    return BitArray(array, num_bits)


# -- one value per registered tag -------------------------------------------------------------


def _tuple() -> Any:
    return (1, "two", 3.0, None, (4, (5,)), ())


def _set() -> Any:
    return {3, 1, 2}


def _frozenset() -> Any:
    return frozenset({"b", "a"})


def _complex() -> Any:
    return [complex(1.5, -0.25), complex(0.0, -0.0), complex(float("inf"), 2.0)]


def _datetime() -> Any:
    return [dt.datetime(2024, 6, 14, 11, 44, 31, 680425), _T0,
            dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))]


def _date() -> Any:
    return dt.date(2024, 6, 14)


def _dict() -> Any:
    return {1: "one", -2: "minus two", 2.5: "two and a half", None: "none"}


def _npscalar() -> Any:
    return {"bool_": np.bool_(True), "int8": np.int8(-8), "uint64": np.uint64(2**64 - 1),
            "float16": np.float16(0.1), "float32": np.float32(1 / 3),
            "float64": np.float64(-2.5), "complex64": np.complex64(1.5 - 0.25j)}


def _data_bin() -> Any:
    from qiskit.primitives.containers import DataBin

    return DataBin(meas=_bits("DataBin.meas", (2, 16), 13), evs=_unit("DataBin.evs", (2,)),
                   shape=(2,))


def _bit_array() -> Any:
    return _bits("BitArray", (3, 20), 10)


def _pub_result() -> Any:
    from qiskit.primitives.containers import DataBin, PubResult

    data = DataBin(evs=_unit("PubResult.evs", (2, 3)), stds=_unit("PubResult.stds", (2, 3)) / 10,
                   shape=(2, 3))
    return PubResult(data, {"target_precision": 0.01, "circuit_metadata": {"name": "ansatz"}})


def _sampler_pub_result() -> Any:
    from qiskit.primitives.containers import DataBin, SamplerPubResult

    data = DataBin(meas=_bits("SamplerPubResult.meas", (64,), 5))
    return SamplerPubResult(data, {"shots": 64, "circuit_metadata": {}})


def _primitive_result() -> Any:
    from qiskit.primitives.containers import PrimitiveResult

    return PrimitiveResult([_sampler_pub_result(), _pub_result()], metadata={"version": 2})


def _quantum_circuit() -> Any:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(3, 3, name="golden")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.rz(0.25, 2)
    circuit.sx(1)
    circuit.barrier()
    circuit.measure([0, 1, 2], [0, 1, 2])
    return circuit


def _pauli_list() -> Any:
    from qiskit.quantum_info import PauliList

    return PauliList(["IXYZ", "-ZZII", "iYYXI"])


def _estimator_pub_result() -> Any:
    from qiskit.primitives.containers import DataBin
    from qiskit_ibm_runtime.results import EstimatorPubResult

    shape = (3,)
    data = DataBin(evs=_unit("EstimatorPubResult.evs", shape) * 2 - 1,
                   stds=_unit("EstimatorPubResult.stds", shape) / 20,
                   ensemble_standard_error=_unit("EstimatorPubResult.ese", shape) / 20,
                   shape=shape)
    return EstimatorPubResult(data, {"target_precision": 0.015625, "shots": 4096,
                                     "num_randomizations": 32, "circuit_metadata": {}})


def _times(n: int) -> list[dt.datetime]:
    return [_T0 + dt.timedelta(seconds=17 * i) for i in range(n)]


def _slice_span() -> Any:
    from qiskit_ibm_runtime.execution_span import SliceSpan

    t = _times(2)
    return SliceSpan(t[0], t[1], {0: ((4, 200), slice(0, 800)), 2: ((10,), slice(3, None))})


def _double_slice_span() -> Any:
    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan

    t = _times(2)
    return DoubleSliceSpan(t[0], t[1], {1: ((4, 200), slice(0, 2), slice(0, 200))})


def _twirled_slice_span() -> Any:
    from qiskit_ibm_runtime.execution_span import TwirledSliceSpan

    t = _times(2)
    return TwirledSliceSpan(t[0], t[1], {2: ((10, 4, 20), True, slice(0, 20), slice(0, 20))})


def _twirled_slice_span_v2() -> Any:
    from qiskit_ibm_runtime.execution_span import TwirledSliceSpanV2

    t = _times(2)
    return TwirledSliceSpanV2(t[0], t[1], {
        0: ((4, 50), False, slice(0, 4), slice(0, 50), 50),
        2: ((10, 4, 20), True, slice(20, 40), slice(0, 20), 200),
    })


def _execution_spans() -> Any:
    from qiskit_ibm_runtime.execution_span import ExecutionSpans

    return ExecutionSpans([_slice_span(), _double_slice_span(), _twirled_slice_span(),
                           _twirled_slice_span_v2()])


def _pauli_lindblad_error() -> Any:
    from qiskit.quantum_info import PauliList
    from qiskit_ibm_runtime.results import PauliLindbladError

    return PauliLindbladError(PauliList(["IX", "XI", "ZZ", "YX"]),
                              np.array([0.001, 0.0025, 1e-4, 0.0]))


def _layer_error() -> Any:
    from qiskit import QuantumCircuit
    from qiskit_ibm_runtime.results import LayerError

    layer = QuantumCircuit(2, name="layer")
    layer.cx(0, 1)
    return LayerError(layer, [0, 1], _pauli_lindblad_error())


def _noise_learner_result() -> Any:
    from qiskit import QuantumCircuit
    from qiskit_ibm_runtime.results import LayerError, NoiseLearnerResult

    single = QuantumCircuit(1, name="single")
    single.sx(0)
    return NoiseLearnerResult(
        [_layer_error(), LayerError(single, [3], None)],
        metadata={"backend": "fake_manila", "input_options": {"max_layers_to_learn": 4}})


# -- pubs, operators, gates and object arrays (fixed uuids: values must never change) --------


def _param(name: str, n: int) -> Any:
    import uuid

    from qiskit.circuit import Parameter

    return Parameter(name, uuid=uuid.UUID(int=0x5EED0000 + n))


def _objarray() -> Any:
    arr = np.empty((2, 3), dtype=object)
    for i, item in enumerate([1, "two", None, {"k": 2.5}, complex(1, -1), b"\x00\xff"]):
        arr.flat[i] = item
    return arr


def _parameter() -> Any:
    return [_param("theta", 1), _param("\u03c6_1", 2)]


def _parameter_vector_element() -> Any:
    import uuid

    from qiskit.circuit import ParameterVector

    vector = ParameterVector("v", 3, uuid=uuid.UUID(int=0x5EED1000))
    return [vector[0], vector[2]]


def _instruction() -> Any:
    from qiskit.circuit import Measure
    from qiskit.circuit.library import CXGate, PhaseGate, U2Gate

    return [CXGate(), PhaseGate(1.0), U2Gate(_param("phi", 3), 0.5), Measure()]


def _pauli() -> Any:
    from qiskit.quantum_info import Pauli

    return [Pauli("XYZ"), Pauli("-iIXZ")]


def _operator(kind: str) -> Callable[[], Any]:
    def build() -> Any:
        import qiskit.quantum_info as qi

        matrix = _unit(f"{kind}.re", (2, 2)) + 1j * _unit(f"{kind}.im", (2, 2))
        op = qi.Operator(matrix)
        return op if kind == "Operator" else getattr(qi, kind)(op)

    return build


def _sparse_pauli_op() -> Any:
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp(["XYZX", "IIZZ"], coeffs=[2.0, 1 + 2j])


def _pauli_lindblad_map() -> Any:
    from qiskit.quantum_info import PauliLindbladMap

    return PauliLindbladMap.from_list([("IIIXI", 0.1), ("XXIII", 0.3), ("IIYIY", 0.4)])


def _qubit_sparse_pauli_list() -> Any:
    from qiskit.quantum_info import QubitSparsePauliList

    return QubitSparsePauliList.from_sparse_list([("XZ", (0, 2)), ("Y", (1,))], num_qubits=3)


def _observables_array() -> Any:
    from qiskit.primitives.containers.observables_array import ObservablesArray

    return ObservablesArray([[{"XX": 0.5, "ZI": -1.0}, "YY"], ["0+", {"IZ": 2.0}]])


def _bindings_array() -> Any:
    from qiskit.primitives.containers.bindings_array import BindingsArray

    return BindingsArray({("a", "b"): _unit("BindingsArray.ab", (3, 2)),
                          "c": _unit("BindingsArray.c", (3,))})


def _pub_circuit(measure: bool) -> Any:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2, name="pub")
    circuit.rx(_param("a", 4), 0)
    circuit.ry(_param("b", 5), 1)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


def _estimator_pub() -> Any:
    from qiskit.primitives.containers.bindings_array import BindingsArray
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit.primitives.containers.observables_array import ObservablesArray

    return EstimatorPub(_pub_circuit(False), ObservablesArray([{"XX": 0.1}, {"ZZ": 1.0}]),
                        BindingsArray({("a", "b"): _unit("EstimatorPub.ab", (2, 2))}), 0.05)


def _sampler_pub() -> Any:
    from qiskit.primitives.containers.bindings_array import BindingsArray
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    return SamplerPub(_pub_circuit(True),
                      BindingsArray({"a": _unit("SamplerPub.a", (4,)),
                                     "b": _unit("SamplerPub.b", (4,))}), 1000)


def _coupling_map() -> Any:
    from qiskit.transpiler import CouplingMap

    cmap = CouplingMap([[0, 1], [1, 2], [2, 1]], description="line")
    cmap.add_physical_qubit(3)
    return cmap


def _parameter_view() -> Any:
    from qiskit.circuit.parametertable import ParameterView

    return ParameterView([_param("a", 4), _param("b", 5)])


def _result() -> Any:
    from qiskit.result import Result

    return Result.from_dict({
        "backend_name": "fake_manila", "backend_version": "1.0", "qobj_id": "q1",
        "job_id": "j1", "success": True, "date": "2024-06-14T11:44:31",
        "results": [{"shots": 100, "success": True, "meas_level": 2,
                     "data": {"counts": {"0x0": 48, "0x3": 52}},
                     "header": {"name": "bell", "memory_slots": 2}}]})


def _noise_model() -> Any:
    import warnings

    from qiskit_aer.noise import NoiseModel

    # Fixed error ids, in the form NoiseModel.from_dict returns (see the strategy).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return NoiseModel.from_dict({"errors": [
            {"type": "qerror", "id": "0123456789abcdef0123456789abcdef", "operations": ["cx"],
             "instructions": [[{"name": "pauli", "qubits": [0, 1], "params": ["ZZ"]}],
                              [{"name": "pauli", "qubits": [0, 1], "params": ["II"]}]],
             "probabilities": [0.25, 0.75], "gate_qubits": [(0, 1)]}]})


# -- the executor's results --------------------------------------------------------------------


def _chunk_part() -> Any:
    from qiskit_ibm_runtime.results import ChunkPart

    return ChunkPart(1, 250)


def _chunk_span() -> Any:
    from qiskit_ibm_runtime.results import ChunkPart, ChunkSpan

    t = _times(2)
    return ChunkSpan(t[0], t[1], [ChunkPart(0, 100), ChunkPart(1, 250)])


def _chunk_timing() -> Any:
    from qiskit_ibm_runtime.results import ChunkTiming

    return ChunkTiming([_chunk_span()])


def _scheduler_timing() -> Any:
    from qiskit_ibm_runtime.results import SchedulerTiming

    return SchedulerTiming("main,barrier,Q0,0,16,barrier\nmain,x,Q0,16,40,x", 5120)


def _stretch_values() -> Any:
    from qiskit_ibm_runtime.results import StretchValues

    return StretchValues("s0", 96, 3, [(16, 96), (208, 99)])


def _item_metadata() -> Any:
    from qiskit_ibm_runtime.results import ItemMetadata

    return ItemMetadata(_scheduler_timing(), [_stretch_values()])


def _executor_metadata() -> Any:
    from qiskit_ibm_runtime.results import Metadata

    return Metadata([_chunk_span()])


def _item_results(cls: Any, with_metadata: bool) -> list:
    items = [{"meas": _bytes("item.meas", 40).reshape(4, 10) > 127,
              "measurement_flips.meas": _bytes("item.flips", 8).reshape(4, 2) > 200},
             {"evs": _unit("item.evs", (3,))}]
    if not with_metadata:
        return [cls(item) for item in items]
    return [cls(items[0], _item_metadata()),
            cls(items[1], {"shots": 4, "circuit_metadata": {}})]


def _quantum_program_item_result() -> Any:
    from qiskit_ibm_runtime.results import QuantumProgramItemResult

    return _item_results(QuantumProgramItemResult, True)


def _quantum_program_result() -> Any:
    from qiskit_ibm_runtime.results import QuantumProgramItemResult, QuantumProgramResult

    result = QuantumProgramResult(_item_results(QuantumProgramItemResult, True),
                                  _executor_metadata(),
                                  {"post": [1, 2.5, "x", None], "arr": _unit("pass", (2,))})
    result._semantic_role = "sampler-v2"
    return result


def _base_item_result() -> Any:
    from samplomatic.quantum_program import QuantumProgramItemResult

    return _item_results(QuantumProgramItemResult, False)


def _base_program_result() -> Any:
    from samplomatic.quantum_program import QuantumProgramItemResult, QuantumProgramResult

    return QuantumProgramResult(_item_results(QuantumProgramItemResult, False), [1, {"a": 2}])


def _calibrator_result() -> Any:
    from qiskit_ibm_runtime.results import CalibratorResult

    t = _times(2)
    return CalibratorResult(t[0], t[1])


def _noise_learner_v3_result() -> Any:
    from qiskit_ibm_runtime.results import NoiseLearnerV3Result

    return NoiseLearnerV3Result.from_generators(
        [_qubit_sparse_pauli_list(), _qubit_sparse_pauli_list()], [0.01, 0.02],
        [0.001, 0.002], {"learning_protocol": "lindblad"})


def _noise_learner_v3_results() -> Any:
    from qiskit_ibm_runtime.results import NoiseLearnerV3Results

    return NoiseLearnerV3Results([_noise_learner_v3_result()], {"backend": "fake_manila"})


# -- plain values and realistic results -----------------------------------------------------


def _plain() -> Any:
    """Every kind of tree leaf: numbers at their edges, text, bytes and array dtypes."""
    nan, inf = float("nan"), float("inf")
    return {
        "none": None,
        "bools": [True, False],
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**64, -(2**100)],
        "floats": [0.0, -0.0, 1.5, nan, inf, -inf, 5e-324, 1.7976931348623157e308],
        "text": "qubit \u00e9\u2713 \U0001d11e \x00 end",
        "bytes": b"\x00\x01\xfe\xff",
        "empty": {"list": [], "dict": {}},
        "arrays": {
            "u1": _bytes("plain.u1", 12).reshape(3, 4),
            "i2_big_endian": _bytes("plain.i2", 16).view(">i2").reshape(2, 4),
            "f4": _unit("plain.f4", (5,)).astype(np.float32),
            "f8_fortran": np.asfortranarray(_unit("plain.f8", (3, 2))),
            "c16": _unit("plain.c16", (2, 2)) + 1j * _unit("plain.c16i", (2, 2)),
            "bool": _bytes("plain.bool", 6) > 127,
            "zero_d": np.array(7.25),
            "empty": np.zeros((0, 3), np.int32),
        },
    }


def _sampler_result() -> Any:
    """Shaped as qiskit-ibm-runtime's SamplerV2 returns it: a Bell pair and a sweep.

    The data are fixed bits, not a simulation; metadata and execution spans are as the
    service writes them.
    """
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
    from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans, SliceSpan

    bell = _bytes("sampler.bell", 1024)
    bell = np.where(bell & 1, 0b11, 0b00).astype(np.uint8).reshape(1024, 1)

    pubs = [
        SamplerPubResult(DataBin(meas=BitArray(bell, 2)), {"circuit_metadata": {}}),
        SamplerPubResult(
            DataBin(alpha=_bits("sampler.alpha", (4, 128), 3),
                    beta=_bits("sampler.beta", (4, 128), 10), shape=(4,)),
            {"circuit_metadata": {"sweep": "theta"}}),
    ]
    t = _times(3)
    spans = ExecutionSpans([
        SliceSpan(t[0], t[1], {0: ((1024,), slice(0, 1024))}),
        DoubleSliceSpan(t[1], t[2], {1: ((4, 128), slice(0, 4), slice(0, 128))}),
    ])
    return PrimitiveResult(pubs, metadata={"execution": {"execution_spans": spans},
                                           "version": 2})


def _estimator_result() -> Any:
    """Shaped as qiskit-ibm-runtime's EstimatorV2 returns it: a broadcast (2, 3) sweep."""
    from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult

    shape = (2, 3)
    data = DataBin(evs=_unit("estimator.evs", shape) * 2 - 1,
                   stds=_unit("estimator.stds", shape) / 50,
                   ensemble_standard_error=_unit("estimator.ese", shape) / 50, shape=shape)
    meta = {"shots": 4096, "target_precision": 0.015625, "circuit_metadata": {},
            "resilience": {}, "num_randomizations": 32}
    return PrimitiveResult([PubResult(data, meta)], metadata={
        "dynamical_decoupling": {"enable": True, "sequence_type": "XX",
                                 "extra_slack_distribution": "middle",
                                 "scheduling_method": "alap"},
        "twirling": {"enable_gates": False, "enable_measure": True,
                     "num_randomizations": "auto", "shots_per_randomization": "auto",
                     "interleave_randomizations": True, "strategy": "active-accum"},
        "resilience": {"measure_mitigation": True, "zne_mitigation": False,
                       "pec_mitigation": False},
        "version": 2,
    })


def _low_entropy_result() -> Any:
    """Shots that compress, next to shots that do not: every format's codecs at work.

    A GHZ-like register (all zeros or all ones, a few flipped bits), a 3-bit
    mid-circuit register that is mostly 0, and 27 random bits, over 4,000 shots:
    big enough for each format to compress the first two and store the third.
    """
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    shots = 4000
    which = _bytes("low.which", shots) & 1
    flips = _bytes("low.flips", shots * 20).reshape(shots, 20) < 3  # about 1%
    ghz = BitArray.from_bool_array((which[:, None] == 1) ^ flips, order="big")
    syndrome = _bytes("low.mid", shots * 3).reshape(shots, 3) < 26  # about 10%
    mid = BitArray.from_bool_array(syndrome, order="big")
    data = DataBin(ghz=ghz, mid=mid, wide=_bits("low.wide", (shots,), 27))
    return PrimitiveResult([SamplerPubResult(data, {"shots": shots, "circuit_metadata": {}})],
                           metadata={"version": 2})


def _tag_lookalikes() -> Any:
    # Plain dicts that look like tagged values, at the top level and below: each must come
    # back as itself (JSON 1.1 wraps them).
    return {"__type__": "lookalikes", "__value__": 1, "inside": {
        "unknown tag": {"__type__": "foo", "__value__": [1, {"__type__": "bar"}]},
        "known tag": {"__type__": "complex", "__value__": [1.0, 2.0]},
        "no value": {"__type__": "datetime"},
        "named class": {"__type__": "settings", "__module__": "os", "__class__": "system",
                        "__value__": None},
        "as is": {"__type__": "to_json", "__value__": {"a": 1}},
        "extrapolator": {"__type__": "ndarray", "__value__": "linear"},
        "not a str": {"__type__": 7, "__value__": 8},
        "header": {"__qserial__": {"version": "9.0"}},
        "tagged inside": {"__type__": "foo", "__value__": complex(3, 4)},
    }}


def _zoned_datetimes() -> Any:
    # IANA zones, kept by the binary formats: both sides of a DST change, the repeated
    # hour (fold), a half-hour zone; and the fixed offsets and naive times beside them.
    from zoneinfo import ZoneInfo

    zurich, howe = ZoneInfo("Europe/Zurich"), ZoneInfo("Australia/Lord_Howe")
    return {"zoned": [dt.datetime(2024, 3, 31, 1, 59, tzinfo=zurich),
                      dt.datetime(2024, 3, 31, 3, 0, tzinfo=zurich),
                      dt.datetime(2024, 10, 27, 2, 30, tzinfo=zurich),
                      dt.datetime(2024, 10, 27, 2, 30, tzinfo=zurich, fold=1),
                      dt.datetime(2024, 4, 7, 1, 45, 12, 5, tzinfo=howe),
                      dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))],
            "fixed": [_T0, _T0.astimezone(dt.timezone(dt.timedelta(hours=-3, minutes=-30)))],
            "naive": _T0.replace(tzinfo=None)}


#: name -> builder. A tag's value is named after the tag.
BUILDERS: dict[str, Callable[[], Any]] = {
    "tuple": _tuple,
    "set": _set,
    "frozenset": _frozenset,
    "complex": _complex,
    "datetime": _datetime,
    "date": _date,
    "dict": _dict,
    "npscalar": _npscalar,
    "PrimitiveResult": _primitive_result,
    "PubResult": _pub_result,
    "SamplerPubResult": _sampler_pub_result,
    "DataBin": _data_bin,
    "BitArray": _bit_array,
    "QuantumCircuit": _quantum_circuit,
    "PauliList": _pauli_list,
    "EstimatorPubResult": _estimator_pub_result,
    "ExecutionSpan": _slice_span,
    "DoubleSliceSpan": _double_slice_span,
    "TwirledSliceSpan": _twirled_slice_span,
    "TwirledSliceSpanV2": _twirled_slice_span_v2,
    "ExecutionSpans": _execution_spans,
    "NoiseLearnerResult": _noise_learner_result,
    "LayerError": _layer_error,
    "PauliLindbladError": _pauli_lindblad_error,
    "objarray": _objarray,
    "Parameter": _parameter,
    "qserial.qiskit.ParameterVectorElement": _parameter_vector_element,
    "Instruction": _instruction,
    "Pauli": _pauli,
    "SparsePauliOp": _sparse_pauli_op,
    **{kind: _operator(kind) for kind in (
        "Operator", "Chi", "Choi", "Kraus", "PTM", "Stinespring", "SuperOp")},
    "PauliLindbladMap": _pauli_lindblad_map,
    "qserial.qiskit.QubitSparsePauliList": _qubit_sparse_pauli_list,
    "ObservablesArray": _observables_array,
    "BindingsArray": _bindings_array,
    "qserial.qiskit.EstimatorPub": _estimator_pub,
    "qserial.qiskit.SamplerPub": _sampler_pub,
    "qserial.qiskit.CouplingMap": _coupling_map,
    "qserial.qiskit.ParameterView": _parameter_view,
    "Result": _result,
    "NoiseModel": _noise_model,
    "qserial.runtime.ChunkPart": _chunk_part,
    "qserial.runtime.ChunkSpan": _chunk_span,
    "qserial.runtime.ChunkTiming": _chunk_timing,
    "qserial.runtime.SchedulerTiming": _scheduler_timing,
    "qserial.runtime.StretchValues": _stretch_values,
    "qserial.runtime.ItemMetadata": _item_metadata,
    "qserial.runtime.Metadata": _executor_metadata,
    "qserial.runtime.QuantumProgramItemResult": _quantum_program_item_result,
    "qserial.runtime.QuantumProgramResult": _quantum_program_result,
    "qserial.samplomatic.QuantumProgramItemResult": _base_item_result,
    "qserial.samplomatic.QuantumProgramResult": _base_program_result,
    "qserial.runtime.CalibratorResult": _calibrator_result,
    "qserial.runtime.NoiseLearnerV3Result": _noise_learner_v3_result,
    "qserial.runtime.NoiseLearnerV3Results": _noise_learner_v3_results,
    "plain": _plain,
    "sampler_result": _sampler_result,
    "estimator_result": _estimator_result,
    "low_entropy_result": _low_entropy_result,
    "tag_lookalikes": _tag_lookalikes,
    "zoned_datetimes": _zoned_datetimes,
}


def build(name: str) -> Any:
    """The value of the golden files named ``name``."""
    return BUILDERS[name]()


def path_for(fmt: str, name: str) -> Path:
    from qserial.formats import get_format

    return GOLDEN / fmt / f"{name}{get_format(fmt).suffixes[0]}"


def missing(formats: list[str]) -> list[tuple[str, str]]:
    """(format, name) pairs that have no golden file yet."""
    return [(fmt, name) for fmt in formats for name in BUILDERS
            if not path_for(fmt, name).exists()]


def main(argv: list[str] | None = None) -> int:
    import qserial

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list what is missing")
    parser.add_argument("--format", action="append", choices=GOLDEN_FORMATS,
                        help="only this format (repeatable); default: every installed one")
    args = parser.parse_args(argv)
    formats = args.format or [f for f in GOLDEN_FORMATS if f in qserial.list_formats()]
    todo = missing(formats)
    for fmt, name in todo:
        path = path_for(fmt, name)
        if args.check:
            print(f"missing: {path.relative_to(GOLDEN.parent.parent.parent)}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        qserial.dump(build(name), path, format=fmt)
        print(f"wrote {path.relative_to(GOLDEN.parent.parent.parent)}")
    if not todo:
        print("every golden file exists; nothing written")
    return 1 if args.check and todo else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
