"""The JSON reader's and writer's fast paths, each proven equal to the plain path.

Big documents have their arrays' base64 cut out of the text before ``json.loads`` and
decoded in threads; big writes encode arrays in threads and write their base64 around
the JSON text. Every case where a fast path must give up (a key given twice, an
escaped ``\\/`` in a payload, a text cut inside a payload, the writer's placeholder
mark occurring in the data) falls back to the plain path. Here the size thresholds are
lowered so that small documents take the fast paths, a spy shows which path ran, and
the result -- value or error, message and path included -- is compared with the plain
path's.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pybase64
import pytest
from qiskit.primitives.containers import PrimitiveResult

import qserial
from qserial import DecodeError, QSerialError, TruncatedError, scenarios
from qserial.formats import _npy
from qserial.formats import json as json_format
from qserial.testing import assert_equal

COMPAT = Path(__file__).parent / "data" / "compat" / "runtime-json"
FMT = json_format.JSONFormat()
FAR = 1 << 60  # a threshold no test document reaches


class Paths:
    """Which reader paths ran: the cut parse (fast or fallen back), threads used."""

    def __init__(self) -> None:
        self.cut: list[bool] = []  # per parse_cut call: whether the cut text was used
        self.full_parses = 0
        self.threads: set[int] = set()  # threads that decoded or encoded an array


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Paths:
    paths = Paths()
    parse_cut, parse = json_format._Reader.parse_cut, json_format._parse
    decode, encode = _npy.decode_array, _npy._encode

    def spy_cut(self: Any, data: bytes) -> Any:
        doc = parse_cut(self, data)
        paths.cut.append(doc is not None)
        return doc

    def spy_parse(data: Any) -> Any:
        paths.full_parses += 1
        return parse(data)

    # A short sleep lets every worker thread take some of the arrays.
    def spy_decode(*args: Any) -> Any:
        paths.threads.add(threading.get_ident())
        time.sleep(0.002)
        return decode(*args)

    def spy_encode(*args: Any) -> Any:
        paths.threads.add(threading.get_ident())
        time.sleep(0.002)
        return encode(*args)

    monkeypatch.setattr(json_format._Reader, "parse_cut", spy_cut)
    monkeypatch.setattr(json_format, "_parse", spy_parse)
    monkeypatch.setattr(_npy, "decode_array", spy_decode)
    monkeypatch.setattr(_npy, "_encode", spy_encode)
    return paths


def fast(monkeypatch: pytest.MonkeyPatch, array_from: int = 64) -> None:
    """Every document takes the fast paths: cut, predecoded, in several threads."""
    monkeypatch.setattr(json_format, "_PREDECODE_FROM", 0)
    monkeypatch.setattr(json_format, "_PREDECODE_ARRAY_FROM", array_from)
    monkeypatch.setattr(_npy, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(_npy, "_workers", lambda: 4)


def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """No document takes a fast path."""
    monkeypatch.setattr(json_format, "_PREDECODE_FROM", FAR)
    monkeypatch.setattr(json_format, "_PREDECODE_ARRAY_FROM", FAR)
    monkeypatch.setattr(_npy, "_PARALLEL_FROM", FAR)


def outcome(data: bytes, **options: Any) -> tuple[str, Any]:
    """("ok", value) or ("error", (class, message, path)) of loading ``data``."""
    try:
        return "ok", FMT.loads(data, **options)
    except QSerialError as exc:
        return "error", (type(exc), str(exc), exc.path)


def both_paths(monkeypatch: pytest.MonkeyPatch, data: bytes, **options: Any
               ) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The outcome of loading ``data`` on the plain path, then on the fast path."""
    with monkeypatch.context() as m:
        slow(m)
        plain = outcome(data, **options)
    with monkeypatch.context() as m:
        fast(m)
        quick = outcome(data, **options)
    return plain, quick


def assert_same(plain: tuple[str, Any], quick: tuple[str, Any]) -> None:
    assert plain[0] == quick[0], (plain, quick)
    if plain[0] == "ok":
        assert_equal(qserial.from_tree(quick[1]), qserial.from_tree(plain[1]))
    else:
        assert quick[1] == plain[1]


