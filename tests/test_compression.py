"""qserial.compression: the sample that decides whether compressing pays, and the
scenarios that make compressible shot data."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest

from qserial import scenarios
from qserial.compression import SAMPLE_BYTES, estimate, sample


def _uniform(n: int) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, n, dtype=np.uint8)


def test_uniform_bytes_do_not_pay() -> None:
    found = estimate(_uniform(1 << 20))
    assert not found.pays
    assert found.ratio > 0.99 and found.nbytes == 1 << 20


@pytest.mark.parametrize("build", [
    lambda: scenarios.ghz(shots=20_000)[0].data.meas.array,
    lambda: scenarios.biased_sweep(pubs=1, params=2, shots=2000)[0].data.meas.array,
    lambda: scenarios.mixed_sweep(pubs=1, params=2, shots=2000)[0].data.mid3.array,
    lambda: np.zeros(50_000, np.uint8),
], ids=["ghz", "biased", "mid3", "zeros"])
def test_low_entropy_shots_pay_and_really_shrink(build: Callable[[], np.ndarray]) -> None:
    array = build()
    found = estimate(array)
    assert found.pays
    # The estimate is what a frequency coder reaches: zlib's Huffman stage gets close
    # (a Huffman code spends at least one bit a byte).
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
    real = len(deflate.compress(array.tobytes()) + deflate.flush()) / array.nbytes
    assert real <= max(found.ratio, 1 / 8) + 0.05


def test_the_sample_spans_the_data() -> None:
    # Zeros first, random bytes last: a sample of the start alone would say "pays".
    data = np.concatenate([np.zeros(10_000, np.uint8), _uniform(1_000_000)])
    part = sample(data)
    assert part.size == SAMPLE_BYTES
    assert not estimate(data).pays
    small = _uniform(100)
    assert sample(small).size == 100


def test_empty_and_non_contiguous_data() -> None:
    assert not estimate(b"").pays
    strided = np.zeros((100, 100), np.uint8)[:, ::2]
    assert estimate(strided).pays and estimate(strided).nbytes == 5000


def test_mixed_sweep_registers() -> None:
    result = scenarios.mixed_sweep(pubs=2, params=3, shots=100)
    data = result[1].data
    assert [(name, data[name].num_bits) for name in data] == [
        ("meas", 27), ("mid1", 1), ("mid2", 2), ("mid3", 3)]
    assert data.mid1.array.shape == (3, 100, 1)
    assert not estimate(result[0].data.meas.array).pays


def test_aer_scenarios_are_noisy_device_samples() -> None:
    pytest.importorskip("qiskit_aer")
    result = scenarios.aer_ghz(qubits=3, shots=4000)
    counts = result[0].data.meas.get_counts()
    assert counts["000"] + counts["111"] > 3000
    assert len(counts) > 2  # the device's noise shows
    again = scenarios.aer_ghz(qubits=3, shots=4000)
    assert again[0].data.meas == result[0].data.meas  # seeded
    qaoa = scenarios.aer_qaoa(qubits=4, shots=2000)[0].data.meas
    assert qaoa.num_bits == 4 and len(qaoa.get_counts()) > 8


def test_shot_entropy_of_known_distributions() -> None:
    from qserial import to_tree
    from qserial.bench._entropy import register_entropy_bits, shot_entropy_bytes

    # Few outcomes: shots x the entropy of their frequencies (here exactly 1 bit a shot).
    half = np.repeat(np.array([[0x00, 0x00], [0x0F, 0xFF]], np.uint8), 500, axis=0)
    assert register_entropy_bits(half, 12) == pytest.approx(1000.0)
    # Many outcomes: the sum of per-bit entropies (uniform bits: all of them).
    uniform = _uniform(40_000).reshape(10_000, 4)
    assert register_entropy_bits(uniform, 32) == pytest.approx(10_000 * 32, rel=1e-3)
    # A result: every register of every pub; none without shots.
    result = scenarios.mixed_sweep(pubs=2, params=2, shots=500)
    assert shot_entropy_bytes(to_tree(result)) == pytest.approx(sum(
        register_entropy_bits(pub.data[name].array, pub.data[name].num_bits)
        for pub in result for name in pub.data) / 8)
    assert shot_entropy_bytes(to_tree(scenarios.estimator(pubs=1))) is None
