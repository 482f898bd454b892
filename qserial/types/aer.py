"""qiskit-aer's ``NoiseModel``, as ``RuntimeEncoder`` writes it: its ``to_dict()``.

Imported by the registry only when a qiskit-aer object or the ``NoiseModel`` tag is met;
without qiskit-aer the import fails, and the registry says so when the tag is met.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from qiskit_aer.noise import NoiseModel

from ..errors import DecodeError, LimitExceededError
from . import _fields

if TYPE_CHECKING:
    from ..registry import TypeRegistry


def _decode_noise_model(value: Any) -> NoiseModel:
    f = _fields.mapping(value, "NoiseModel")  # to_dict's keys are qiskit-aer's to choose
    for i, error in enumerate(_fields.sequence(f.get("errors", []), "NoiseModel.errors")):
        if not isinstance(error, dict) or not isinstance(error.get("type"), str):
            raise DecodeError(f"NoiseModel.errors[{i}] must be a mapping with a type")
        _check_qubits(error.get("instructions", []), f"NoiseModel.errors[{i}]")
    with warnings.catch_warnings():
        # from_dict is deprecated in qiskit-aer, and the only reader of to_dict's layout.
        warnings.simplefilter("ignore", DeprecationWarning)
        return NoiseModel.from_dict(f)


# qiskit-aer builds each error's circuit, and for standard gates its unitary, over all
# qubits up to the highest index an instruction names (indices local to the error, 0 and
# 1 for a two-qubit error): a file may name only a few.
_MAX_ERROR_QUBITS = 8


def _check_qubits(instructions: Any, what: str) -> None:
    for circuit in _fields.sequence(instructions, f"{what}.instructions"):
        for inst in _fields.sequence(circuit, f"{what}.instructions"):
            if not isinstance(inst, dict):
                raise DecodeError(f"{what}.instructions must hold mappings")
            for q in _fields.sequence(inst.get("qubits", []), f"{what} qubits"):
                if _fields.integer(q, f"{what} qubit") >= _MAX_ERROR_QUBITS:
                    raise LimitExceededError(
                        f"{what}: qubit {q} of an error is over the {_MAX_ERROR_QUBITS} "
                        "qubits qserial lets qiskit-aer build an error on")


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    registry.register(NoiseModel, "NoiseModel", encode=lambda m: m.to_dict(),
                      decode=_decode_noise_model)
