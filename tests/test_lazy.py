"""qserial.open: pubs read when touched, verified, on a file that must not change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

import qserial
from qserial.testing import assert_equal
from tests._results import local_mode_result, spans_metadata, spans_result

SUFFIX = {"json": ".json", "msgpack": ".msgpack", "hdf5": ".h5", "parquet": ".parquet"}
FORMATS = [f for f in SUFFIX if f in qserial.list_formats()]
LAZY = [f for f in FORMATS if qserial.formats.get_format(f).supports("lazy")]


def _written(result: Any, fmt: str, folder: Path, name: str = "r") -> Path:
    path = folder / f"{name}{SUFFIX[fmt]}"
    qserial.dump(result, path, format=fmt)
    return path


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_lazy_formats_declare_it() -> None:
    for name in ("hdf5", "parquet"):
        if name in FORMATS:
            assert name in LAZY
    assert "json" not in LAZY


@pytest.mark.parametrize("fmt", FORMATS)
def test_open_reads_like_load(fmt: str, tmp_path: Path) -> None:
    for result in (spans_result(), local_mode_result()):
        path = _written(result, fmt, tmp_path)
        exact = fmt != "json"
        with qserial.open(path) as got:
            assert got.lazy == (fmt in LAZY)
            assert got.format == fmt and got.path == str(path)
            assert len(got) == len(result)
            assert_equal(got[0], result[0], exact=exact)
            assert_equal(got[-1], result[-1], exact=exact)
            assert_equal(got[np.int64(0)], result[0], exact=exact)
            assert_equal(got[::2], list(result)[::2], exact=exact)
            assert_equal(list(got), list(result), exact=exact)
            assert_equal(got.metadata, result.metadata, exact=exact)
            with pytest.raises(qserial.PubIndexError):
                got[len(result)]
            with pytest.raises(TypeError):
                got["0"]
        assert got.closed


@pytest.mark.parametrize("fmt", FORMATS)
def test_closing_releases_the_file(fmt: str, tmp_path: Path) -> None:
    path = _written(spans_result(), fmt, tmp_path)
    before = _open_fds()
    with qserial.open(path) as got:
        first = got[1]
    assert _open_fds() == before
    assert got.closed and "closed" in repr(got)
    with pytest.raises(ValueError, match="closed"):
        got[0]
    # What was read stays valid.
    assert_equal(first, spans_result()[1], exact=fmt != "json")


def _marked_sweep(pubs: int = 6, marked: int = 4) -> PrimitiveResult:
    """Pubs of random 32-bit shots: incompressible, so every format stores them plainly."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(pubs):
        meas = BitArray(rng.integers(0, 256, (4096, 4), dtype=np.uint8), 32)
        out.append(SamplerPubResult(DataBin(meas=meas), metadata={"shots": 4096}))
    return PrimitiveResult(out, metadata=spans_metadata())


@pytest.mark.parametrize("fmt", LAZY)
def test_only_the_pubs_touched_are_read(fmt: str, tmp_path: Path) -> None:
    """Damage to pub 4's shots goes unseen until pub 4 is read, and is caught then."""
    result = _marked_sweep()
    path = _written(result, fmt, tmp_path)
    data = bytearray(path.read_bytes())
    shots = result[4].data.meas.array
    # As stored: the shots' bytes, or (Parquet) the shots as little-endian integers.
    for stored in (shots.tobytes(), shots.view(">u4").astype("<u4").tobytes()):
        needle = stored[2000:2016]
        at = data.find(needle)
        if at >= 0:
            break
    assert at >= 0 and data.find(needle, at + 1) < 0
    data[at + 8] ^= 0x10
    path.write_bytes(data)
    with qserial.open(path) as got:
        assert len(got) == 6
        assert_equal(got.metadata, result.metadata)
        for i in (0, 1, 2, 3, 5):
            assert_equal(got[i], result[i])
        with pytest.raises(qserial.IntegrityError) as info:
            got[4]
        assert info.value.path is not None and "pub_results[4]" in info.value.path
    with pytest.raises(qserial.IntegrityError):
        qserial.load(path)


@pytest.mark.parametrize("fmt", LAZY)
def test_a_replaced_file_is_detected(fmt: str, tmp_path: Path) -> None:
    path = _written(spans_result(), fmt, tmp_path)
    with qserial.open(path) as got:
        assert_equal(got[0], spans_result()[0])
        qserial.dump(_marked_sweep(), path)  # atomic: a new file under the old name
        with pytest.raises(qserial.FileChangedError, match="replaced or modified"):
            got[0]
        with pytest.raises(qserial.FileChangedError):
            _ = got.metadata


@pytest.mark.parametrize("fmt", LAZY)
def test_a_file_modified_in_place_is_detected(fmt: str, tmp_path: Path) -> None:
    path = _written(spans_result(), fmt, tmp_path)
    with qserial.open(path) as got:
        size = path.stat().st_size
        with open(path, "r+b") as f:  # same bytes, written again: only the time changes
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(byte)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        with pytest.raises(qserial.FileChangedError):
            got[1]
    path.unlink()
    path = _written(spans_result(), fmt, tmp_path)
    with qserial.open(path) as got:
        path.unlink()
        with pytest.raises(qserial.FileChangedError, match="gone"):
            got[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_open_needs_a_primitive_result(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"x{SUFFIX[fmt]}"
    qserial.dump({"counts": {"00": 3}}, path, format=fmt)
    before = _open_fds()
    with pytest.raises(qserial.DecodeError, match="PrimitiveResult"):
        qserial.open(path)
    assert _open_fds() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_damaged_header_fails_on_open(fmt: str, tmp_path: Path) -> None:
    path = _written(spans_result(), fmt, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) - 40] ^= 0x04  # in every format's trailing structure or digest
    path.write_bytes(data)
    with pytest.raises(qserial.QSerialError):
        with qserial.open(path) as got:
            _ = got.metadata
            list(got)


def test_streams_are_loaded_whole(tmp_path: Path) -> None:
    data = qserial.dumps(spans_result(), format=FORMATS[-1])
    import io

    with qserial.open(io.BytesIO(data)) as got:
        assert not got.lazy and got.path is None
        assert_equal(list(got), list(spans_result()))
