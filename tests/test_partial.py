"""Partial reads: the same metadata in every format, pipes, verified headers."""

from __future__ import annotations

import io
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

import qserial
from qserial.api import select_pubs
from qserial.partial import join_spans, restrict_spans, split_spans, stored_placeholder
from qserial.testing import assert_equal, partial_result
from tests._results import local_mode_result, spans_result

SUFFIX = {"json": ".json", "msgpack": ".msgpack", "hdf5": ".h5", "parquet": ".parquet"}
FORMATS = [f for f in SUFFIX if f in qserial.list_formats()]


def _slices(result: Any) -> list[dict]:
    """Each span's data_slices, as plain comparable values."""
    return [{i: repr(v) for i, v in span._data_slices.items()}
            for span in result.metadata["execution"]["execution_spans"]]


def test_spans_are_restricted_and_renumbered() -> None:
    full = spans_result()
    original = _slices(full)
    got = qserial.loads(qserial.dumps(full), pubs=[2, 0])
    # Pub 2 is now 0 and pub 0 is 1; the spans of pub 1 only are gone.
    assert _slices(got) == [
        {1: original[0][0]},
        {0: original[3][2]},
        {0: original[4][2], 1: original[4][0]},
    ]
    spans = got.metadata["execution"]["execution_spans"]
    assert [type(s).__name__ for s in spans] == [
        "SliceSpan", "TwirledSliceSpan", "TwirledSliceSpanV2"]
    stored = full.metadata["execution"]["execution_spans"]
    assert [s.start for s in spans] == [stored[0].start, stored[3].start, stored[4].start]
    assert [[i for i in range(2) if s.contains_pub(i)] for s in spans] == [[1], [0], [0, 1]]
    assert got.metadata["version"] == 2
    # qserial.testing.partial_result gives the same, from the result or from its tree.
    for source in (full, qserial.to_tree(full)):
        expected = partial_result(source, [2, 0])
        assert_equal(got, expected, exact=False)
        assert _slices(expected) == _slices(got)
        assert_equal(expected[0], full[2])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("pubs", [[1], [2, 0], [-1, 1, 1], []])
def test_every_format_gives_the_same_partial_result(fmt: str, pubs: list[int],
                                                    tmp_path: Path) -> None:
    full = spans_result()
    path = tmp_path / f"r{SUFFIX[fmt]}"
    qserial.dump(full, path)
    expected = partial_result(full, pubs)
    got = qserial.load(path, pubs=pubs)
    assert_equal(got, expected, exact=fmt != "json")
    assert _slices(got) == _slices(expected)
    # From a stream too (the formats read streams by another path).
    assert _slices(qserial.load(io.BytesIO(path.read_bytes()), pubs=pubs)) == _slices(expected)


def test_metadata_without_spans_is_kept_as_stored() -> None:
    odd = {"execution": {"execution_spans": [1, 2]}, "other": {"pub": 3}}
    assert restrict_spans(odd, [0]) is odd
    assert restrict_spans({"version": 2}, [0]) == {"version": 2}
    assert restrict_spans(None, [0]) is None


def _span_slices(root: Any) -> list[dict]:
    return _slices(qserial.from_tree(root))


@pytest.mark.parametrize("pubs", [None, [1], [2, 0], [-1 % 3, 1, 1], []])
def test_spans_stored_apart_join_as_a_partial_read_restricts_them(pubs: Any) -> None:
    full = qserial.to_tree(spans_result())
    root, spans, table = split_spans(full, placeholder="apart")
    assert table == [[0], [1], [1], [2], [0, 2]]
    stored = root.value["metadata"]["execution"]["execution_spans"].value["spans"]
    assert stored == "apart"
    read = []

    def read_span(j: int) -> Any:
        read.append(j)
        return spans[j]

    got = join_spans(root, table, read_span, pubs, count=3)
    expected = full if pubs is None else select_pubs(full, pubs)
    assert _span_slices(got) == _span_slices(expected)
    # Only the spans of the selected pubs are read.
    wanted = set(range(3) if pubs is None else pubs)
    assert read == [j for j, row in enumerate(table) if wanted & set(row)]


