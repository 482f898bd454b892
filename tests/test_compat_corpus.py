"""Every file RuntimeEncoder wrote in nine releases loads to what expected.json states.

The corpus (tests/data/compat/runtime-json, see its README) was written once by the real
RuntimeEncoder of each release and is never regenerated. Each file is checked three ways:
against its expected.json entry (classes, shapes, counts, array values and digests,
metadata in neutral form), against what the installed RuntimeDecoder returns for it, and
by writing it back with qserial for RuntimeDecoder to read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.primitives.containers import BitArray
from qiskit_ibm_runtime import RuntimeDecoder
from qiskit_ibm_runtime.execution_span import (
    DoubleSliceSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)

import qserial
from qserial.testing import assert_equal

CORPUS = Path(__file__).parent / "data" / "compat" / "runtime-json"
RELEASES = sorted(
    (p.name for p in CORPUS.iterdir() if p.is_dir()),
    key=lambda v: tuple(int(n) for n in v.split(".")),
)
# Every data file a release folder can hold (local_mode.json is absent before 0.24.0).
KNOWN_FILES = {"sampler_small.json", "sampler_sweep.json", "estimator.json", "local_mode.json"}


def _expected(release: str) -> dict:
    with open(CORPUS / release / "expected.json", encoding="utf-8") as f:
        return json.load(f)


def _cases() -> list:
    return [
        pytest.param(release, name, id=f"{release}/{name}")
        for release in RELEASES
        for name in sorted(_expected(release)["files"])
    ]


CASES = _cases()


# -- the neutral form of the corpus README ---------------------------------------------


def _flat_slices(span: Any) -> dict[str, list]:
    # Spans keep their slices only privately; this is the flat layout of the README.
    out = {}
    for idx, entry in span._data_slices.items():
        shape, rest = list(entry[0]), entry[1:]
        flat: list[Any] = [shape]
        for item in rest:
            flat.extend([item.start, item.stop] if isinstance(item, slice) else [item])
        if type(span) is TwirledSliceSpanV2:
            flat.append(span._pub_shots[idx])
        out[str(idx)] = flat
    return out


_SPAN_CLASSES = (SliceSpan, DoubleSliceSpan, TwirledSliceSpan, TwirledSliceSpanV2)


def neutral(x: Any) -> Any:
    """Map a decoded value to the README's neutral form; refuse anything unexpected."""
    t = type(x)
    if x is None or t in (bool, int, str):
        return x
    if t is float:
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if t is complex:
        return str(x)
    if t is dt.datetime:
        return x.isoformat()
    if t in (list, tuple):
        return [neutral(v) for v in x]
    if t is dict:
        return {str(k): neutral(v) for k, v in x.items()}
    if t is ExecutionSpans:
        return {"__class__": "ExecutionSpans", "spans": [neutral(s) for s in x]}
    if t in _SPAN_CLASSES:
        return {"__class__": t.__name__, "start": x.start.isoformat(),
                "stop": x.stop.isoformat(), "data_slices": _flat_slices(x)}
    raise AssertionError(f"unexpected type {t.__module__}.{t.__qualname__} in decoded data")


def neutral_field(value: Any) -> dict:
    """Describe a DataBin field as expected.json does."""
    if type(value) is BitArray:
        out = {
            "kind": "BitArray", "num_bits": value.num_bits, "num_shots": value.num_shots,
            "shape": list(value.shape), "array_shape": list(value.array.shape),
            "array_sha256": hashlib.sha256(np.ascontiguousarray(value.array).tobytes())
            .hexdigest(),
            "counts": value.get_counts(),
        }
        if value.shape != ():
            out["counts_by_index"] = [
                {"index": list(idx), "counts": value.get_counts(loc=idx)}
                for idx in np.ndindex(value.shape)
            ]
        return out
    if type(value) is np.ndarray:
        return {"kind": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape),
                "values": neutral(value.tolist())}
    raise AssertionError(f"unexpected DataBin field type {type(value).__name__}")


def _strict(x: Any) -> str:
    # == treats 1 == 1.0 == True; the canonical JSON text tells them apart.
    return json.dumps(x, sort_keys=True, allow_nan=False)


