"""A column named like an index column always is that index column."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

import qserial
from qserial.testing import assert_equal


def _result() -> PrimitiveResult:
    bits = np.array([[1], [2], [3]], np.uint8)
    data = DataBin(shot=BitArray(bits, 2), param=BitArray(bits, 2), pub=BitArray(bits, 2),
                   meas=BitArray(bits[::-1].copy(), 2))
    return PrimitiveResult([SamplerPubResult(data, {"shots": 3})])


@pytest.mark.parametrize("shot_column", [False, True])
def test_registers_named_like_index_columns_stay_in_the_tree(shot_column: bool,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    qserial.dump(_result(), path, shot_column=shot_column)
    names = pq.read_table(path).column_names
    assert names == ["pub", "param", *(["shot"] if shot_column else []), "meas"]
    assert duckdb.sql(f"SELECT * FROM '{path}'").columns == names
    assert_equal(qserial.load(path), _result())
    if shot_column:  # a DuckDB user reading "shot" gets shot indices, never bits
        shots = duckdb.sql(f"SELECT shot FROM '{path}' ORDER BY shot").fetchall()
        assert shots == [(0,), (1,), (2,)]

