"""Does compressing an array pay? A quick estimate from a sample, for every format.

Measurement bits are often far from uniform (a GHZ state, biased qubits, a 3-bit
mid-circuit register), but the worst case, uniformly random bits, does not compress
at all: running a compressor over it costs time and saves nothing. Formats call
:func:`estimate` on each array before they compress it and store it as it is when
:attr:`Estimate.pays` is false.

The estimate is the order-0 entropy of a few slices spread over the data (a byte
histogram of 4 KiB; about 20 microseconds whatever the array's size). A coder that only looks
at byte frequencies (Huffman, the entropy stage of zstd and deflate) reaches about
that ratio; dictionary (LZ) matches can only do better, so data the estimate calls
compressible always is. Data whose bytes look uniform but that repeats long
sequences (a tiled random pattern) is the one case it misses; measurement bits do
not look like that.

>>> import numpy as np
>>> from qserial.compression import estimate
>>> estimate(np.zeros(100_000, np.uint8)).pays
True
>>> estimate(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8)).pays
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Estimate", "estimate", "sample", "WORTH_COMPRESSING", "SAMPLE_BYTES"]

#: Compress when the estimated size is at most this fraction of the data's.
WORTH_COMPRESSING = 0.9

#: Bytes of data looked at: :data:`SAMPLE_SLICES` slices spread over it.
SAMPLE_BYTES = 4096
SAMPLE_SLICES = 4


@dataclass(frozen=True)
class Estimate:
    """What a sample says about compressing some data.

    Attributes
    ----------
    ratio
        Order-0 entropy of the sample, in bits per byte over 8: about the size a
        frequency coder reaches, as a fraction of the data's (0 to 1).
    nbytes
        Size of the data.
    threshold
        The ratio at or below which compression pays.
    """

    ratio: float
    nbytes: int
    threshold: float = WORTH_COMPRESSING

    @property
    def pays(self) -> bool:
        """Whether compressing is worth its time: the data shrink to ``threshold`` or less."""
        return self.nbytes > 0 and self.ratio <= self.threshold


def _bytes_of(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, np.uint8)


def sample(data: Any, nbytes: int = SAMPLE_BYTES, slices: int = SAMPLE_SLICES) -> np.ndarray:
    """Up to ``nbytes`` bytes of ``data``: ``slices`` runs, one in the middle of each
    ``1 / slices`` of it.

    ``data`` is a numpy array or any object with the buffer protocol. Returns a uint8
    array (a view of ``data`` when it is small enough to be its own sample).
    """
    flat = _bytes_of(data)
    n = flat.size
    if n <= nbytes:
        return flat
    size = nbytes // slices
    # Each slice in the middle of its part of the data: not always the first bytes,
    # where an array's odd start (a run of zeros, a header) would weigh a quarter.
    starts = [(2 * i + 1) * n // (2 * slices) - size // 2 for i in range(slices)]
    return np.concatenate([flat[start : start + size] for start in starts])


def entropy_ratio(data: Any) -> float:
    """Order-0 entropy of the bytes of ``data``, in bits per byte over 8 (0 to 1)."""
    flat = _bytes_of(data)
    if flat.size == 0:
        return 1.0
    counts = np.bincount(flat, minlength=256)
    p = counts[counts > 0] / flat.size
    # Small samples understate entropy (Miller's bias); add the correction back.
    bias = (p.size - 1) / (2 * flat.size * math.log(2))
    return min(1.0, float(-(p * np.log2(p)).sum() + bias) / 8)


def estimate(data: Any, threshold: float = WORTH_COMPRESSING) -> Estimate:
    """Estimate from a sample how well ``data`` (an array or a buffer) compresses.

    Parameters
    ----------
    data
        A numpy array (its memory, in C order) or any bytes-like object.
    threshold
        Compression pays when the estimated ratio is at most this.

    Returns
    -------
    Estimate
        ``estimate(data).pays`` says whether to compress.
    """
    flat = _bytes_of(data)
    return Estimate(entropy_ratio(sample(flat)), int(flat.size), threshold)
