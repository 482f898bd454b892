"""The public API: dump/load/dumps/loads, format choice, partial loads, atomic writes."""

from __future__ import annotations

import errno
import importlib
import io
import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from qiskit.primitives.containers import PrimitiveResult

import qserial
from qserial import (
    DecodeError,
    Format,
    FormatNotInstalledError,
    QSerialError,
    UnknownFormatError,
    UnsupportedTypeError,
    WriteError,
)
from qserial.formats.json import JSONFormat
from qserial.testing import assert_equal
from tests import _results


@pytest.fixture
def result() -> PrimitiveResult:
    return _results.sampler_result()


class ReversedJSON(Format):
    """A format of its own: JSON written backwards, so it is never sniffed as JSON."""

    name = "reversed-json"
    suffixes = (".nosj",)

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        buf = io.BytesIO()
        JSONFormat().dump(tree, buf, **options)
        stream.write(buf.getvalue()[::-1])

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        return JSONFormat().load(io.BytesIO(stream.read()[::-1]), **options)


class FailingFormat(Format):
    """Writes part of a file, then fails as a full disk would."""

    name = "failing"

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        stream.write(b'{"partial": ')
        raise OSError(errno.ENOSPC, "No space left on device")


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- paths, streams, bytes -----------------------------------------------------------------


@pytest.mark.parametrize("as_str", [True, False])
def test_dump_load_path(result: PrimitiveResult, tmp_path: Path, as_str: bool) -> None:
    path = tmp_path / "result.json"
    target = str(path) if as_str else path
    qserial.dump(result, target)
    assert path.read_bytes().startswith(b'{"__type__": "PrimitiveResult"')
    assert_equal(qserial.load(target), result)
    assert _listing(tmp_path) == ["result.json"]


def test_dump_load_binary_file_objects(result: PrimitiveResult, tmp_path: Path) -> None:
    buf = io.BytesIO()
    qserial.dump(result, buf)
    buf.seek(0)
    assert_equal(qserial.load(buf), result)

    path = tmp_path / "result.bin"
    with open(path, "wb") as f:
        qserial.dump(result, f)
    with open(path, "rb") as f:
        assert_equal(qserial.load(f), result)


def test_load_from_unseekable_stream(result: PrimitiveResult) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            return self._data.readinto(b)

    assert_equal(qserial.load(io.BufferedReader(Pipe(qserial.dumps(result)))), result)


def test_load_stream_from_its_current_position(result: PrimitiveResult) -> None:
    buf = io.BytesIO(b"HEAD" + qserial.dumps(result))
    buf.read(4)
    assert_equal(qserial.load(buf), result)


def test_dumps_loads_bytes_and_str(result: PrimitiveResult) -> None:
    data = qserial.dumps(result)
    assert type(data) is bytes
    for form in (data, data.decode("utf-8"), bytearray(data), memoryview(data)):
        assert_equal(qserial.loads(form), result)


def test_dumps_passes_options(result: PrimitiveResult) -> None:
    assert b"\n  " in qserial.dumps(result, indent=2)
    assert b"\n" not in qserial.dumps(result)


def test_formats_lists_json_first() -> None:
    names = qserial.list_formats()
    assert names[0] == "json"
    assert len(names) == len(set(names))


# -- choosing the format ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["result.json", "RESULT.JSON", "run.1.json"])
def test_format_from_suffix_on_write(result: PrimitiveResult, tmp_path: Path, name: str) -> None:
    qserial.dump(result, tmp_path / name)
    json.loads((tmp_path / name).read_bytes())  # it is JSON
    assert_equal(qserial.load(tmp_path / name), result)


@pytest.mark.parametrize("name", ["result.txt", "result", "result.json.bak"])
def test_unknown_suffix_lists_known_formats(result: PrimitiveResult, tmp_path: Path,
                                            name: str) -> None:
    with pytest.raises(UnknownFormatError) as info:
        qserial.dump(result, tmp_path / name)
    message = str(info.value)
    assert "json" in message and ".json" in message
    for fmt in qserial.list_formats():
        assert fmt in message
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(("suffix", "fmt", "package"), [
    (".h5", "hdf5", "qserial-hdf5"),
    (".hdf5", "hdf5", "qserial-hdf5"),
    (".msgpack", "msgpack", "qserial-msgpack"),
    (".mpk", "msgpack", "qserial-msgpack"),
    (".parquet", "parquet", "qserial-parquet"),
    (".pq", "parquet", "qserial-parquet"),
])
def test_known_but_missing_format(result: PrimitiveResult, tmp_path: Path, suffix: str,
                                  fmt: str, package: str, monkeypatch: pytest.MonkeyPatch
                                  ) -> None:
    # Discovery is made to find JSON alone, whatever is installed here.
    # (qserial.formats is the function; the module is reached through importlib.)
    monkeypatch.setattr(importlib.import_module("qserial.formats"), "_formats",
                        {"json": JSONFormat()})
    assert qserial.list_formats() == ["json"]
    with pytest.raises(FormatNotInstalledError) as info:
        qserial.dump(result, tmp_path / f"x{suffix}")
    assert package in str(info.value) and "json" in str(info.value)
    assert _listing(tmp_path) == []
    with pytest.raises(FormatNotInstalledError, match=package):
        qserial.dumps(result, format=fmt)


def test_unknown_format_name(result: PrimitiveResult) -> None:
    with pytest.raises(UnknownFormatError, match="json"):
        qserial.dumps(result, format="yaml")


