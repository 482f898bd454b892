"""Qiskit's primitive result containers, with RuntimeEncoder's tags and fields.

Imported by the registry only when a Qiskit object or tag is met.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import qpy
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.quantum_info import PauliList

from ..errors import DecodeError
from . import _fields

if TYPE_CHECKING:
    from ..registry import TypeRegistry


def _encode_pub_result(res: PubResult) -> dict:
    return {"data": res.data, "metadata": res.metadata}


def _pub_result_decoder(cls: type, tag: str):
    def decode(value: Any) -> PubResult:
        f = _fields.fields(value, tag, ("data",), ("metadata",))
        if not isinstance(f["data"], DataBin):
            raise DecodeError(f"{tag}.data must be a DataBin, not {type(f['data']).__name__}")
        return cls(data=f["data"], metadata=_fields.mapping(f.get("metadata"), f"{tag}.metadata"))

    return decode


def _decode_primitive_result(value: Any) -> PrimitiveResult:
    f = _fields.fields(value, "PrimitiveResult", ("pub_results",), ("metadata",))
    return PrimitiveResult(
        _fields.sequence(f["pub_results"], "PrimitiveResult.pub_results"),
        metadata=_fields.mapping(f.get("metadata"), "PrimitiveResult.metadata"),
    )


def _encode_data_bin(data: DataBin) -> dict:
    return {"field_names": list(data), "shape": tuple(data.shape), "fields": dict(data.items())}


def _decode_data_bin(value: Any) -> DataBin:
    # field_types: written by RuntimeEncoder of qiskit-ibm-runtime 0.21; the values'
    # own types say the same, so it is accepted and not needed.
    f = _fields.fields(value, "DataBin", ("fields",), ("field_names", "shape", "field_types"))
    fields = _fields.mapping(f["fields"], "DataBin.fields")
    names = f.get("field_names", list(fields))
    names = _fields.sequence(names, "DataBin.field_names")
    if sorted(map(str, names)) != sorted(map(str, fields)):
        raise DecodeError(f"DataBin.field_names {names} do not match its fields {list(fields)}")
    shape = f.get("shape")
    shape = () if shape is None else _fields.shape(shape, "DataBin.shape")
    return DataBin(shape=shape, **{name: fields[name] for name in names})


def _encode_bit_array(bits: BitArray) -> dict:
    return {"array": bits.array, "num_bits": bits.num_bits}


def _decode_bit_array(value: Any) -> BitArray:
    f = _fields.fields(value, "BitArray", ("array", "num_bits"))
    array, num_bits = f["array"], _fields.integer(f["num_bits"], "BitArray.num_bits")
    if type(array) is not np.ndarray or array.dtype != np.uint8:
        raise DecodeError("BitArray.array must be a uint8 array")
    if array.ndim < 2 or array.shape[-1] != (num_bits + 7) // 8:
        raise DecodeError(
            f"BitArray.array of shape {array.shape} cannot hold {num_bits} bits per shot"
        )
    return BitArray(array, num_bits)


# The newest QPY version the IBM service reads, as RuntimeEncoder caps it, so that
# readers with an older qiskit can still load the circuit.
_QPY_VERSION = min(17, qpy.QPY_VERSION)


class _MetadataEncoder(json.JSONEncoder):
    # QPY writes circuit metadata with json.dumps(metadata, cls=...): written here as
    # qserial's JSON, so numpy values and other stored types in metadata are kept (as
    # RuntimeEncoder, which QPY is given by qiskit-ibm-runtime, writes them).
    def encode(self, o: Any) -> str:
        # The codec and the JSON format directly, not qserial.api, which sits above the
        # types (it opens files and records provenance): no import circle.
        from ..codec import to_tree
        from ..formats.json import JSONFormat

        buf = io.BytesIO()
        JSONFormat().dump(to_tree(o), buf)
        return buf.getvalue().decode("ascii")


class _MetadataDecoder(json.JSONDecoder):
    # ... and read back with qserial's JSON reader: tagged values through the registry
    # only; an unknown tag is kept as an UnknownObject rather than failing the circuit.
    def decode(self, s: str, *args: Any) -> Any:
        from ..codec import from_tree
        from ..formats.json import JSONFormat

        return from_tree(JSONFormat().load(io.BytesIO(s.encode("utf-8"))), strict=False)


def _encode_circuit(circuit: QuantumCircuit) -> bytes:
    buf = io.BytesIO()
    qpy.dump(circuit, buf, version=_QPY_VERSION, metadata_serializer=_MetadataEncoder)
    return buf.getvalue()


def _decode_circuit(value: Any, what: str = "QuantumCircuit") -> QuantumCircuit:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} must hold QPY bytes")
    circuits = qpy.load(io.BytesIO(value), metadata_deserializer=_MetadataDecoder)
    if len(circuits) != 1 or not isinstance(circuits[0], QuantumCircuit):
        raise DecodeError(f"{what} must hold exactly one QPY circuit")
    return circuits[0]


def _decode_pauli_list(value: Any) -> PauliList:
    f = _fields.fields(value, "PauliList", ("data",))
    labels = _fields.sequence(f["data"], "PauliList.data")
    if not all(isinstance(label, str) for label in labels):
        raise DecodeError("PauliList.data must hold Pauli labels")
    return PauliList(labels)


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    reg = registry.register
    reg(PrimitiveResult, "PrimitiveResult",
        encode=lambda r: {"pub_results": list(r), "metadata": r.metadata},
        decode=_decode_primitive_result)
    reg(PubResult, "PubResult", encode=_encode_pub_result,
        decode=_pub_result_decoder(PubResult, "PubResult"))
    reg(SamplerPubResult, "SamplerPubResult", encode=_encode_pub_result,
        decode=_pub_result_decoder(SamplerPubResult, "SamplerPubResult"))
    reg(DataBin, "DataBin", encode=_encode_data_bin, decode=_decode_data_bin)
    reg(BitArray, "BitArray", encode=_encode_bit_array, decode=_decode_bit_array)
    reg(QuantumCircuit, "QuantumCircuit", encode=_encode_circuit, decode=_decode_circuit)
    reg(PauliList, "PauliList", encode=lambda p: {"data": p.to_labels()},
        decode=_decode_pauli_list)