def arrays_doc(n: int = 6, size: int = 300, seed: int = 7) -> dict[str, Any]:
    """A plain dict of random arrays: no header, so its text may be edited freely."""
    rng = np.random.default_rng(seed)
    return {"meta": {"note": "edited freely"},
            "x": [rng.integers(0, 256, size=size + 17 * i, dtype=np.uint8) for i in range(n)],
            "f": rng.normal(size=(3, 40))}


def payload_spans(data: bytes) -> list[tuple[int, int]]:
    """Start and end of each ``ndarray`` payload in the text."""
    return [m.span(1) for m in re.finditer(rb'"__type__": "ndarray", "__value__": "([^"]*)"',
                                           data)]


# -- the fast paths themselves ------------------------------------------------------------


def _real_files() -> list[tuple[str, bytes]]:
    files = [("sampler", qserial.dumps(scenarios.small_sampler())),
             ("estimator", qserial.dumps(scenarios.estimator(pubs=3, values=40))),
             ("sweep", qserial.dumps(scenarios.sweep(pubs=3, params=4, shots=256, bits=12))),
             ("arrays", qserial.dumps(arrays_doc()))]
    files += [(f"runtime-{p.parent.name}-{p.stem}", p.read_bytes())
              for p in sorted(COMPAT.glob("0.5*/*.json")) if p.name != "expected.json"]
    return files


@pytest.mark.parametrize(("name", "data"), _real_files(), ids=lambda x: x if
                         isinstance(x, str) else "")
def test_cut_and_threaded_read_equals_the_plain_read(
        name: str, data: bytes, spy: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    plain, quick = both_paths(monkeypatch, data)
    assert plain[0] == "ok", plain
    assert spy.cut == [True], "the fast path should have been taken"
    assert len(spy.threads) >= 2 or len(payload_spans(data)) < 2
    assert_same(plain, quick)


def test_real_thresholds_take_the_fast_path_on_a_big_file(spy: Paths) -> None:
    # A tagged top-level value, so the file has a header and a digest too.
    result = (arrays_doc(n=8, size=300_000),)
    data = qserial.dumps(result)
    assert len(data) > json_format._PREDECODE_FROM
    assert_equal(qserial.from_tree(FMT.loads(data)), result, exact=False)  # tuple: list
    assert spy.cut == [True] and spy.full_parses == 0
    assert len(spy.threads) >= 2 or _npy._workers() < 2


def test_threaded_write_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch, spy: Paths
                                             ) -> None:
    tree = qserial.to_tree(scenarios.sweep(pubs=4, params=5, shots=512, bits=20))
    with monkeypatch.context() as m:
        slow(m)
        plain = io.BytesIO()
        FMT.dump(tree, plain)
    assert len(spy.threads) == 1
    spy.threads.clear()
    with monkeypatch.context() as m:
        fast(m)
        threaded = io.BytesIO()
        FMT.dump(tree, threaded)
    assert len(spy.threads) >= 2
    assert threaded.getvalue() == plain.getvalue()


# -- where the cut parse must give up ------------------------------------------------------


def _headerless(doc: Any = None) -> bytes:
    return qserial.dumps(arrays_doc() if doc is None else doc)


