"""What users hold besides primitive results: every type RuntimeEncoder writes, and the
executor primitives' results.

Both directions through JSON are checked against qiskit-ibm-runtime itself: qserial reads
what ``RuntimeEncoder`` writes as ``RuntimeDecoder`` does, and ``RuntimeDecoder`` reads
what qserial writes as it reads ``RuntimeEncoder``'s own output. "Equal" follows
qiskit-ibm-runtime's unit tests on data serialization where they define it (pubs,
observables and bindings by their lists, noise models by their noise instructions).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import CXGate, PhaseGate, U2Gate
from qiskit.exceptions import QiskitError
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import (
    Choi,
    Kraus,
    Operator,
    Pauli,
    PauliLindbladMap,
    SparsePauliOp,
    Stinespring,
    pauli_basis,
)
from qiskit.result import Result
from qiskit.transpiler import CouplingMap
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

import qserial
from qserial import DecodeError
from qserial.formats import get_format
from qserial.formats.json import PLAIN_LIST_TAGS
from qserial.testing import assert_equal, first_difference
from tests import golden_gen

REPO = Path(__file__).resolve().parents[1]
FORMATS = [f for f in ("json", "msgpack", "hdf5", "parquet") if f in qserial.list_formats()]


def _runtime_decode(text: str | bytes) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return json.loads(text, cls=RuntimeDecoder)


def _pub_circuit(measure: bool) -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.rx(a, 0)
    circuit.ry(b, 1)
    if measure:
        circuit.measure_all()
    return circuit


def _encodable() -> dict[str, Any]:
    """Objects RuntimeEncoder writes, as qiskit-ibm-runtime's own tests build them."""
    a, b = Parameter("a"), Parameter("b")
    metadata_circuit = QuantumCircuit(1)
    metadata_circuit.metadata = {"test": np.arange(0, 10)}
    return {
        "sparse_pauli_op": SparsePauliOp(Pauli("XYZX"), coeffs=[2]),
        "sparse_pauli_op_complex": SparsePauliOp(Pauli("XYZX"), coeffs=[1 + 2j]),
        "pauli": Pauli("XYZ"),
        "pauli_phase": Pauli("-iXYZ"),
        "operator": Operator(np.array([[0, 1j], [1, 0]])),
        "choi": Choi(Operator(np.array([[0, 1j], [1, 0]]))),
        "stinespring": Stinespring(Operator(np.eye(2))),
        "pauli_lindblad_map": PauliLindbladMap.from_sparse_list([("XX", (0, 1), 0.5)],
                                                                num_qubits=5),
        "pauli_lindblad_map_list": PauliLindbladMap.from_list(
            [("IIIXI", 0.1), ("XXIII", 0.3), ("IIYIY", 0.4)]),
        "observables": ObservablesArray([["X", "Y", "Z"], ["0", "1", "+"]]),
        "observables_basis": ObservablesArray(pauli_basis(2)),
        "observables_object": ObservablesArray(np.array([["X", "Y"], ["Z", "I"]], dtype=object)),
        "observables_sparse": ObservablesArray([[SparsePauliOp(["XX", "ZI"], [0.5, -1.0])]]),
        "bindings": BindingsArray({"a": [1, 2, 3.4]}),
        "bindings_tuple": BindingsArray({("a", "b", "c"): [4.0, 5.0, 6.0]}, shape=()),
        "bindings_vector": BindingsArray(
            {ParameterVector("v", 5): np.linspace(0, 1, 30).reshape((2, 3, 5))}),
        "bindings_mixed": BindingsArray({(a, b): np.linspace(0, 1, 24).reshape(4, 3, 2),
                                         Parameter("c"): np.linspace(0, 1, 12).reshape(4, 3)}),
        "cx": CXGate(),
        "phase": PhaseGate(theta=1),
        "u2": U2Gate(phi=1, lam=1),
        "u2_parameters": U2Gate(phi=Parameter("phi"), lam=Parameter("lambda")),
        "parameter": Parameter("theta"),
        "result": Result(backend_name="ibmqx2", backend_version="1.1", qobj_id="12345",
                         job_id="67890", success=False, results=[]),
        "result_counts": golden_gen.build("Result"),
        "object_array_2d": np.array([[1, 2, 3], [{"obj": 123}, 5, 6]], dtype=object),
        "object_array_1d": np.array([1, {"obj": 123}], dtype=object),
        "object_array_strings": np.array([["x", 1], [None, 2.5]], dtype=object),
        "object_array_numbers": np.array([[1, 2], [3, 4]], dtype=object),
        "circuit_numpy_metadata": metadata_circuit,
        "estimator_pub": EstimatorPub(_pub_circuit(False), ObservablesArray([{"XX": 0.1}]),
                                      BindingsArray(data={(a, b): np.ones((10, 2))}), 0.05),
        "sampler_pub": SamplerPub(_pub_circuit(True),
                                  BindingsArray(data={(a, b): np.ones((10, 2))}), 1000),
        "coupling_map": CouplingMap([[0, 1], [1, 2]], description="line"),
        "parameter_view": _pub_circuit(False).parameters,
    }


