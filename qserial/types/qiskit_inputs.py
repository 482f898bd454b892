"""Qiskit objects ``RuntimeEncoder`` writes besides results: pubs, operators, gates.

Where ``RuntimeEncoder`` has a tag, the tree holds exactly its value, so the JSON format
writes them as it does: ``BindingsArray``, ``ObservablesArray``, ``PauliLindbladMap``,
``Result``, ``Parameter`` (QPY's parameter record), ``Instruction`` (a one-instruction
QPY circuit), and ``SparsePauliOp`` and ``Pauli`` (their ``settings``, read back only
through the JSON format's closed list of named classes). Classes it has no tag for are
``qserial.qiskit.<Class>``. ``EstimatorPub``, ``SamplerPub``, ``CouplingMap`` and
``ParameterView`` are stored whole under such tags; only the JSON format lowers them to
the plain lists ``RuntimeEncoder`` writes (see :func:`runtime_json_form`).

Imported by the registry only when one of these objects or tags is met. Nothing here
imports or calls anything a file names: each decoder builds one fixed class from
checked fields.
"""

from __future__ import annotations

import enum
import functools
import io
import json
import struct
import uuid as _uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import qpy
from qiskit.circuit import (
    ClassicalRegister,
    Instruction,
    Parameter,
    ParameterVector,
    ParameterVectorElement,
    QuantumCircuit,
    QuantumRegister,
)
from qiskit.circuit.parametertable import ParameterView
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import (
    PTM,
    Chi,
    Choi,
    Kraus,
    Operator,
    Pauli,
    PauliLindbladMap,
    PauliList,
    QubitSparsePauliList,
    SparsePauliOp,
    Stinespring,
    SuperOp,
)
from qiskit.result import Result
from qiskit.transpiler import CouplingMap

from ..errors import DecodeError, LimitExceededError
from . import _fields
from .qiskit import _QPY_VERSION, _decode_circuit

if TYPE_CHECKING:
    from ..registry import TypeRegistry


# -- parameters ---------------------------------------------------------------------------

_PARAMETER = struct.Struct("!H16s")  # QPY's PARAMETER record: name size, uuid; then the name


def _encode_parameter(param: Parameter) -> bytes:
    name = param.name.encode("utf-8")
    return _PARAMETER.pack(len(name), param.uuid.bytes) + name


def _decode_parameter(value: Any) -> Parameter:
    if type(value) is not bytes or len(value) < _PARAMETER.size:
        raise DecodeError("Parameter must hold a QPY parameter record (bytes)")
    size, raw_uuid = _PARAMETER.unpack_from(value)
    if len(value) != _PARAMETER.size + size:
        raise DecodeError(f"Parameter record says its name has {size} bytes, it has "
                          f"{len(value) - _PARAMETER.size}")
    try:
        name = value[_PARAMETER.size:].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("Parameter name is not UTF-8") from None
    return Parameter(name, uuid=_uuid.UUID(bytes=raw_uuid))


def _encode_vector_element(param: ParameterVectorElement) -> dict:
    return {"vector": param.vector.name, "length": len(param.vector), "index": param.index,
            "uuid": str(param.uuid)}


def _decode_vector_element(value: Any) -> ParameterVectorElement:
    tag = "ParameterVectorElement"
    f = _fields.fields(value, tag, ("vector", "length", "index", "uuid"))
    length = _fields.integer(f["length"], f"{tag}.length")
    index = _fields.integer(f["index"], f"{tag}.index")
    if not isinstance(f["vector"], str) or not isinstance(f["uuid"], str) or index >= length:
        raise DecodeError(f"{tag} needs a vector name, a uuid string and an index < length")
    try:
        element_uuid = _uuid.UUID(f["uuid"])
    except ValueError:
        raise DecodeError(f"{tag}.uuid is not a UUID") from None
    if length > _MAX_VECTOR:
        raise LimitExceededError(f"{tag}: a vector of {length} parameters is over the "
                                 f"{_MAX_VECTOR} qserial reads")
    # As QPY rebuilds it: elements' uuids count up from the vector's root uuid.
    root = (element_uuid.int - index) % (1 << 128)
    return _vector(f["vector"], length, root)[index]


# Reaching element i of a vector costs time in i: a file may name each vector only up
# to this length, and the elements of one vector share it, as QPY's reader shares them.
_MAX_VECTOR = 1 << 16


@functools.lru_cache(maxsize=32)
def _vector(name: str, length: int, root: int) -> ParameterVector:
    return ParameterVector(name, length, uuid=_uuid.UUID(int=root))


# -- instructions -------------------------------------------------------------------------