def test_spans_stored_apart_are_checked_against_their_table() -> None:
    root, spans, table = split_spans(qserial.to_tree(spans_result()))
    with pytest.raises(qserial.DecodeError, match="did not run the pubs"):
        join_spans(root, [[1], *table[1:]], spans.__getitem__, count=3)
    for bad in ("x", [[0], [1], [1], [3], [0, 2]], [[0], [1], [1], [2], [2, 0]],
                [[0], [1], [1], [2], [True, 2]]):
        with pytest.raises(qserial.DecodeError, match="malformed table"):
            join_spans(root, bad, spans.__getitem__, count=3)
    odd = [qserial.Node("ExecutionSpan", {"data_slices": None}), *spans[1:]]
    with pytest.raises(qserial.DecodeError, match="malformed table"):
        join_spans(root, [None, *table[1:]], odd.__getitem__, count=3)
    with pytest.raises(qserial.DecodeError, match="malformed table"):
        join_spans(root, [None, *table[1:]], odd.__getitem__, [0], count=3)
    with pytest.raises(qserial.DecodeError, match="did not run the pubs"):
        join_spans(root, table, odd.__getitem__, [0], count=3)
    with pytest.raises(qserial.DecodeError, match="no place"):
        join_spans(qserial.Node("PrimitiveResult", {"metadata": {}}), table,
                   spans.__getitem__, count=3)


def test_the_placeholder_of_spans_stored_apart_is_found_only_where_they_were() -> None:
    full = qserial.to_tree(spans_result())
    root, _spans, table = split_spans(full, placeholder=qserial.Node("$mine", table_value := [1]))
    assert stored_placeholder(root, "$mine") is table_value
    assert stored_placeholder(root, "$other") is None
    assert stored_placeholder(full, "$mine") is None  # spans inline
    assert stored_placeholder(root.value["metadata"], "$mine") is None  # no PrimitiveResult
    assert table == [[0], [1], [1], [2], [0, 2]]


def test_spans_are_split_only_in_shapes_a_partial_read_restricts() -> None:
    import numpy as np

    full = qserial.to_tree(spans_result())
    spans = full.value["metadata"]["execution"]["execution_spans"].value["spans"]
    assert split_spans(qserial.to_tree(qserial.from_tree(full).metadata)) is None
    assert split_spans(select_pubs(full, [])) is not None
    odd = qserial.Node("PrimitiveResult", {"metadata": {"execution": {
        "execution_spans": qserial.Node("ExecutionSpans", {"spans": [*spans, "odd"]})}}})
    assert split_spans(odd) is None
    with_array = qserial.Node("ExecutionSpan", {**spans[0].value, "extra": np.zeros(2)})
    odd.value["metadata"]["execution"]["execution_spans"].value["spans"] = [with_array]
    assert split_spans(odd) is None


_COMPAT = Path(__file__).parent / "data" / "compat" / "runtime-json"


@pytest.mark.parametrize("fmt", [f for f in ("hdf5", "parquet") if f in FORMATS])
def test_spans_the_service_wrote_are_stored_apart_and_read_by_pub(fmt: str,
                                                                   tmp_path: Path) -> None:
    # The sweeps RuntimeEncoder wrote in each release that reports execution spans.
    sweeps = sorted(_COMPAT.glob("*/sampler_sweep.json"))
    checked = 0
    for source in sweeps:
        result = qserial.load(source)
        if "execution_spans" not in result.metadata.get("execution", {}):
            continue
        tree = qserial.to_tree(result)
        assert split_spans(tree) is not None, source  # the service's spans are split
        path = tmp_path / f"{source.parent.name}{SUFFIX[fmt]}"
        qserial.dump(result, path)
        for k in range(len(result)):
            expected = partial_result(tree, [k])
            got = qserial.load(path, pubs=[k])
            assert_equal(got, expected)
            assert _slices(got) == _slices(expected)
        checked += 1
    assert checked >= 6  # releases 0.29.0 to 0.51.0


def _pipe_writer(data: bytes) -> tuple[int, threading.Thread]:
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as w:
            w.write(data)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return read_fd, thread