ENCODABLE = _encodable()
# RuntimeEncoder writes these as plain lists (pubs) or as arrays of numbers: not the
# objects they were, in either reader; compared as RuntimeEncoder's JSON keeps them.
LOSSY = {"estimator_pub", "sampler_pub", "object_array_numbers", "coupling_map",
         "parameter_view"}


@pytest.mark.parametrize("name", sorted(ENCODABLE))
def test_runtime_encoder_output_loads_as_runtime_decoder_reads_it(name: str) -> None:
    obj = ENCODABLE[name]
    text = json.dumps({"x": obj}, cls=RuntimeEncoder)
    got = qserial.loads(text)["x"]
    if name == "circuit_numpy_metadata":
        # RuntimeDecoder leaves the metadata's tagged values as raw dicts; qserial reads them.
        assert type(got) is QuantumCircuit
        assert_equal(got.metadata, obj.metadata)
        assert isinstance(_runtime_decode(text)["x"].metadata["test"], dict)
        return
    assert_equal(got, _runtime_decode(text)["x"])
    assert_equal(got, obj, exact=name not in LOSSY)


@pytest.mark.parametrize("name", sorted(ENCODABLE))
def test_runtime_decoder_reads_qserial_json_as_runtime_encoder_output(name: str) -> None:
    obj = ENCODABLE[name]
    ours = _runtime_decode(qserial.dumps({"x": obj}))["x"]
    theirs = _runtime_decode(json.dumps({"x": obj}, cls=RuntimeEncoder))["x"]
    assert type(ours) is type(theirs)
    if name == "circuit_numpy_metadata":
        # Both leave the metadata's ndarray as its raw tagged dict.
        assert ours.metadata["test"]["__type__"] == theirs.metadata["test"]["__type__"]
        return
    if isinstance(ours, np.ndarray) and ours.dtype == object:
        assert ours.shape == theirs.shape and ours.tolist() == theirs.tolist()
        return
    assert_equal(ours, theirs)


@pytest.mark.parametrize("name", sorted(ENCODABLE))
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_in_every_format(name: str, fmt: str) -> None:
    obj = ENCODABLE[name]
    back = qserial.loads(qserial.dumps({"x": obj}, format=fmt))["x"]
    lossy = fmt == "json" and name in LOSSY
    assert_equal(back, obj, exact=not lossy)
    if not lossy:
        assert type(back) is type(obj)


def test_pubs_are_plain_lists_in_json_and_whole_elsewhere() -> None:
    pub = ENCODABLE["estimator_pub"]
    decoded = qserial.loads(qserial.dumps(pub))
    assert type(decoded) is list and len(decoded) == 4
    # ... and EstimatorPub.coerce rebuilds an equal pub, as qiskit-ibm-runtime's tests do.
    again = EstimatorPub.coerce(decoded)
    assert again.circuit == pub.circuit and again.precision == pub.precision
    assert again.observables.tolist() == pub.observables.tolist()
    assert np.array_equal(again.parameter_values.as_array(), pub.parameter_values.as_array())
    sampler = SamplerPub.coerce(qserial.loads(qserial.dumps(ENCODABLE["sampler_pub"])))
    assert sampler.shots == 1000
    for fmt in FORMATS[1:]:
        back = qserial.loads(qserial.dumps(pub, format=fmt))
        assert type(back) is EstimatorPub
        assert back.parameter_values.data.keys() == pub.parameter_values.data.keys()