def _assert_neutral_equal(actual: Any, expected: Any) -> None:
    assert actual == expected
    assert _strict(actual) == _strict(expected)


def _type_tags(raw: bytes) -> set[str]:
    tags: set[str] = set()

    def hook(obj: dict) -> dict:
        if isinstance(obj.get("__type__"), str):
            tags.add(obj["__type__"])
        return obj

    json.loads(raw, object_hook=hook)
    return tags


def _runtime_decode(data: bytes) -> Any:
    return json.load(io.BytesIO(data), cls=RuntimeDecoder)


# -- the corpus is complete -------------------------------------------------------------


def test_corpus_has_nine_releases() -> None:
    assert RELEASES == ["0.21.0", "0.24.0", "0.29.0", "0.33.0", "0.37.0", "0.41.0",
                        "0.45.0", "0.48.0", "0.51.0"]
    assert len(CASES) == 4 * len(RELEASES) - 1  # 0.21.0 has no local mode


@pytest.mark.parametrize("release", RELEASES)
def test_release_folder_matches_expected(release: str) -> None:
    expected = _expected(release)
    assert expected["format"] == "qserial-compat-expected/1"
    assert expected["writer"]["qiskit_ibm_runtime"] == release
    on_disk = {p.name for p in (CORPUS / release).iterdir()} - {"expected.json"}
    described = set(expected["files"])
    skipped = set(expected.get("skipped", {}))
    assert on_disk == described, "files and expected.json disagree"
    assert not skipped & on_disk, "a skipped file is present"
    assert described | skipped == KNOWN_FILES


# -- each file decodes to what expected.json states --------------------------------------


@pytest.mark.parametrize(("release", "name"), CASES)
def test_file_matches_expected(release: str, name: str) -> None:
    want = _expected(release)["files"][name]
    raw = (CORPUS / release / name).read_bytes()
    assert len(raw) == want["bytes"]
    assert hashlib.sha256(raw).hexdigest() == want["sha256"]
    assert _type_tags(raw) == set(want["type_tags"])

    result = qserial.load(CORPUS / release / name)
    assert type(result).__name__ == want["type"]
    assert len(result) == want["num_pubs"] == len(want["pubs"])
    _assert_neutral_equal(neutral(result.metadata), want["metadata"])
    for i, (pub, pub_want) in enumerate(zip(result, want["pubs"], strict=True)):
        assert type(pub).__name__ == pub_want["type"], f"pub {i}"
        _assert_neutral_equal(neutral(pub.metadata), pub_want["metadata"])
        data_want = pub_want["data"]
        assert list(pub.data) == data_want["field_names"], f"pub {i}"
        assert list(pub.data.shape) == data_want["shape"], f"pub {i}"
        fields = {k: neutral_field(v) for k, v in pub.data.items()}
        _assert_neutral_equal(fields, data_want["fields"])


@pytest.mark.parametrize(("release", "name"), CASES)
def test_file_equals_runtime_decoder(release: str, name: str) -> None:
    raw = (CORPUS / release / name).read_bytes()
    assert_equal(qserial.loads(raw), _runtime_decode(raw), exact=True)


@pytest.mark.parametrize(("release", "name"), CASES)
def test_written_back_runtime_decoder_reads_equal(release: str, name: str) -> None:
    result = qserial.load(CORPUS / release / name)
    data = qserial.dumps(result)
    assert_equal(_runtime_decode(data), result, exact=True)
    assert_equal(qserial.loads(data), result, exact=True)


def test_neutral_form_catches_a_change() -> None:
    # The comparison must be able to fail: a flipped bit and a retyped value are seen.
    result = qserial.load(CORPUS / "0.51.0" / "sampler_small.json")
    meas = result[0].data.meas
    flipped = BitArray(meas.array ^ np.uint8(1), meas.num_bits)
    want = _expected("0.51.0")["files"]["sampler_small.json"]["pubs"][0]["data"]["fields"]
    assert neutral_field(flipped) != want["meas"]
    with pytest.raises(AssertionError):
        _assert_neutral_equal(neutral({"version": 2.0}), {"version": 2})
