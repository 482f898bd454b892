"""Which encoding and codec each register column gets, decided from a sample of its shots.

Random measurement bits neither compress nor repeat: a codec on them costs time and
saves nothing, so such columns stay PLAIN and uncompressed, as fast as before. Shots
of low entropy (a GHZ state, biased qubits, few-bit mid-circuit registers) are
compressed with zstd, and where a register takes few distinct values (a few per
hundred shots), dictionary encoded first: Parquet then stores each shot as a
bit-packed index into the values, which zstd shrinks further.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qserial.compression import estimate

__all__ = ["CODECS", "DICTIONARY", "choose", "AUTO_LEVEL"]

#: Values of the ``compression`` option: "auto", or a Parquet codec for every register.
CODECS = ("auto", "none", "zstd", "lz4", "snappy", "gzip", "brotli")
#: Values of the ``dictionary`` option.
DICTIONARY = ("auto", True, False)
#: zstd level of ``compression="auto"``: fast, and dictionary encoding does the rest.
AUTO_LEVEL = 1
#: Shots sampled per register column, spread over its pubs.
SAMPLE_ROWS = 4096
#: Dictionary encode when the sample repeats each distinct value this often on average
#: (fewer repeats: the dictionary costs more time than it saves bytes).
REPEATS = 16


def _sample(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Up to SAMPLE_ROWS packed shots (rows of bytes), evenly strided over ``arrays``."""
    per = max(1, SAMPLE_ROWS // max(len(arrays), 1))
    step = max(1, len(arrays) // SAMPLE_ROWS)
    parts = []
    for array in arrays[::step]:
        rows = array.reshape(-1, array.shape[-1])
        parts.append(rows[:: max(1, rows.shape[0] // per)][:per])
    return parts


def choose(arrays: list[np.ndarray], to_values: Callable[[np.ndarray], np.ndarray],
           compression: str, dictionary: str | bool) -> tuple[str, bool]:
    """The codec and whether to dictionary encode, for a column holding ``arrays``.

    Parameters
    ----------
    arrays
        The column's BitArray arrays (uint8, ``(..., shots, bytes)``), one per pub.
    to_values
        Turns packed shots ``(n, bytes)`` into the column's values, as written.
    compression, dictionary
        The dump options: a codec is taken as given, ``"auto"`` decided here.
    """
    if compression != "auto" and dictionary != "auto":
        return compression, bool(dictionary)
    # Pubs may hold the register with fewer bytes: each part becomes column values first.
    parts = [to_values(rows) for rows in _sample(arrays) if rows.size]
    values = np.concatenate(parts) if parts else np.empty(0, np.uint8)
    if values.size == 0:
        return ("none" if compression == "auto" else compression), dictionary is True
    distinct = (np.unique(values) if values.ndim == 1 else np.unique(values, axis=0)).shape[0]
    use_dict = (distinct * REPEATS <= values.shape[0] if dictionary == "auto"
                else bool(dictionary))
    if compression != "auto":
        return compression, use_dict
    return ("zstd" if use_dict or estimate(values).pays else "none"), use_dict