def _encode_instruction(inst: Instruction) -> bytes:
    # RuntimeEncoder's layout: a circuit holding just this instruction, on all its qubits
    # (and, which RuntimeEncoder cannot do, its clbits).
    qreg = QuantumRegister(inst.num_qubits, "q")
    circuit = QuantumCircuit(qreg, name="instruction")
    clbits = []
    if inst.num_clbits:
        creg = ClassicalRegister(inst.num_clbits, "c")
        circuit.add_register(creg)
        clbits = list(creg)
    circuit.append(inst, list(qreg), clbits)
    buf = io.BytesIO()
    qpy.dump(circuit, buf, version=_QPY_VERSION)
    return buf.getvalue()


def _decode_instruction(value: Any) -> Instruction:
    circuit = _decode_circuit(value, what="Instruction")
    if len(circuit.data) != 1:
        raise DecodeError(f"Instruction must hold a circuit of one instruction, not "
                          f"{len(circuit.data)}")
    return circuit.data[0].operation


# -- operators ----------------------------------------------------------------------------


def _decode_pauli(value: Any) -> Pauli:
    f = _fields.fields(value, "Pauli", ("data",))
    label = f["data"]
    if not isinstance(label, str) or not label.lstrip("+-ij").strip("IXYZ") == "":
        raise DecodeError("Pauli.data must be a Pauli label such as '-iXYZ'")
    return Pauli(label)


def _decode_sparse_pauli_op(value: Any) -> SparsePauliOp:
    f = _fields.fields(value, "SparsePauliOp", ("data", "coeffs"))
    paulis, coeffs = f["data"], f["coeffs"]
    if not isinstance(paulis, PauliList):
        raise DecodeError("SparsePauliOp.data must be a PauliList")
    if type(coeffs) is not np.ndarray or coeffs.ndim != 1 or len(coeffs) != len(paulis):
        raise DecodeError("SparsePauliOp.coeffs must be an array of one value per Pauli")
    if coeffs.dtype.kind not in "iufcO":
        raise DecodeError(f"SparsePauliOp.coeffs cannot be of dtype {coeffs.dtype}")
    return SparsePauliOp(paulis, coeffs)


def _matrices(value: Any, what: str, depth: int = 0) -> Any:
    # An operator's or channel's data: a complex matrix, or (Kraus, Stinespring) lists
    # of them, or a pair of such lists for a map that is not completely positive.
    if type(value) is np.ndarray:
        if value.ndim != 2 or value.dtype.kind not in "biufc":
            raise DecodeError(f"{what} must hold numeric matrices")
        return value
    if isinstance(value, (list, tuple)) and depth < 2:
        return type(value)(_matrices(v, what, depth + 1) for v in value)
    raise DecodeError(f"{what} must be a matrix or lists of matrices")


def _operator_decoder(cls: type):
    tag = cls.__name__

    def decode(value: Any) -> Any:
        f = _fields.fields(value, tag, ("data", "input_dims", "output_dims"))
        dims = {name: tuple(_fields.integer(d, f"{tag}.{name}")
                            for d in _fields.sequence(f[name], f"{tag}.{name}"))
                for name in ("input_dims", "output_dims")}
        data = _matrices(f["data"], f"{tag}.data")
        # JSON keeps the (left, right) pair of a map that is not completely positive as a
        # list: the only meaning a list has there (RuntimeDecoder cannot read it back).
        if type(data) is list and (tag == "Stinespring" or (
                tag == "Kraus" and data and all(type(d) is list for d in data))):
            data = tuple(data)
        return cls(data, **dims)

    return decode


def _sparse_terms(value: Any, what: str, *, rated: bool) -> list[tuple]:
    terms = []
    for term in _fields.sequence(value, what):
        term = _fields.sequence(term, what)
        if len(term) != 2 + rated or not isinstance(term[0], str):
            raise DecodeError(f"{what} must hold [label, qubits{', rate' if rated else ''}]")
        qubits = [_fields.integer(q, f"{what} qubit") for q in _fields.sequence(term[1], what)]
        if rated and (isinstance(term[2], bool) or not isinstance(term[2], (int, float))):
            raise DecodeError(f"{what} rates must be real numbers")
        terms.append((term[0], qubits, *term[2:]))
    return terms


def _sparse_list(terms: list) -> list[list]:
    return [[label, [int(q) for q in qubits], *(float(r) for r in rest)]
            for label, qubits, *rest in terms]


def _decode_pauli_lindblad_map(value: Any) -> PauliLindbladMap:
    f = _fields.fields(value, "PauliLindbladMap", ("paulis", "num_qubits"))
    terms = _sparse_terms(f["paulis"], "PauliLindbladMap.paulis", rated=True)
    return PauliLindbladMap.from_sparse_list(
        terms, num_qubits=_fields.integer(f["num_qubits"], "PauliLindbladMap.num_qubits"))


