"""Fixtures shared by the Parquet plugin's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import qserial


@pytest.fixture
def written(sweep: Any, tmp_path: Path) -> Path:
    """The module's ``sweep`` fixture written to a Parquet file."""
    path = tmp_path / "sweep.parquet"
    qserial.dump(sweep, path)
    return path
