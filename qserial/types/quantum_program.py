"""The executor's results: quantum program results and their metadata.

``qiskit_ibm_runtime.executor_sampler.Sampler`` and ``executor_estimator.Estimator`` put a
:class:`~qiskit_ibm_runtime.results.Metadata` in ``result.metadata["executor"]``; the
executor itself returns a ``QuantumProgramResult``. ``RuntimeEncoder`` has no tags for
these classes, so they are stored under qserial's own tags, ``qserial.runtime.<Class>``
(``qserial.samplomatic.<Class>`` for samplomatic's base classes, which qiskit-ibm-runtime
does not re-export). Fields are the classes' own constructor arguments.

Imported by the registry only when one of these objects or tags is met.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit_ibm_runtime.results import (
    CalibratorResult,
    ChunkPart,
    ChunkSpan,
    ChunkTiming,
    ItemMetadata,
    Metadata,
    NoiseLearnerV3Result,
    NoiseLearnerV3Results,
    QuantumProgramItemResult,
    QuantumProgramResult,
    SchedulerTiming,
    StretchValues,
)
from samplomatic.quantum_program import QuantumProgramItemResult as BaseItemResult
from samplomatic.quantum_program import QuantumProgramResult as BaseProgramResult

from ..errors import DecodeError
from . import _fields

if TYPE_CHECKING:
    from ..registry import TypeRegistry


def _int(value: Any, what: str) -> int:
    return _fields.integer(value, what, minimum=None)


def _time(value: Any, what: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise DecodeError(f"{what} must be a datetime, not {type(value).__name__}")
    return value


def _instances(value: Any, cls: type, what: str) -> list:
    items = _fields.sequence(value, what)
    for item in items:
        if not isinstance(item, cls):
            raise DecodeError(f"{what} must hold {cls.__name__} objects, not "
                              f"{type(item).__name__}")
    return items


def _optional(value: Any, cls: type, what: str) -> Any:
    if value is not None and not isinstance(value, cls):
        raise DecodeError(f"{what} must be a {cls.__name__} or null, not {type(value).__name__}")
    return value


def _decode_chunk_part(value: Any) -> ChunkPart:
    f = _fields.fields(value, "ChunkPart", ("idx_item", "size"))
    return ChunkPart(_int(f["idx_item"], "ChunkPart.idx_item"), _int(f["size"], "ChunkPart.size"))


def _decode_chunk_span(value: Any) -> ChunkSpan:
    f = _fields.fields(value, "ChunkSpan", ("start", "stop", "parts"))
    return ChunkSpan(_time(f["start"], "ChunkSpan.start"), _time(f["stop"], "ChunkSpan.stop"),
                     _instances(f["parts"], ChunkPart, "ChunkSpan.parts"))


def _decode_chunk_timing(value: Any) -> ChunkTiming:
    f = _fields.fields(value, "ChunkTiming", ("spans",))
    return ChunkTiming(_instances(f["spans"], ChunkSpan, "ChunkTiming.spans"))


def _decode_scheduler_timing(value: Any) -> SchedulerTiming:
    f = _fields.fields(value, "SchedulerTiming", ("timing", "circuit_duration"))
    if not isinstance(f["timing"], str):
        raise DecodeError("SchedulerTiming.timing must be a string")
    return SchedulerTiming(f["timing"],
                           _int(f["circuit_duration"], "SchedulerTiming.circuit_duration"))


def _decode_stretch_values(value: Any) -> StretchValues:
    f = _fields.fields(value, "StretchValues", ("name", "value", "remainder", "expanded_values"))
    if not isinstance(f["name"], str):
        raise DecodeError("StretchValues.name must be a string")
    pairs = _fields.sequence(f["expanded_values"], "StretchValues.expanded_values")
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DecodeError("StretchValues.expanded_values must hold (time, duration) pairs")
    return StretchValues(f["name"], _int(f["value"], "StretchValues.value"),
                         _int(f["remainder"], "StretchValues.remainder"), pairs)


def _decode_item_metadata(value: Any) -> ItemMetadata:
    f = _fields.fields(value, "ItemMetadata", (), ("scheduler_timing", "stretch_values"))
    stretch = f.get("stretch_values")
    if stretch is not None:
        stretch = _instances(stretch, StretchValues, "ItemMetadata.stretch_values")
    return ItemMetadata(
        _optional(f.get("scheduler_timing"), SchedulerTiming, "ItemMetadata.scheduler_timing"),
        stretch)


def _decode_metadata(value: Any) -> Metadata:
    f = _fields.fields(value, "Metadata", ("chunk_timing",))
    return Metadata(_instances(f["chunk_timing"], ChunkSpan, "Metadata.chunk_timing"))


def _encode_item(item: BaseItemResult) -> dict:
    out = {"result": dict(item._result)}
    if isinstance(item, QuantumProgramItemResult):
        out["metadata"] = item.metadata
    return out


def _item_decoder(cls: type, tag: str):
    def decode(value: Any) -> BaseItemResult:
        f = _fields.fields(value, tag, ("result",), ("metadata",))
        result = _fields.mapping(f["result"], f"{tag}.result")
        if cls is BaseItemResult:
            return cls(result)
        metadata = f.get("metadata")
        if metadata is not None and not isinstance(metadata, (ItemMetadata, dict)):
            raise DecodeError(f"{tag}.metadata must be an ItemMetadata or a mapping")
        item = cls(result)
        item.metadata = metadata  # as given: the constructor swaps {} for ItemMetadata()
        return item

    return decode


def _encode_program(result: BaseProgramResult) -> dict:
    out = {"data": list(result), "passthrough_data": result.passthrough_data}
    if isinstance(result, QuantumProgramResult):
        out["metadata"] = result.metadata
        out["semantic_role"] = result._semantic_role
    return out


def _program_decoder(cls: type, item_cls: type, tag: str):
    def decode(value: Any) -> BaseProgramResult:
        f = _fields.fields(value, tag, ("data",), ("passthrough_data", "metadata", "semantic_role"))
        data = _instances(f["data"], item_cls, f"{tag}.data")
        if cls is BaseProgramResult:
            return cls(data, passthrough_data=f.get("passthrough_data"))
        role = f.get("semantic_role")
        if role is not None and not isinstance(role, str):
            raise DecodeError(f"{tag}.semantic_role must be a string or null")
        metadata = _optional(f.get("metadata"), Metadata, f"{tag}.metadata")
        result = cls(data, metadata=metadata, passthrough_data=f.get("passthrough_data"))
        result._semantic_role = role
        return result

    return decode


def _decode_calibrator_result(value: Any) -> CalibratorResult:
    f = _fields.fields(value, "CalibratorResult", ("start", "stop"))
    return CalibratorResult(_time(f["start"], "CalibratorResult.start"),
                            _time(f["stop"], "CalibratorResult.stop"))


def _encode_nlv3_result(result: NoiseLearnerV3Result) -> dict:
    return {"generators": list(result._generators), "rates": result._rates,
            "rates_std": result._rates_std, "metadata": result.metadata}


def _real_array(value: Any, what: str) -> np.ndarray:
    if type(value) is not np.ndarray or value.dtype.kind not in "iuf" or value.ndim != 1:
        raise DecodeError(f"{what} must be a 1-d real array")
    return value


def _decode_nlv3_result(value: Any) -> NoiseLearnerV3Result:
    from qiskit.quantum_info import QubitSparsePauliList

    tag = "NoiseLearnerV3Result"
    f = _fields.fields(value, tag, ("generators", "rates", "rates_std"), ("metadata",))
    generators = _instances(f["generators"], QubitSparsePauliList, f"{tag}.generators")
    rates = _real_array(f["rates"], f"{tag}.rates")
    rates_std = _real_array(f["rates_std"], f"{tag}.rates_std")
    if not len(generators) == len(rates) == len(rates_std):
        raise DecodeError(f"{tag}: generators, rates and rates_std differ in length")
    # Set directly: from_generators refuses an empty result, which the class itself allows.
    result = NoiseLearnerV3Result()
    result._generators, result._rates, result._rates_std = generators, rates, rates_std
    result.metadata = f.get("metadata", {})
    return result


def _decode_nlv3_results(value: Any) -> NoiseLearnerV3Results:
    f = _fields.fields(value, "NoiseLearnerV3Results", ("data",), ("metadata",))
    data = _instances(f["data"], NoiseLearnerV3Result, "NoiseLearnerV3Results.data")
    metadata = f.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise DecodeError("NoiseLearnerV3Results.metadata must be a mapping or null")
    results = NoiseLearnerV3Results(data)
    results.metadata = metadata
    return results


def _fields_of(*names: str):
    return lambda obj: {name: getattr(obj, name) for name in names}


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    reg = registry.register
    t = "qserial.runtime."
    reg(ChunkPart, t + "ChunkPart", encode=_fields_of("idx_item", "size"),
        decode=_decode_chunk_part)
    reg(ChunkSpan, t + "ChunkSpan", encode=_fields_of("start", "stop", "parts"),
        decode=_decode_chunk_span)
    reg(ChunkTiming, t + "ChunkTiming", encode=lambda c: {"spans": list(c)},
        decode=_decode_chunk_timing)
    reg(SchedulerTiming, t + "SchedulerTiming", encode=_fields_of("timing", "circuit_duration"),
        decode=_decode_scheduler_timing)
    reg(StretchValues, t + "StretchValues",
        encode=_fields_of("name", "value", "remainder", "expanded_values"),
        decode=_decode_stretch_values)
    reg(ItemMetadata, t + "ItemMetadata", encode=_fields_of("scheduler_timing", "stretch_values"),
        decode=_decode_item_metadata)
    reg(Metadata, t + "Metadata", encode=_fields_of("chunk_timing"), decode=_decode_metadata)
    reg(QuantumProgramItemResult, t + "QuantumProgramItemResult", encode=_encode_item,
        decode=_item_decoder(QuantumProgramItemResult, "QuantumProgramItemResult"))
    reg(QuantumProgramResult, t + "QuantumProgramResult", encode=_encode_program,
        decode=_program_decoder(QuantumProgramResult, QuantumProgramItemResult,
                                "QuantumProgramResult"))
    s = "qserial.samplomatic."
    reg(BaseItemResult, s + "QuantumProgramItemResult", encode=_encode_item,
        decode=_item_decoder(BaseItemResult, "QuantumProgramItemResult"))
    reg(BaseProgramResult, s + "QuantumProgramResult", encode=_encode_program,
        decode=_program_decoder(BaseProgramResult, BaseItemResult, "QuantumProgramResult"))
    reg(CalibratorResult, t + "CalibratorResult", encode=_fields_of("start", "stop"),
        decode=_decode_calibrator_result)
    reg(NoiseLearnerV3Result, t + "NoiseLearnerV3Result", encode=_encode_nlv3_result,
        decode=_decode_nlv3_result)
    reg(NoiseLearnerV3Results, t + "NoiseLearnerV3Results",
        encode=lambda r: {"data": list(r.data), "metadata": r.metadata},
        decode=_decode_nlv3_results)