def _decode_qubit_sparse_pauli_list(value: Any) -> QubitSparsePauliList:
    tag = "QubitSparsePauliList"
    f = _fields.fields(value, tag, ("paulis", "num_qubits"))
    terms = _sparse_terms(f["paulis"], f"{tag}.paulis", rated=False)
    return QubitSparsePauliList.from_sparse_list(
        terms, num_qubits=_fields.integer(f["num_qubits"], f"{tag}.num_qubits"))


def _plain_observables(value: Any) -> Any:
    # ObservablesArray.tolist() holds numpy floats: stored as the equal Python floats.
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    return [_plain_observables(v) for v in value]


def _check_observables(value: Any, what: str, depth: int = 0) -> None:
    if isinstance(value, dict):
        for label, coeff in value.items():
            if not isinstance(label, str) or isinstance(coeff, bool) or not isinstance(
                    coeff, (int, float)):
                raise DecodeError(f"{what} must map observable labels to real coefficients")
    elif isinstance(value, list) and depth < 64:
        for v in value:
            _check_observables(v, what, depth + 1)
    else:
        raise DecodeError(f"{what} must hold nested lists of {{label: coefficient}} mappings")


def _decode_observables_array(value: Any) -> ObservablesArray:
    _check_observables(value, "ObservablesArray")
    return ObservablesArray(value)


def _encode_bindings_array(bindings: BindingsArray) -> dict:
    # RuntimeEncoder's layout: each key, a tuple of parameter names, as a JSON list.
    return {"shape": tuple(bindings.shape),
            "data": {json.dumps(list(key)): arr for key, arr in bindings.data.items()}}


def _decode_bindings_array(value: Any) -> BindingsArray:
    f = _fields.fields(value, "BindingsArray", (), ("shape", "data"))
    shape = f.get("shape")
    data = {}
    for key, arr in _fields.mapping(f.get("data"), "BindingsArray.data").items():
        try:
            names = json.loads(key)
        except (TypeError, ValueError):
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DecodeError(f"BindingsArray.data key {key!r} is not a JSON list of names")
        if type(arr) is not np.ndarray or arr.dtype.kind not in "iuf":
            raise DecodeError(f"BindingsArray.data[{key!r}] must be a real array")
        data[tuple(names)] = arr
    return BindingsArray(data, shape=None if shape is None else _fields.shape(shape))


def _decode_estimator_pub(value: Any) -> EstimatorPub:
    tag = "EstimatorPub"
    f = _fields.fields(value, tag, ("circuit", "observables", "parameter_values"),
                       ("precision",))
    _expect(f, tag, circuit=QuantumCircuit, observables=ObservablesArray,
            parameter_values=BindingsArray)
    precision = f.get("precision")
    if precision is not None and (isinstance(precision, bool)
                                  or not isinstance(precision, (int, float))):
        raise DecodeError(f"{tag}.precision must be a number or null")
    return EstimatorPub(f["circuit"], f["observables"], f["parameter_values"], precision)


def _decode_sampler_pub(value: Any) -> SamplerPub:
    tag = "SamplerPub"
    f = _fields.fields(value, tag, ("circuit", "parameter_values"), ("shots",))
    _expect(f, tag, circuit=QuantumCircuit, parameter_values=BindingsArray)
    shots = f.get("shots")
    return SamplerPub(f["circuit"], f["parameter_values"],
                      None if shots is None else _fields.integer(shots, f"{tag}.shots"))


def _expect(f: dict, tag: str, **classes: type) -> None:
    for name, cls in classes.items():
        if not isinstance(f[name], cls):
            raise DecodeError(f"{tag}.{name} must be a {cls.__name__}, not "
                              f"{type(f[name]).__name__}")


def runtime_json_form(obj: Any) -> list | tuple:
    """What ``RuntimeEncoder`` writes for a pub, a coupling map or a parameter view.

    A plain tuple or list, read back as a list: the JSON format's documented loss.
    """
    if isinstance(obj, CouplingMap):
        return list(obj)
    if isinstance(obj, ParameterView):
        return list(obj.data)
    params = obj.parameter_values.as_array(obj.circuit.parameters)
    if isinstance(obj, EstimatorPub):
        return (obj.circuit, _plain_observables(obj.observables.tolist()), params,
                obj.precision)
    return (obj.circuit, params, obj.shots)


def _encode_coupling_map(cmap: CouplingMap) -> dict:
    return {"qubits": list(cmap.physical_qubits), "edges": [list(e) for e in cmap.get_edges()],
            "description": cmap.description}