@pytest.mark.parametrize("fmt", FORMATS)
def test_partial_load_from_a_pipe(fmt: str) -> None:
    full = spans_result()
    data = qserial.dumps(full, format=fmt)
    read_fd, thread = _pipe_writer(data)
    with open(read_fd, "rb") as pipe:
        assert not pipe.seekable()
        got = qserial.load(pipe, pubs=[2])
    thread.join(10)
    assert_equal(got, qserial.loads(data, pubs=[2]))
    assert len(got) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_load_and_header_from_a_subprocess_pipe(fmt: str, tmp_path: Path) -> None:
    """A real producer's result, streamed through ``cat``'s stdout."""
    result = local_mode_result()
    path = tmp_path / f"r{SUFFIX[fmt]}"
    qserial.dump(result, path, manifest={"note": "piped"})
    for read in (lambda f: qserial.load(f, pubs=[0]), qserial.read_header, qserial.load):
        with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as proc:
            got = read(proc.stdout)
        if isinstance(got, dict):
            assert got["manifest"] == {"note": "piped"}
        else:
            assert_equal(got, result, exact=fmt != "json")


def test_an_unreadable_stream_is_a_qserial_error() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            raise OSError("device gone")

    with pytest.raises(qserial.DecodeError, match="cannot read the stream: device gone"):
        qserial.load(Broken(), pubs=[0])


MANIFEST = {"provenance": {"job_id": "d1abc23efgh45ijk", "backend": "ibm_kyiv",
                           "tags": ["calibration", "run-7"]},
            "note": "calibration run of the 7th"}


def _flips(data: bytes, needle: bytes) -> list[bytes]:
    """The file with one bit flipped, for bits spread over every copy of ``needle``."""
    out, at = [], data.find(needle)
    assert at >= 0
    while at >= 0:
        for pos in range(at, at + len(needle), 3):
            for bit in (0, 2, 5, 6):
                bad = bytearray(data)
                bad[pos] ^= 1 << bit
                out.append(bytes(bad))
        at = data.find(needle, at + 1)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_flipped_bit_in_the_header_is_an_integrity_error(fmt: str, tmp_path: Path) -> None:
    data = qserial.dumps(spans_result(), format=fmt, manifest=MANIFEST)
    assert qserial.read_header(io.BytesIO(data))["manifest"] == MANIFEST
    path = tmp_path / f"r{SUFFIX[fmt]}"
    for needle in (b"ibm_kyiv", b"7th", b"d1abc23"):
        for bad in _flips(data, needle):
            with pytest.raises(qserial.IntegrityError):
                qserial.read_header(io.BytesIO(bad))
            path.write_bytes(bad)
            with pytest.raises(qserial.IntegrityError):
                qserial.read_header(path)


@pytest.mark.parametrize("fmt", [f for f in ("json", "msgpack") if f in FORMATS])
def test_headers_without_their_own_digest_are_verified_by_the_whole_file(fmt: str) -> None:
    """Files written before headers had a digest of their own are still checked."""
    data = qserial.dumps(spans_result(), format=fmt, manifest=MANIFEST)
    old = _without_header_digest(fmt, data)
    assert qserial.read_header(io.BytesIO(old))["manifest"] == MANIFEST
    assert_equal(qserial.loads(old), spans_result())
    for bad in _flips(old, b"ibm_kyiv"):
        with pytest.raises(qserial.IntegrityError):
            qserial.read_header(io.BytesIO(bad))


def _without_header_digest(fmt: str, data: bytes) -> bytes:
    """The file as the previous writer made it: no header_digest, the file digest redone."""
    import xxhash

    if fmt == "json":
        at = data.rindex(b'"header_digest": "')
        body = data[:at] + data[at + len(b'"header_digest": "') + 32 + 3:]
        cut = body.rindex(b'"digest_value": "') + len(b'"digest_value": "')
        return body[:cut] + xxhash.xxh3_128_hexdigest(body[:cut]).encode() + body[cut + 32:]
    import msgpack

    hlen = int.from_bytes(data[17:21], "big")
    header = msgpack.unpackb(data[21:21 + hlen])
    del header["header_digest"]
    # The same length, so that no offset moves: a writer entry takes the digest's place.
    for n in range(200):
        header["writer"]["x"] = "y" * n
        packed = msgpack.packb(header)
        if len(packed) == hlen:
            break
    assert len(packed) == hlen
    body = data[:21] + packed + data[21 + hlen:-18]
    return body + b"\xc4\x10" + xxhash.xxh3_128_digest(body)