@pytest.mark.parametrize("channel", [
    Kraus(([np.eye(2)], [np.array([[0, 1], [1, 0]])])),
    Stinespring((np.eye(2), np.array([[0, 1], [1, 0]]))),
])
def test_maps_that_are_not_completely_positive(channel: Any) -> None:
    # RuntimeEncoder writes their (left, right) pair as a list, which RuntimeDecoder
    # cannot read back; qserial can.
    text = json.dumps(channel, cls=RuntimeEncoder)
    with pytest.raises((QiskitError, ValueError)):
        _runtime_decode(text)
    assert qserial.loads(text) == channel
    for fmt in FORMATS:
        assert_equal(qserial.loads(qserial.dumps(channel, format=fmt)), channel,
                     exact=fmt != "json")


def test_noise_model_from_runtime_encoder() -> None:
    pytest.importorskip("qiskit_aer")
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    model = NoiseModel.from_backend(FakeManilaV2())
    text = json.dumps(model, cls=RuntimeEncoder)
    got = qserial.loads(text)
    assert type(got) is NoiseModel
    assert_equal(got, _runtime_decode(text))
    # qiskit-ibm-runtime's notion of an equal noise model.
    assert got.noise_qubits == model.noise_qubits
    assert got.noise_instructions == model.noise_instructions
    ours = _runtime_decode(qserial.dumps(model))
    assert type(ours) is NoiseModel and ours.noise_instructions == model.noise_instructions
    # qiskit-aer's from_dict rewrites a model's errors on its first two reads (standard
    # gates become unitaries, then lose their labels); from then on it is stable, and
    # every format keeps it exactly.
    settled = qserial.loads(qserial.dumps(got))
    for fmt in FORMATS:
        assert_equal(qserial.loads(qserial.dumps(settled, format=fmt)), settled)


def test_numpy_scalars_in_circuit_metadata_runtime_encoder_refuses() -> None:
    circuit = QuantumCircuit(1, metadata={"f": np.float32(1.5), "a": np.arange(3, dtype=np.int8)})
    with pytest.raises(TypeError):
        json.dumps(circuit, cls=RuntimeEncoder)
    for fmt in FORMATS:
        back = qserial.loads(qserial.dumps(circuit, format=fmt))
        # In every format the metadata sits inside QPY as JSON: the scalar is a float.
        assert_equal(back.metadata, circuit.metadata, exact=False)
        assert back.metadata["a"].dtype == np.int8


# -- types RuntimeEncoder has no tag for -----------------------------------------------------

QSERIAL_ONLY = sorted(name for name in golden_gen.BUILDERS if name.startswith("qserial."))


@pytest.mark.parametrize("name", QSERIAL_ONLY)
def test_qserial_tags_are_raw_dicts_to_runtime_decoder(name: str) -> None:
    value = golden_gen.build(name)
    first = value[0] if isinstance(value, list) else value
    got = _runtime_decode(qserial.dumps({"x": first}))["x"]
    if name in PLAIN_LIST_TAGS:
        assert type(got) is list  # written as RuntimeEncoder writes them
        return
    assert type(got) is dict and got["__type__"] == name


def test_runtime_encoder_cannot_write_the_executor_metadata() -> None:
    from qiskit_ibm_runtime.results import Metadata

    with pytest.raises(TypeError):
        json.dumps(Metadata(), cls=RuntimeEncoder)


@pytest.mark.parametrize("name", QSERIAL_ONLY)
def test_qserial_tags_round_trip_in_every_format(name: str) -> None:
    value = golden_gen.build(name)
    for fmt in FORMATS:
        back = qserial.loads(qserial.dumps(value, format=fmt))
        assert_equal(back, value, exact=fmt != "json")


# -- the executor primitives, in local testing mode ------------------------------------------

_CHILD = textwrap.dedent("""\
    import sys
    import qserial
    for path in sys.argv[1:]:
        obj = qserial.load(path)
        qserial.dump(obj, path + ".back.msgpack")
        print(path, type(obj).__name__)
""")


def _executor_program_result() -> Any:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime.executor import Executor
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    from qiskit_ibm_runtime.quantum_program import QuantumProgram

    backend = FakeManilaV2()
    circuit = QuantumCircuit(2)
    circuit.rx(Parameter("t"), 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend,
                                       seed_transpiler=1).run(circuit)
    program = QuantumProgram(shots=32)
    program.append_circuit_item(isa, circuit_arguments=np.linspace(0, 1, 3).reshape(3, 1))
    return Executor(mode=backend).run(program).result()


