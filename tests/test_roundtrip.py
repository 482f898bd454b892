"""Every registered type round-trips through the tree exactly and through JSON as documented.

The tree round trip (``to_tree`` then ``from_tree``) must be exact. JSON keeps
RuntimeEncoder's layout, so it loses what the documented lossy points say (tuples
become lists, dict keys strings, numpy scalars Python numbers) and nothing else:
``assert_equal(..., exact=False)`` compares exactly that way.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qserial
from qserial.testing import assert_equal, lossy_json_view
from qserial.testing.conformance import real_results
from qserial.testing.strategies import for_tag, primitive_results, strategy_names

TAGS = strategy_names()


@pytest.mark.parametrize("tag", TAGS)
@given(data=st.data())
def test_round_trip(tag: str, data: st.DataObject) -> None:
    obj = data.draw(for_tag(tag), label=tag)
    tree = qserial.to_tree(obj)
    assert_equal(qserial.from_tree(tree), obj)
    assert_equal(qserial.loads(qserial.dumps(obj)), obj, exact=False)


@settings(max_examples=max(1, settings.default.max_examples // 4))
@given(primitive_results())
def test_realistic_results_tree_round_trip(result) -> None:
    assert_equal(qserial.from_tree(qserial.to_tree(result)), result)
    assert_equal(qserial.loads(qserial.dumps(result)), result, exact=False)


@pytest.mark.parametrize("name", ["sampler", "estimator", "local_mode"])
def test_real_results_through_json_files(name: str, tmp_path) -> None:
    results = real_results()
    if name not in results:
        pytest.skip("qiskit-aer is not installed")
    result = results[name]
    path = tmp_path / f"{name}.json"
    qserial.dump(result, path)
    loaded = qserial.load(path)
    # Real results hold nothing JSON loses, so they come back exactly.
    assert_equal(loaded, result)
    assert type(loaded) is type(result)
    assert [type(p) for p in loaded] == [type(p) for p in result]
    for pub, orig in zip(loaded, result, strict=True):
        assert list(pub.data) == list(orig.data)
        for field in orig.data:
            value, expected = pub.data[field], orig.data[field]
            if isinstance(expected, np.ndarray):
                np.testing.assert_array_equal(value, expected)
            else:  # BitArray: same bits, same counts
                assert value == expected
                assert value.get_counts() == expected.get_counts()
    # The file is the RuntimeEncoder layout: plain JSON with __type__ tags.
    doc = json.loads(path.read_text())
    assert doc["__type__"] == "PrimitiveResult"


def test_lossy_points_are_exactly_the_documented_ones() -> None:
    obj = {"t": (1, (2, 3)), "k": {1: "a", 2.5: "b", None: "c"}, "n": np.float32(1.5),
           "i": np.int16(-3), "b": np.bool_(True), "z": np.complex64(1 - 2j)}
    loaded = qserial.loads(qserial.dumps(obj))
    assert loaded == {"t": [1, [2, 3]], "k": {"1": "a", "2.5": "b", "null": "c"}, "n": 1.5,
                      "i": -3, "b": True, "z": 1 - 2j}
    assert type(loaded["n"]) is float and type(loaded["i"]) is int
    assert_equal(loaded, obj, exact=False)
    with pytest.raises(AssertionError):
        assert_equal(loaded, obj)
    # Nothing beyond those points: the view of the original is what the file holds.
    assert_equal(qserial.to_tree(loaded), lossy_json_view(qserial.to_tree(obj)))
