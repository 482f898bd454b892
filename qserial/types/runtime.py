"""qiskit-ibm-runtime's result classes and execution spans, with RuntimeEncoder's layout.

Imported by the registry only when a qiskit-ibm-runtime object or tag is met, since
importing qiskit_ibm_runtime takes over a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.primitives.containers import DataBin
from qiskit.quantum_info import PauliList
from qiskit_ibm_runtime.execution_span import (
    DoubleSliceSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)
from qiskit_ibm_runtime.results import (
    EstimatorPubResult,
    LayerError,
    NoiseLearnerResult,
    PauliLindbladError,
)

from ..errors import DecodeError
from . import _fields

if TYPE_CHECKING:
    from ..registry import TypeRegistry

# Flat layouts of one data_slices entry, as RuntimeEncoder writes them (after the shape).
_SLICE_FIELDS = {
    "ExecutionSpan": ("start", "stop"),
    "DoubleSliceSpan": ("arg_start", "arg_stop", "shot_start", "shot_stop"),
    "TwirledSliceSpan": ("at_front", "arg_start", "arg_stop", "shot_start", "shot_stop"),
    "TwirledSliceSpanV2": (
        "at_front", "arg_start", "arg_stop", "shot_start", "shot_stop", "pub_shots",
    ),
}


def _encode_span(span: Any, flat: dict) -> dict:
    return {"start": span.start, "stop": span.stop, "data_slices": flat}


def _encode_slice_span(span: SliceSpan) -> dict:
    return _encode_span(span, {
        idx: (tuple(shape), sl.start, sl.stop) for idx, (shape, sl) in span._data_slices.items()
    })


def _encode_double_slice_span(span: DoubleSliceSpan) -> dict:
    return _encode_span(span, {
        idx: (tuple(shape), a.start, a.stop, s.start, s.stop)
        for idx, (shape, a, s) in span._data_slices.items()
    })


def _encode_twirled_slice_span(span: TwirledSliceSpan) -> dict:
    return _encode_span(span, {
        idx: (tuple(x[0]), x[1], x[2].start, x[2].stop, x[3].start, x[3].stop)
        for idx, x in span._data_slices.items()
    })


def _encode_twirled_slice_span_v2(span: TwirledSliceSpanV2) -> dict:
    return _encode_span(span, {
        idx: (tuple(x[0]), x[1], x[2].start, x[2].stop, x[3].start, x[3].stop,
              span._pub_shots[idx])
        for idx, x in span._data_slices.items()
    })


def _flat_slices(value: Any, tag: str) -> tuple[dict, Any, Any]:
    f = _fields.fields(value, tag, ("start", "stop", "data_slices"))
    layout = _SLICE_FIELDS[tag]
    out = {}
    for key, entry in _fields.mapping(f["data_slices"], f"{tag}.data_slices").items():
        try:
            idx = int(key)
        except (TypeError, ValueError):
            raise DecodeError(f"{tag}.data_slices key {key!r} is not a pub index") from None
        entry = _fields.sequence(entry, f"{tag}.data_slices[{key!r}]")
        if len(entry) != 1 + len(layout):
            raise DecodeError(
                f"{tag}.data_slices[{key!r}] must be [shape, {', '.join(layout)}]"
            )
        out[idx] = (_fields.shape(entry[0], f"{tag}.data_slices[{key!r}] shape"), *entry[1:])
    for name in ("start", "stop"):
        if not hasattr(f[name], "isoformat"):
            raise DecodeError(f"{tag}.{name} must be a datetime")
    return out, f["start"], f["stop"]


def _sl(a: Any, b: Any, what: str) -> slice:
    return slice(_fields.optional_integer(a, what), _fields.optional_integer(b, what))


def _decode_slice_span(value: Any) -> SliceSpan:
    flat, start, stop = _flat_slices(value, "ExecutionSpan")
    return SliceSpan(start, stop, {i: (s, _sl(a, b, "slice")) for i, (s, a, b) in flat.items()})


def _decode_double_slice_span(value: Any) -> DoubleSliceSpan:
    flat, start, stop = _flat_slices(value, "DoubleSliceSpan")
    return DoubleSliceSpan(start, stop, {
        i: (s, _sl(a0, a1, "arg slice"), _sl(s0, s1, "shot slice"))
        for i, (s, a0, a1, s0, s1) in flat.items()
    })


def _at_front(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DecodeError("at_front must be a bool")
    return bool(value)


def _decode_twirled_slice_span(value: Any) -> TwirledSliceSpan:
    flat, start, stop = _flat_slices(value, "TwirledSliceSpan")
    return TwirledSliceSpan(start, stop, {
        i: (s, _at_front(f), _sl(a0, a1, "arg slice"), _sl(s0, s1, "shot slice"))
        for i, (s, f, a0, a1, s0, s1) in flat.items()
    })


def _decode_twirled_slice_span_v2(value: Any) -> TwirledSliceSpanV2:
    flat, start, stop = _flat_slices(value, "TwirledSliceSpanV2")
    return TwirledSliceSpanV2(start, stop, {
        i: (s, _at_front(f), _sl(a0, a1, "arg slice"), _sl(s0, s1, "shot slice"),
            _fields.integer(n, "pub_shots"))
        for i, (s, f, a0, a1, s0, s1, n) in flat.items()
    })


def _decode_execution_spans(value: Any) -> ExecutionSpans:
    f = _fields.fields(value, "ExecutionSpans", ("spans",))
    return ExecutionSpans(_fields.sequence(f["spans"], "ExecutionSpans.spans"))


def _decode_estimator_pub_result(value: Any) -> EstimatorPubResult:
    f = _fields.fields(value, "EstimatorPubResult", ("data",), ("metadata",))
    if not isinstance(f["data"], DataBin):
        raise DecodeError("EstimatorPubResult.data must be a DataBin")
    return EstimatorPubResult(
        data=f["data"], metadata=_fields.mapping(f.get("metadata"), "EstimatorPubResult.metadata")
    )


def _decode_noise_learner_result(value: Any) -> NoiseLearnerResult:
    f = _fields.fields(value, "NoiseLearnerResult", ("data",), ("metadata",))
    return NoiseLearnerResult(
        _fields.sequence(f["data"], "NoiseLearnerResult.data"),
        metadata=_fields.mapping(f.get("metadata"), "NoiseLearnerResult.metadata"),
    )


def _decode_layer_error(value: Any) -> LayerError:
    f = _fields.fields(value, "LayerError", ("circuit", "qubits"), ("error",))
    qubits = [
        _fields.integer(q, "LayerError.qubits")
        for q in _fields.sequence(f["qubits"], "LayerError.qubits")
    ]
    error = f.get("error")
    if error is not None and not isinstance(error, PauliLindbladError):
        raise DecodeError("LayerError.error must be a PauliLindbladError or null")
    return LayerError(f["circuit"], qubits, error)


def _decode_pauli_lindblad_error(value: Any) -> PauliLindbladError:
    f = _fields.fields(value, "PauliLindbladError", ("generators", "rates"))
    if not isinstance(f["generators"], PauliList):
        raise DecodeError("PauliLindbladError.generators must be a PauliList")
    rates = f["rates"]
    if isinstance(rates, (list, tuple)):
        rates = np.asarray(rates, dtype=float)
    if type(rates) is not np.ndarray or rates.dtype.kind not in "iuf":
        raise DecodeError("PauliLindbladError.rates must be a real array")
    return PauliLindbladError(f["generators"], rates)


def register(registry: TypeRegistry) -> None:
    """Register this module's types (declared in qserial.registry.BUILTIN_TYPES)."""
    reg = registry.register
    reg(EstimatorPubResult, "EstimatorPubResult",
        encode=lambda r: {"data": r.data, "metadata": r.metadata},
        decode=_decode_estimator_pub_result)
    # RuntimeEncoder writes a SliceSpan under the tag of its base class.
    reg(SliceSpan, "ExecutionSpan", encode=_encode_slice_span, decode=_decode_slice_span)
    reg(DoubleSliceSpan, "DoubleSliceSpan", encode=_encode_double_slice_span,
        decode=_decode_double_slice_span)
    reg(TwirledSliceSpan, "TwirledSliceSpan", encode=_encode_twirled_slice_span,
        decode=_decode_twirled_slice_span)
    reg(TwirledSliceSpanV2, "TwirledSliceSpanV2", encode=_encode_twirled_slice_span_v2,
        decode=_decode_twirled_slice_span_v2)
    reg(ExecutionSpans, "ExecutionSpans", encode=lambda s: {"spans": list(s)},
        decode=_decode_execution_spans, aliases=("ExecutionSpanCollection",))
    reg(NoiseLearnerResult, "NoiseLearnerResult",
        encode=lambda r: {"data": list(r.data), "metadata": r.metadata},
        decode=_decode_noise_learner_result)
    reg(LayerError, "LayerError",
        encode=lambda e: {"circuit": e.circuit, "qubits": list(e.qubits), "error": e.error},
        decode=_decode_layer_error)
    reg(PauliLindbladError, "PauliLindbladError",
        encode=lambda e: {"generators": e.generators, "rates": e.rates},
        decode=_decode_pauli_lindblad_error)