def test_executor_results_round_trip_and_load_in_a_fresh_process(tmp_path: Path) -> None:
    pytest.importorskip("qiskit_aer", reason="local mode needs qiskit-aer")
    from qiskit_ibm_runtime.results import Metadata, QuantumProgramResult

    from qserial.testing.conformance import real_results

    results = {name: real_results()[name] for name in ("executor_sampler", "executor_estimator")}
    results["executor"] = _executor_program_result()
    assert type(results["executor"]) is QuantumProgramResult
    paths = {}
    for name, result in results.items():
        if name != "executor":
            assert type(result.metadata["executor"]) is Metadata
        for fmt in FORMATS:
            path = tmp_path / f"{name}{get_format(fmt).suffixes[0]}"
            qserial.dump(result, path)
            assert_equal(qserial.load(path), result)  # exact, JSON included
            paths[str(path)] = name
    done = subprocess.run([sys.executable, "-c", _CHILD, *paths], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(paths)
    for path, name in paths.items():
        diff = first_difference(qserial.load(path + ".back.msgpack"), results[name])
        assert diff is None, f"{path}: {diff}"


# -- bad input is a DecodeError naming where ---------------------------------------------------

_BAD = {
    "Parameter": {"__type__": "Parameter", "__value__": "AAU="},
    "Instruction": {"__type__": "Instruction", "__value__": "bm90IHpsaWI="},
    "BindingsArray": {"__type__": "BindingsArray", "__value__": {
        "shape": [2], "data": {"not json": {"__type__": "ndarray", "__value__": [1.0, 2.0]}}}},
    "ObservablesArray": {"__type__": "ObservablesArray", "__value__": [{"XX": "one"}]},
    "PauliLindbladMap": {"__type__": "PauliLindbladMap", "__value__": {
        "paulis": [["XX", [0], 0.5, 7]], "num_qubits": 2}},
    "Result": {"__type__": "Result", "__value__": {"results": [1], "success": True}},
    "objarray": {"__type__": "objarray", "__value__": {"shape": [3], "items": [1, 2]}},
    "ChunkSpan": {"__type__": "qserial.runtime.ChunkSpan", "__value__": {
        "start": "2024-01-01", "stop": "2024-01-01", "parts": []}},
    "SparsePauliOp": {"__type__": "settings",
                      "__module__": "qiskit.quantum_info.operators.symplectic.sparse_pauli_op",
                      "__class__": "SparsePauliOp",
                      "__value__": {"data": "XX", "coeffs": [1.0]}},
}


@pytest.mark.parametrize("name", sorted(_BAD))
def test_bad_fields_are_decode_errors_with_a_path(name: str) -> None:
    with pytest.raises(qserial.QSerialError) as info:
        qserial.loads(json.dumps({"meta": [_BAD[name]]}))
    assert isinstance(info.value, (DecodeError, qserial.TruncatedError))
    assert info.value.path == "$.meta[0]"


def test_parameter_vectors_are_bounded_and_shared() -> None:
    vector = ParameterVector("v", 4)
    back = qserial.loads(qserial.dumps([vector[0], vector[3]], format="msgpack"))
    assert back == [vector[0], vector[3]]
    assert [(len(p.vector), p.vector.name, p.index) for p in back] == [(4, "v", 0), (4, "v", 3)]
    huge = {"__type__": "qserial.qiskit.ParameterVectorElement", "__value__": {
        "vector": "v", "length": 10**9, "index": 0, "uuid": str(vector[0].uuid)}}
    with pytest.raises(qserial.LimitExceededError):
        qserial.loads(json.dumps([huge]))


def test_noise_model_errors_are_bounded() -> None:
    pytest.importorskip("qiskit_aer")
    error = {"type": "qerror", "id": "a", "operations": ["x"], "probabilities": [1.0],
             "instructions": [[{"name": "x", "qubits": [100000]}]]}
    doc = {"x": {"__type__": "NoiseModel", "__value__": {"errors": [error]}}}
    with pytest.raises(qserial.LimitExceededError) as info:
        qserial.loads(json.dumps(doc))
    assert info.value.path == "$.x"


def test_object_arrays_of_unstorable_values_are_refused() -> None:
    with pytest.raises(qserial.UnsupportedTypeError, match=r"\$\.x\.items\[1\]"):
        qserial.dumps({"x": np.array([1, object()], dtype=object)})
    with pytest.raises(qserial.UnsupportedTypeError, match="0-d"):
        qserial.dumps(np.array({"a": 1}, dtype=object))