@pytest.mark.parametrize("spec", ["json", "JSON", JSONFormat, JSONFormat()])
def test_format_accepts_name_class_or_instance(result: PrimitiveResult, tmp_path: Path,
                                               spec: Any) -> None:
    path = tmp_path / "result.data"  # the suffix says nothing
    qserial.dump(result, path, format=spec)
    assert_equal(qserial.load(path, format=spec), result)
    assert_equal(qserial.loads(qserial.dumps(result, format=spec), format=spec), result)


def test_format_class_of_its_own_is_used(result: PrimitiveResult, tmp_path: Path) -> None:
    path = tmp_path / "result.json"  # the suffix lies; format= wins
    qserial.dump(result, path, format=ReversedJSON)
    assert path.read_bytes().endswith(b"{")
    assert_equal(qserial.load(path, format=ReversedJSON), result)
    with pytest.raises(QSerialError):
        qserial.load(path)  # not JSON, and no installed format claims it


def test_sniffing_beats_a_lying_suffix(result: PrimitiveResult, tmp_path: Path) -> None:
    for name in ("result.h5", "result.parquet", "result.bin"):
        path = tmp_path / name
        qserial.dump(result, path, format="json")
        assert_equal(qserial.load(path), result)


@pytest.mark.parametrize("data", [b"", b"   \n"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(data)
    with pytest.raises(QSerialError):
        qserial.load(path)
    with pytest.raises(QSerialError):
        qserial.loads(data)


def test_unrecognised_content(tmp_path: Path) -> None:
    path = tmp_path / "noise.dat"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(UnknownFormatError, match="json"):
        qserial.load(path)


@pytest.mark.parametrize("fmt", qserial.list_formats())
def test_detect_format_tells_what_load_reads(result: PrimitiveResult, tmp_path: Path,
                                             fmt: str) -> None:
    path = tmp_path / "result.bin"  # a suffix that names no format: the content decides
    qserial.dump(result, path, format=fmt)
    assert qserial.detect_format(path).name == fmt
    assert qserial.detect_format(str(path)).name == fmt
    stream = io.BytesIO(b"prefix" + path.read_bytes())
    stream.seek(6)
    assert qserial.detect_format(stream).name == fmt
    assert stream.tell() == 6  # left where it was, for the load that follows
    assert_equal(qserial.load(stream, format=fmt), result)


def test_detect_format_refusals(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(QSerialError, match="empty"):
        qserial.detect_format(empty)
    noise = tmp_path / "noise.dat"
    noise.write_bytes(bytes(range(256)))
    with pytest.raises(UnknownFormatError, match="json"):
        qserial.detect_format(noise)

    class OneWay(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            b[:2] = b"{}"
            return 2

    with pytest.raises(ValueError, match="seekable"):
        qserial.detect_format(OneWay())


# -- partial loads -------------------------------------------------------------------------


def test_pubs_selects_and_orders(result: PrimitiveResult, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    qserial.dump(result, path)
    part = qserial.load(path, pubs=[2, 0])
    assert type(part) is PrimitiveResult and len(part) == 2
    assert_equal(part[0], result[2])
    assert_equal(part[1], result[0])
    assert_equal(part.metadata, result.metadata)
    assert_equal(qserial.load(path, pubs=[-1])[0], result[2])
    assert len(qserial.load(path, pubs=[])) == 0
    assert_equal(qserial.loads(path.read_bytes(), pubs=(1,))[0], result[1])


def test_pubs_out_of_range(result: PrimitiveResult) -> None:
    with pytest.raises(qserial.PubIndexError, match="3") as info:
        qserial.loads(qserial.dumps(result), pubs=[3])
    assert isinstance(info.value, IndexError)


def test_pubs_needs_a_primitive_result() -> None:
    with pytest.raises(DecodeError, match="PrimitiveResult"):
        qserial.loads(qserial.dumps({"not": "a result"}), pubs=[0])


# -- atomic writes -------------------------------------------------------------------------


@pytest.fixture
def existing(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "result.json"
    qserial.dump(_results.estimator_result(), path)
    return path, path.read_bytes()


def test_failing_encode_leaves_target(existing: tuple[Path, bytes], result: Any) -> None:
    path, before = existing
    with pytest.raises(UnsupportedTypeError) as info:
        qserial.dump({"result": result, "bad": [object()]}, path)
    assert info.value.path == "$.bad[0]"
    assert path.read_bytes() == before
    assert _listing(path.parent) == [path.name]


def test_failure_inside_the_writer_leaves_target(existing: tuple[Path, bytes]) -> None:
    # Encodable to a tree, but the JSON writer has no form for it: fails mid-file.
    path, before = existing
    with pytest.raises(UnsupportedTypeError) as info:
        qserial.dump({"a": np.arange(3), "z": {(1, 2): "a tuple key"}}, path)
    assert info.value.path == "$.z"
    assert path.read_bytes() == before
    assert _listing(path.parent) == [path.name]


def test_write_error_in_format_leaves_target(existing: tuple[Path, bytes]) -> None:
    path, before = existing
    with pytest.raises(WriteError, match="No space left") as info:
        qserial.dump(_results.sampler_result(), path, format=FailingFormat)
    assert isinstance(info.value, OSError)
    assert path.read_bytes() == before
    assert _listing(path.parent) == [path.name]


def test_write_into_missing_folder(result: PrimitiveResult, tmp_path: Path) -> None:
    with pytest.raises(WriteError):
        qserial.dump(result, tmp_path / "missing" / "result.json")
    assert _listing(tmp_path) == []


def test_overwrite_replaces_whole_file(tmp_path: Path, result: PrimitiveResult) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b"x" * 1_000_000)
    qserial.dump(result, path)
    assert_equal(qserial.load(path), result)
    assert len(path.read_bytes()) == len(qserial.dumps(result))