def _decode_coupling_map(value: Any) -> CouplingMap:
    tag = "CouplingMap"
    f = _fields.fields(value, tag, ("qubits", "edges"), ("description",))
    cmap = CouplingMap(description=f.get("description"))
    for q in _fields.sequence(f["qubits"], f"{tag}.qubits"):
        cmap.add_physical_qubit(_fields.integer(q, f"{tag}.qubits"))
    for edge in _fields.sequence(f["edges"], f"{tag}.edges"):
        edge = _fields.sequence(edge, f"{tag}.edges")
        if len(edge) != 2:
            raise DecodeError(f"{tag}.edges must hold [source, target] pairs")
        cmap.add_edge(*(_fields.integer(q, f"{tag}.edges") for q in edge))
    return cmap


def _decode_parameter_view(value: Any) -> ParameterView:
    f = _fields.fields(value, "ParameterView", ("parameters",))
    params = _fields.sequence(f["parameters"], "ParameterView.parameters")
    if not all(isinstance(p, Parameter) for p in params):
        raise DecodeError("ParameterView.parameters must hold Parameters")
    return ParameterView(params)


def _plain_enums(value: Any) -> Any:
    # Result.to_dict() keeps enums (MeasLevel, MeasReturnType): stored as their values,
    # as RuntimeEncoder's json writes them and as Result.from_dict accepts them.
    if isinstance(value, enum.Enum):
        return value.value
    if type(value) is dict:
        return {k: _plain_enums(v) for k, v in value.items()}
    if type(value) is list:
        return [_plain_enums(v) for v in value]
    return value


def _decode_result(value: Any) -> Result:
    # Result.to_dict() has open-ended keys (backend, job, date, header, ...): each becomes a
    # keyword argument of Result, so only names are accepted.
    f = _fields.mapping(value, "Result")
    if "results" not in f:
        raise DecodeError("Result lacks field(s) results")
    for i, item in enumerate(_fields.sequence(f["results"], "Result.results")):
        if not isinstance(item, dict):
            raise DecodeError(f"Result.results[{i}] must be a mapping")
    for key in f:
        if not isinstance(key, str) or not key.isidentifier():
            raise DecodeError(f"Result field {key!r} is not a name")
    return Result.from_dict(f)


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    reg = registry.register
    q = "qserial.qiskit."
    reg(Parameter, "Parameter", encode=_encode_parameter, decode=_decode_parameter)
    reg(ParameterVectorElement, q + "ParameterVectorElement", encode=_encode_vector_element,
        decode=_decode_vector_element)
    reg(Instruction, "Instruction", encode=_encode_instruction, decode=_decode_instruction)
    for cls in (Operator, Chi, Choi, Kraus, PTM, Stinespring, SuperOp):
        # As RuntimeEncoder writes them, through their settings.
        reg(cls, cls.__name__, encode=lambda op: dict(op.settings),
            decode=_operator_decoder(cls))
    reg(Pauli, "Pauli", encode=lambda p: {"data": p.to_label()}, decode=_decode_pauli)
    reg(SparsePauliOp, "SparsePauliOp", encode=lambda op: {"data": op.paulis, "coeffs": op.coeffs},
        decode=_decode_sparse_pauli_op)
    reg(PauliLindbladMap, "PauliLindbladMap",
        encode=lambda m: {"paulis": _sparse_list(m.to_sparse_list()), "num_qubits": m.num_qubits},
        decode=_decode_pauli_lindblad_map)
    reg(QubitSparsePauliList, q + "QubitSparsePauliList",
        encode=lambda p: {"paulis": _sparse_list(p.to_sparse_list()), "num_qubits": p.num_qubits},
        decode=_decode_qubit_sparse_pauli_list)
    reg(ObservablesArray, "ObservablesArray",
        encode=lambda o: _plain_observables(o.tolist()), decode=_decode_observables_array)
    reg(BindingsArray, "BindingsArray", encode=_encode_bindings_array,
        decode=_decode_bindings_array)
    reg(EstimatorPub, q + "EstimatorPub",
        encode=lambda p: {"circuit": p.circuit, "observables": p.observables,
                          "parameter_values": p.parameter_values, "precision": p.precision},
        decode=_decode_estimator_pub, plain_json=runtime_json_form)
    reg(SamplerPub, q + "SamplerPub",
        encode=lambda p: {"circuit": p.circuit, "parameter_values": p.parameter_values,
                          "shots": p.shots},
        decode=_decode_sampler_pub, plain_json=runtime_json_form)
    reg(CouplingMap, q + "CouplingMap", encode=_encode_coupling_map,
        decode=_decode_coupling_map, plain_json=runtime_json_form)
    reg(ParameterView, q + "ParameterView", encode=lambda v: {"parameters": list(v.data)},
        decode=_decode_parameter_view, plain_json=runtime_json_form)
    reg(Result, "Result", encode=lambda r: _plain_enums(r.to_dict()), decode=_decode_result)

