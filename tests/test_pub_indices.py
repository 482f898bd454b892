"""``load(..., pubs=...)`` takes any integers, numpy's included, in every format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import StatevectorSampler

import qserial
from qserial.api import select_pubs
from qserial.formats import get_format
from qserial.testing import assert_equal


@pytest.fixture(scope="module")
def result() -> Any:
    circuits = []
    for n in (1, 2, 3):
        circuit = QuantumCircuit(n)
        circuit.h(range(n))
        circuit.measure_all()
        circuits.append(circuit)
    return StatevectorSampler(seed=3).run(circuits, shots=16).result()


@pytest.mark.parametrize("fmt", qserial.list_formats())
def test_numpy_integers_select_pubs(fmt: str, result: Any, tmp_path: Path) -> None:
    path = tmp_path / f"r{get_format(fmt).suffixes[0]}"
    qserial.dump(result, path, format=fmt)
    expected = qserial.load(path, pubs=[2, 0])
    for pubs in ([np.int64(2), np.int32(0)], np.array([2, 0]), (np.uint8(2), -3),
                 [np.intp(-1), 0]):
        got = qserial.load(path, pubs=pubs)
        assert_equal(got, expected)
        with path.open("rb") as stream:
            assert_equal(qserial.load(stream, pubs=pubs, format=fmt), expected)
    # The format's own partial path takes them too, not only qserial.load.
    fmt_ = get_format(fmt)
    tree = (fmt_.load_path(str(path), pubs=[np.int64(2)]) if fmt_.supports_partial
            else select_pubs(qserial.load_tree(path), [np.int64(2)]))
    assert_equal(qserial.from_tree(tree), qserial.load(path, pubs=[2]))

@pytest.mark.parametrize("fmt", qserial.list_formats())
@pytest.mark.parametrize("pubs", [[1.0], [True], [np.bool_(True)], ["0"], 2, "0", [3],
                                  [np.int64(-4)], None],
                         ids=["float", "bool", "np.bool_", "str index", "int", "str",
                              "past the end", "before the start", "None index"])
def test_bad_pub_indices_raise_pub_index_error(fmt: str, pubs: Any, result: Any,
                                               tmp_path: Path) -> None:
    path = tmp_path / f"r{get_format(fmt).suffixes[0]}"
    qserial.dump(result, path, format=fmt)
    with pytest.raises(qserial.PubIndexError):
        qserial.load(path, pubs=[None] if pubs is None else pubs)