@pytest.mark.parametrize("which", ["first", "last"])
def test_value_given_twice_falls_back(which: str, spy: Paths,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # JSON keeps the last of two equal keys: the cut payload (the first) is then not
    # where the skeleton says, and the whole text is parsed as it is.
    data = _headerless()
    start, end = payload_spans(data)[1]
    other = qserial.dumps({"a": np.arange(50.0)})
    other_start, other_end = payload_spans(other)[0]
    pair = [data[start:end], other[other_start:other_end]]
    if which == "last":
        pair.reverse()
    data = data[:start] + pair[0] + b'", "__value__": "' + pair[1] + data[end:]
    plain, quick = both_paths(monkeypatch, data)
    assert spy.cut == [False] and spy.full_parses == 2
    assert_same(plain, quick)
    got = plain[1]["x"][1]
    assert (got.dtype, len(got)) == ((np.float64, 50) if which == "first" else (np.uint8, 317))


def test_type_given_twice_falls_back(spy: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _headerless()
    end = payload_spans(data)[2][1]
    # The second "__type__" wins: the payload is read as base64 bytes, not as an array.
    data = data[:end + 1] + b', "__type__": "bytes"' + data[end + 1:]
    plain, quick = both_paths(monkeypatch, data)
    assert spy.cut == [False]
    assert_same(plain, quick)
    assert type(plain[1]["x"][2]) is bytes


def test_escaped_slash_in_base64_is_parsed_not_cut(spy: Paths,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = _headerless()
    spans = payload_spans(data)
    escaped = [i for i, (s, e) in enumerate(spans) if b"/" in data[s:e]][:2]
    assert escaped, "the test data should hold a slash in some base64"
    for i in reversed(escaped):
        s, e = spans[i]
        data = data[:s] + data[s:e].replace(b"/", b"\\/") + data[e:]
    cut: list[int] = []
    real_cut = json_format._cut_payloads

    def count(text: bytes, mark: bytes) -> Any:
        skeleton, payloads = real_cut(text, mark)
        cut.append(len(payloads))
        return skeleton, payloads

    monkeypatch.setattr(json_format, "_cut_payloads", count)
    plain, quick = both_paths(monkeypatch, data)
    # The escaped payloads stay in the text and are decoded from the parsed strings.
    assert spy.cut == [True] and cut == [len(spans) - len(escaped)]
    assert_same(plain, quick)


def test_truncation_inside_a_big_value(spy: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    data = qserial.dumps(scenarios.small_sampler())
    start, end = max(payload_spans(data), key=lambda s: s[1] - s[0])
    cuts = sorted({start, start + 1, end - 1, end, end + 1,
                   *range(start, end, max((end - start) // 25, 1))})
    for cut in cuts:
        spy.cut.clear()
        plain, quick = both_paths(monkeypatch, data[:cut])
        assert spy.cut == [False], cut
        assert plain[0] == "error" and plain[1][0] is TruncatedError, (cut, plain)
        assert_same(plain, quick)


def test_mark_of_the_reader_in_the_data_falls_back(spy: Paths,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The reader's placeholder for a cut payload is a random mark and an index; a short
    # array value that happens to start with it must not be taken for a cut payload.
    monkeypatch.setattr(json_format.os, "urandom", lambda n: b"\x01" * n)
    mark = "01" * 8
    doc = json.loads(_headerless())
    doc["x"].append({"__type__": "ndarray", "__value__": f"{mark}0"})
    data = json.dumps(doc).encode()
    plain, quick = both_paths(monkeypatch, data)
    assert spy.cut == [False]
    assert plain[0] == "error" and plain[1][0] is DecodeError and "base64" in plain[1][1]
    assert plain[1][2] == "$.x[6]"
    assert_same(plain, quick)


# -- errors point at the right array --------------------------------------------------------


def _damage(data: bytes, which: int, how: str) -> bytes:
    start, end = payload_spans(data)[which]
    mid = (start + end) // 2
    if how == "base64":  # not a base64 character
        return data[:mid] + b"!" + data[mid + 1:]
    if how == "zlib":  # valid base64 of damaged zlib data
        raw = bytearray(pybase64.b64decode(data[start:end]))
        raw[len(raw) // 2] ^= 0xFF
        return data[:start] + pybase64.b64encode(bytes(raw)) + data[end:]
    # an .npy header that declares more than the payload holds
    raw = zlib.decompress(pybase64.b64decode(data[start:end]))
    raw = raw.replace(b"'shape': (", b"'shape': (9", 1)
    return data[:start] + pybase64.b64encode(zlib.compress(raw)) + data[end:]


@pytest.mark.parametrize("how", ["base64", "zlib", "npy"])
def test_a_bad_array_is_named_where_it_sits(how: str, spy: Paths,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = _damage(_headerless(), 3, how)
    plain, quick = both_paths(monkeypatch, data)
    assert spy.cut == [True] and len(spy.threads) >= 2
    assert plain[0] == "error" and plain[1][2] == "$.x[3]", plain
    assert_same(plain, quick)


def test_of_two_bad_arrays_the_first_in_the_document_is_named(
        spy: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _damage(_damage(_headerless(), 4, "zlib"), 1, "npy")
    plain, quick = both_paths(monkeypatch, data)
    assert plain[0] == "error" and plain[1][2] == "$.x[1]", plain
    assert_same(plain, quick)


def test_bad_array_in_a_result_with_the_digest_off(spy: Paths,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = qserial.dumps(scenarios.sweep(pubs=3, params=4, shots=256, bits=12))
    data = _damage(data, 2, "zlib")
    with monkeypatch.context() as m:
        fast(m)
        with pytest.raises(qserial.IntegrityError):
            FMT.loads(data)
    plain, quick = both_paths(monkeypatch, data, verify=False)
    assert plain[0] == "error" and plain[1][2].startswith("$.pub_results["), plain
    assert_same(plain, quick)


# -- the writer ------------------------------------------------------------------------------


def test_placeholder_mark_in_the_data_on_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer lowers arrays to '"<mark>#<index>"' and puts their base64 there in the
    # text; a string of the data that looks the same makes it put them in place instead.
    base = scenarios.small_sampler()
    result = PrimitiveResult(list(base), metadata={**base.metadata, "note": f"{'01' * 8}#0"})
    calls: list[int] = []
    spliced = json_format._spliced
    monkeypatch.setattr(json_format, "_spliced",
                        lambda *a: calls.append(1) or spliced(*a))
    written = {}
    for byte in (1, 2):  # a colliding mark, then one that does not collide
        with monkeypatch.context() as m:
            m.setattr(json_format.os, "urandom", lambda n, b=byte: bytes([b]) * n)
            written[byte] = qserial.dumps(result)
    assert calls == [1], "only the write without a collision takes the fast path"
    assert written[1] == written[2]
    assert_equal(qserial.loads(written[1]), result)


class FailingStream(io.RawIOBase):
    """A stream whose ``fail_at``-th write raises, as a full disk would."""

    def __init__(self, fail_at: int) -> None:
        self.calls, self.fail_at = 0, fail_at

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise OSError(28, "No space left on device")
        return len(b)


def test_failing_write_stops_the_encoder_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    fast(monkeypatch)
    encoded: list[int] = []
    encode = _npy._encode

    def slow_encode(arr: np.ndarray, compression: Any) -> bytes:
        time.sleep(0.01)
        encoded.append(1)
        return encode(arr, compression)

    monkeypatch.setattr(_npy, "_encode", slow_encode)
    rng = np.random.default_rng(1)
    tree = [rng.integers(0, 256, 4096, dtype=np.uint8) for _ in range(200)]
    before = set(threading.enumerate())
    # The exception is kept, and with it the writer's frames: the threads must be
    # stopped by dump itself, not by garbage collection.
    with pytest.raises(OSError, match="No space left") as info:
        FMT.dump(tree, FailingStream(fail_at=4))
    assert set(threading.enumerate()) <= before, "encoder threads outlived the write"
    done = len(encoded)
    time.sleep(0.05)
    assert 0 < len(encoded) == done < 50, (done, len(encoded))
    assert info.value.errno == 28


@pytest.mark.parametrize("bad", [10, -1, 1.5, "6", "fast", True, None])
def test_compression_is_checked_before_writing(bad: Any) -> None:
    stream = io.BytesIO()
    bad_option = r"invalid value .* for option 'compression'"
    with pytest.raises(qserial.FormatOptionError, match=bad_option):
        FMT.dump(qserial.to_tree(scenarios.small_sampler()), stream, compression=bad)
    assert stream.getvalue() == b""
    with pytest.raises(ValueError, match="compression must be"):
        _npy.encode_array(np.arange(3), bad)


@pytest.mark.parametrize("level", [0, 1, 9, "auto"])
def test_every_valid_compression_reads_back(level: Any) -> None:
    result = scenarios.small_sampler()
    assert_equal(qserial.loads(qserial.dumps(result, compression=level)), result)
