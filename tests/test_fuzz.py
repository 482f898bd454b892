"""Fuzzing every installed loader: random bytes and mutated valid files.

Whatever the bytes, a loader either returns a value or raises a ``qserial.QSerialError``,
also with its digest check off (``verify=False``: how a crafted file that carries a
valid digest is decoded); a mutated file that still loads with the check on must hold
what was written. Hypothesis draws the inputs; the number of examples follows the active
hypothesis profile (see the repository's conftest.py: ``dev`` locally, ``ci`` in CI),
times ``QSERIAL_FUZZ_FACTOR`` (default 1). Coverage-guided fuzzing for longer runs is
in ``tests/fuzz/`` (see docs/reliability.md).
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import qserial
from qserial import QSerialError, scenarios
from qserial.testing import first_difference

FORMATS = qserial.list_formats()
_FACTOR = float(os.environ.get("QSERIAL_FUZZ_FACTOR", "1"))
FUZZ = settings(
    max_examples=max(int(settings.default.max_examples * _FACTOR), 10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    deadline=None,
)


@functools.cache
def valid_files(fmt: str) -> list[tuple[bytes, Any]]:
    """Small realistic files of ``fmt`` and what each one loads as."""
    values = [scenarios.small_sampler(),
              scenarios.estimator(pubs=2, values=3),
              scenarios.sweep(pubs=2, params=2, shots=16, bits=5)]
    files = []
    for value in values:
        data = qserial.dumps(value, format=fmt)
        files.append((data, qserial.loads(data, format=fmt)))
    return files


def _load(data: bytes, fmt: str, via: str, **options: Any) -> Any:
    if via == "stream":
        return qserial.load(io.BytesIO(data), format=fmt, **options)
    return qserial.loads(data, format=None, **options)  # sniffed, as users load most files


# -- random bytes -------------------------------------------------------------------------


def _prefixes(fmt: str) -> list[bytes]:
    """Starts of valid files, so that random tails reach past each format's magic bytes."""
    heads = {b""}
    for data, _ in valid_files(fmt):
        heads.update(data[:n] for n in (4, 8, 16, 32, 64, 256))
    return sorted(heads)


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_bytes_raise_only_qserial_errors(fmt: str) -> None:
    prefixes = _prefixes(fmt)

    @FUZZ
    @given(prefix=st.sampled_from(prefixes), tail=st.binary(max_size=2048),
           via=st.sampled_from(["stream", "sniffed"]))
    @example(prefix=b"", tail=b"", via="stream")
    def check(prefix: bytes, tail: bytes, via: str) -> None:
        try:
            _load(prefix + tail, fmt, via)
        except QSerialError:
            pass

    check()


# -- mutated valid files --------------------------------------------------------------------


_POS = st.integers(0, 1 << 16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), _POS, st.integers(0, 7)),
    st.tuples(st.just("set"), _POS, st.integers(0, 255)),
    st.tuples(st.just("insert"), _POS, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _POS, st.integers(1, 64)),
    st.tuples(st.just("truncate"), _POS),
    st.tuples(st.just("duplicate"), _POS, st.integers(1, 256)),
    st.tuples(st.just("zero"), _POS, st.integers(1, 64)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    """Apply hypothesis-drawn ``mutations`` (positions taken modulo the length)."""
    buf = bytearray(data)
    for m in mutations:
        kind = m[0]
        if kind == "append":
            buf += m[1]
            continue
        at = m[1] % (len(buf) + 1)
        if kind == "insert":
            buf[at:at] = m[2]
        elif kind == "truncate":
            del buf[at:]
        elif not buf:
            continue
        elif kind == "flip":
            buf[at % len(buf)] ^= 1 << m[2]
        elif kind == "set":
            buf[at % len(buf)] = m[2]
        elif kind == "delete":
            del buf[at:at + m[2]]
        elif kind == "duplicate":
            buf[at:at] = buf[at:at + m[2]]
        elif kind == "zero":
            end = min(at + m[2], len(buf))
            buf[at:end] = bytes(end - at)
    return bytes(buf)


def test_mutate_applies_each_kind() -> None:
    data = bytes(range(10))
    assert mutate(data, [("flip", 1, 0)]) == b"\x00\x00" + data[2:]
    assert mutate(data, [("set", 12, 9)]) == data[:1] + b"\x09" + data[2:]
    assert mutate(data, [("insert", 10, b"ab")]) == data + b"ab"
    assert mutate(data, [("delete", 2, 3)]) == data[:2] + data[5:]
    assert mutate(data, [("truncate", 4)]) == data[:4]
    assert mutate(data, [("duplicate", 8, 5)]) == data[:8] + data[8:] + data[8:]
    assert mutate(data, [("zero", 8, 5)]) == data[:8] + b"\x00\x00"
    assert mutate(b"", [("flip", 3, 1), ("append", b"x")]) == b"x"


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_raise_or_load_what_was_written(fmt: str) -> None:
    files = valid_files(fmt)

    @settings(FUZZ, max_examples=FUZZ.max_examples * 2)
    @given(which=st.integers(0, len(files) - 1),
           mutations=st.lists(MUTATION, min_size=1, max_size=4),
           via=st.sampled_from(["stream", "sniffed"]))
    def check(which: int, mutations: list[tuple], via: str) -> None:
        data, expected = files[which]
        bad = mutate(data, mutations)
        # Unchecked first, as a crafted file with a valid digest would be decoded: only
        # QSerialError may come out of the decoder behind the digest either.
        try:
            _load(bad, fmt, via, verify=False)
        except QSerialError:
            pass
        try:
            got = _load(bad, fmt, via)
        except QSerialError:
            return
        # Only damage to bytes the reader does not use may load: the value is intact.
        assert first_difference(got, expected) is None, mutations

    check()
