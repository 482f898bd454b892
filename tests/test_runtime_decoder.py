"""``json.load(f, cls=RuntimeDecoder)`` reads what ``qserial.dump`` writes, for real results.

Also: the JSON qserial writes has RuntimeEncoder's tags and layout, and numpy scalars that
RuntimeEncoder refuses are written as the equivalent Python values.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.primitives.containers import BitArray, PrimitiveResult, SamplerPubResult
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder
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

import qserial
from qserial import scenarios
from qserial.testing import assert_equal, first_difference
from tests import _results

# Builders whose results survive the JSON format exactly (no numpy scalars inside).
EXACT = {
    "sampler": _results.sampler_result,
    "estimator": _results.estimator_result,
    "spans": _results.spans_result,
    "estimator_pub_result": _results.estimator_pub_result,
    "noise_learner": _results.noise_learner_result,
}
LOCAL = {
    "local_sampler": _results.local_mode_result,
    "local_estimator": _results.local_estimator_result,
}


def _needs_aer() -> None:
    pytest.importorskip("qiskit_aer", reason="local mode needs qiskit-aer")


def _runtime_read(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f, cls=RuntimeDecoder)


def _dump_and_read(result: Any, tmp_path: Path, **options: Any) -> Any:
    path = tmp_path / "result.json"
    qserial.dump(result, path, **options)
    return _runtime_read(path)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_runtime_decoder_reads_exactly(name: str, tmp_path: Path) -> None:
    result = EXACT[name]()
    assert_equal(_dump_and_read(result, tmp_path), result, exact=True)


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_runtime_decoder_reads_local_mode(name: str, tmp_path: Path) -> None:
    _needs_aer()
    result = LOCAL[name]()
    back = _dump_and_read(result, tmp_path)
    # Local mode's estimator keeps a 0-d pub's stds as a numpy scalar: it comes back as
    # the Python float, one of the JSON format's documented lossy points.
    assert_equal(back, result, exact=False)
    assert_equal(qserial.load(tmp_path / "result.json"), result, exact=False)


def test_local_estimator_scalar_is_the_only_loss(tmp_path: Path) -> None:
    _needs_aer()
    result = _results.local_estimator_result()
    back = _dump_and_read(result, tmp_path)
    diff = first_difference(back, result, exact=True)
    assert diff is not None and "pub_results[1].data.fields.stds" in diff
    assert type(back[1].data.stds) is float
    assert back[1].data.stds == result[1].data.stds


def test_sampler_classes_and_registers(tmp_path: Path) -> None:
    result = _results.sampler_result()
    back = _dump_and_read(result, tmp_path)
    assert type(back) is PrimitiveResult
    assert [type(p) for p in back] == [SamplerPubResult] * 3
    assert list(back[1].data) == ["alpha", "beta"]
    assert back[1].data.beta.num_bits == 10
    assert back[2].data.shape == (4, 5)
    assert back[2].data.meas.get_counts(loc=(3, 4)) == result[2].data.meas.get_counts(loc=(3, 4))


def test_every_span_kind(tmp_path: Path) -> None:
    back = _dump_and_read(_results.spans_result(), tmp_path)
    spans = back.metadata["execution"]["execution_spans"]
    assert type(spans) is ExecutionSpans
    assert [type(s) for s in spans] == [
        SliceSpan, DoubleSliceSpan, DoubleSliceSpan, TwirledSliceSpan, TwirledSliceSpanV2,
    ]
    want = _results.spans_metadata()["execution"]["execution_spans"]
    for got, exp in zip(spans, want, strict=True):
        assert got.start == exp.start and got.stop == exp.stop
        assert got.pub_idxs == exp.pub_idxs
        for idx in exp.pub_idxs:
            assert np.array_equal(got.mask(idx), exp.mask(idx))


def test_estimator_pub_result(tmp_path: Path) -> None:
    back = _dump_and_read(_results.estimator_pub_result(), tmp_path)
    assert [type(p) for p in back] == [EstimatorPubResult] * 3
    assert back[1].data.shape == ()


def test_noise_learner_result(tmp_path: Path) -> None:
    result = _results.noise_learner_result()
    back = _dump_and_read(result, tmp_path)
    assert type(back) is NoiseLearnerResult
    assert [type(e) for e in back.data] == [LayerError, LayerError]
    assert type(back.data[0].error) is PauliLindbladError
    assert back.data[0].error.generators == result.data[0].error.generators
    assert np.array_equal(back.data[0].error.rates, result.data[0].error.rates)
    assert back.data[0].circuit == result.data[0].circuit
    assert back.data[1].error is None and back.data[1].qubits == [3]


def test_numpy_scalars_runtime_encoder_refuses(tmp_path: Path) -> None:
    scalars = _results.numpy_scalars()
    refused = []
    for name, value in scalars.items():
        try:
            json.dumps(value, cls=RuntimeEncoder)
        except TypeError:
            refused.append(name)
    # The point of the test: these really are refused by RuntimeEncoder.
    assert {"float32", "int32", "bool_", "complex64", "uint64", "float16"} <= set(refused)

    back = _dump_and_read({"scalars": scalars}, tmp_path)["scalars"]
    assert list(back) == list(scalars)
    for name, value in scalars.items():
        want = value.item()
        got = back[name]
        assert type(got) is type(want), name
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got), name
        else:
            assert got == want, name


def test_numpy_scalars_in_result_metadata(tmp_path: Path) -> None:
    result = _results.numpy_scalar_metadata_result()
    with pytest.raises(TypeError):
        json.dumps(result, cls=RuntimeEncoder)
    back = _dump_and_read(result, tmp_path)
    assert_equal(back, result, exact=False)
    assert type(back[0].metadata["scalars"]["float32"]) is float
    assert back[0].metadata["scalars"]["float32"] == float(np.float32(1 / 3))


def test_low_entropy_ghz_result(tmp_path: Path) -> None:
    result = _results.ghz_result()
    back = _dump_and_read(result, tmp_path)
    assert_equal(back, result, exact=True)
    assert set(back[0].data.meas.get_counts()) == {"0" * 20, "1" * 20}


@pytest.mark.parametrize("build", [
    lambda: scenarios.biased_sweep(pubs=2, params=3, shots=2000),
    lambda: scenarios.mixed_sweep(pubs=2, params=3, shots=2000),  # stored and compressed arrays
    lambda: scenarios.ghz(),
], ids=["biased", "mixed", "noisy-ghz"])
def test_every_auto_compression_choice(build: Any, tmp_path: Path) -> None:
    result = build()
    assert_equal(_dump_and_read(result, tmp_path), result, exact=True)


def test_random_bit_sweep(tmp_path: Path) -> None:
    result = _results.random_sweep_result()
    assert result[0].data.meas.array.nbytes * len(result) > 32e6  # about 44 MB of JSON
    back = _dump_and_read(result, tmp_path)
    assert_equal(back, result, exact=True)


def test_runtime_decoder_comparison_can_fail(tmp_path: Path) -> None:
    result = _results.sampler_result()
    back = _dump_and_read(result, tmp_path)
    meas = back[0].data.meas
    changed = PrimitiveResult(
        [SamplerPubResult(type(back[0].data)(meas=BitArray(meas.array[::-1], meas.num_bits)),
                          back[0].metadata), *list(back)[1:]],
        metadata=back.metadata,
    )
    with pytest.raises(AssertionError, match=r"\$\.pub_results\[0\]\.data"):
        assert_equal(changed, result)


# -- same tags and layout as RuntimeEncoder ----------------------------------------------


def _canonical(doc: Any) -> Any:
    """A JSON document with arrays compared by their .npy bytes, not their compression."""
    if isinstance(doc, dict):
        tag, value = doc.get("__type__"), doc.get("__value__")
        if tag == "ndarray" and isinstance(value, str):
            return {"__type__": tag, "npy": zlib.decompress(base64.b64decode(value))}
        if tag == "QuantumCircuit":
            # RuntimeEncoder caps the QPY version at what the service reads; the circuit
            # itself is compared through RuntimeDecoder elsewhere.
            return {"__type__": tag}
        return {k: _canonical(v) for k, v in doc.items() if k != "__qserial__"}
    if isinstance(doc, list):
        return [_canonical(v) for v in doc]
    return doc


@pytest.mark.parametrize("name", sorted(EXACT) + sorted(LOCAL))
def test_layout_is_runtime_encoders(name: str) -> None:
    if name in LOCAL:
        _needs_aer()
    result = {**EXACT, **LOCAL}[name]()
    ours = json.loads(qserial.dumps(result))
    theirs = json.loads(json.dumps(result, cls=RuntimeEncoder))
    assert _canonical(ours) == _canonical(theirs)


def test_header_member_is_ignored_by_runtime_decoder(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    qserial.dump(_results.sampler_result(), path)
    doc = json.loads(path.read_bytes())
    assert doc["__qserial__"]["format"] == "qserial-json"
    assert type(_runtime_read(path)) is PrimitiveResult
