"""Dataset names: a name without "#" holds the array of exactly the key it decodes to."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

import qserial
from qserial.testing import assert_equal

TRICKY = ["a_b", "a/b", "Zürich", "Z_rich", "Z?rich", "x_1", "x", ".", "..", "a%2Fb",
          "m#1", "m", "", " ", "%", "\t", "🙂", "é" * 40, "é" * 41]


def _result(names: list[str]) -> PrimitiveResult:
    # Field i holds bits of value i + 1: a dataset's bytes say which field it is.
    fields = {name: BitArray(np.full((3, 1), i + 1, np.uint8), 8)
              for i, name in enumerate(names)}
    metadata = {"m": [np.zeros(2), np.ones(2)], names[0]: np.arange(3.0)}
    return PrimitiveResult([SamplerPubResult(DataBin(**fields), metadata)])


def _check(names: list[str], path: Path) -> None:
    result = _result(names)
    qserial.dump(result, path)
    assert_equal(qserial.load(path), result)
    with h5py.File(path, "r") as f:
        group = f["pub_results/0"]
        plain = [name for name in group if "#" not in name]
        for name in plain:
            key = unquote(name)
            if key in names:  # a register: its own bits, nothing else
                assert group[name][()].tolist() == [[names.index(key) + 1]] * 3, name
        # Every register that fits is under its own name.
        found = {unquote(name) for name in plain}
        assert {n for n in names if len(n.encode()) * 3 <= 64 and n} <= found


def test_tricky_register_names_never_collide(tmp_path: Path) -> None:
    _check(TRICKY, tmp_path / "names.h5")
    with h5py.File(tmp_path / "names.h5", "r") as f:
        group = f["pub_results/0"]
        assert group["a_b"][()].tolist() == [[1]] * 3
        assert group["a%2Fb"][()].tolist() == [[2]] * 3
        assert group["Z%C3%BCrich"][()].tolist() == [[3]] * 3
        assert group["a%252Fb"][()].tolist() == [[10]] * 3


@pytest.mark.parametrize("order", [1, -1])
def test_names_do_not_depend_on_the_order_of_fields(order: int, tmp_path: Path) -> None:
    _check(["a/b", "a_b", "a%2Fb"][::order], tmp_path / "order.h5")


@given(st.lists(st.text(max_size=6), min_size=1, max_size=5, unique=True))
def test_any_register_names(names: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        _check(names, Path(folder) / "any.h5")
