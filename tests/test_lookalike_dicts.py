"""Plain dicts that look like tagged values come back as themselves, in every format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import StatevectorSampler
from qiskit_ibm_runtime import RuntimeDecoder

import qserial
from qserial.testing import assert_equal

LOOKALIKES: list[dict] = [
    {"__type__": "foo", "__value__": 1},
    {"__type__": "complex", "__value__": [1, 2]},
    {"__type__": "ndarray", "__value__": "linear"},
    {"__type__": "settings", "__module__": "os", "__class__": "system", "__value__": 1},
    {"__type__": "to_json", "__value__": {"a": 1}},
    {"__type__": "dict", "__value__": [[1, 2]]},
    {"__type__": "x"},
    {"__type__": 1, "__value__": 2},
    {"__type__": None},
    {"__type__": "foo", "__value__": {"__type__": "bar", "__value__": 3j}},
]
# RuntimeDecoder gives these back as they are (the rest it would decode or fail on).
AS_THEMSELVES = [d for d in LOOKALIKES if "__value__" in d and d["__type__"] not in (
    "complex", "ndarray", "settings", "to_json") and not isinstance(d["__value__"], dict)]


def _result(metadata: dict) -> Any:
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    result = StatevectorSampler(seed=1).run([circuit], shots=4).result()
    result.metadata.update(metadata)
    return result


@pytest.mark.parametrize("fmt", qserial.list_formats())
def test_lookalike_dicts_round_trip(fmt: str) -> None:
    exact = fmt not in ("json", "jsongz")
    for value in LOOKALIKES:
        for obj in ({"metadata": {"x": [value]}}, value, _result({"user": value})):
            got = qserial.loads(qserial.dumps(obj, format=fmt), format=fmt)
            assert_equal(got, obj, exact=exact)
            assert type(got) is type(obj)


def test_a_top_level_dict_with_the_header_key_round_trips() -> None:
    obj = {"__qserial__": {"version": "9.0"}, "a": 1}
    assert qserial.loads(qserial.dumps(obj)) == obj
    assert json.loads(qserial.dumps(obj), cls=RuntimeDecoder) == obj


def test_the_header_never_goes_into_a_users_dict() -> None:
    for value in LOOKALIKES:
        doc = json.loads(qserial.dumps(value))
        # The header sits beside qserial's wrapper, never among the user's keys.
        assert "__qserial__" in doc and doc["__type__"] in ("to_json", "dict")
        inner = doc["__value__"]
        assert "__qserial__" not in (inner if isinstance(inner, dict) else dict(inner))


@pytest.mark.parametrize("value", LOOKALIKES, ids=repr)
def test_runtime_decoder_reads_them(value: dict) -> None:
    for obj in ({"metadata": value}, value):
        got = json.loads(qserial.dumps(obj), cls=RuntimeDecoder)  # never raises
        if value in AS_THEMSELVES:
            got = got if obj is value else got["metadata"]
            assert got == value


def test_runtime_encoder_files_keep_reading_a_to_json_dict_as_runtime_decoder_does() -> None:
    doc = ('{"__type__": "to_json", '
           '"__value__": {"a": {"__type__": "complex", "__value__": [1, 2]}}}')
    assert qserial.loads(doc) == json.loads(doc, cls=RuntimeDecoder) == {"a": 1 + 2j}
    with pytest.raises(qserial.UnknownTagError, match="to_json"):
        qserial.loads('{"__type__": "to_json", "__value__": "text"}')
