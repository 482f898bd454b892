"""How much information a result's shots hold: the floor of any lossless format.

Per register and pub: ``shots x`` the entropy of the outcome frequencies when the
outcomes are few (each seen 16 times or more on average, so the frequencies are good
estimates), else the sum of the per-bit entropies, an upper bound that is exact for
independent bits. Frequencies are those of the file's own shots (the empirical
entropy): what a coder that knew the distribution would need.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["shot_entropy_bytes", "register_entropy_bits"]

#: Outcomes count as few when each is seen this many times on average.
FEW = 16


def _h(p: np.ndarray) -> float:
    p = p[(p > 0) & (p < 1)] if p.ndim else p
    return float(-(p * np.log2(p)).sum())


def register_entropy_bits(array: np.ndarray, num_bits: int) -> float:
    """Entropy in bits of the shots of one BitArray's ``array`` (uint8, ``(..., shots, bytes)``)."""
    rows = array.reshape(-1, array.shape[-1]) if array.ndim else array.reshape(1, -1)
    shots = rows.shape[0]
    if shots == 0 or num_bits == 0:
        return 0.0
    if rows.shape[1] <= 8:
        padded = np.zeros((shots, 8), np.uint8)
        padded[:, 8 - rows.shape[1]:] = rows
        values = padded.view(">u8").reshape(-1)
        outcomes, counts = np.unique(values, return_counts=True)
        if outcomes.size * FEW <= shots:
            return shots * _h(counts / shots)
    bits = np.unpackbits(rows, axis=1)[:, -num_bits:]
    p_one = bits.mean(axis=0)
    per_bit = -(p_one * np.log2(np.where(p_one > 0, p_one, 1))
                + (1 - p_one) * np.log2(np.where(p_one < 1, 1 - p_one, 1)))
    return shots * float(per_bit.sum())


def _bit_arrays(tree: Any) -> list[tuple[np.ndarray, int]]:
    """Every BitArray of ``tree`` as ``(array, num_bits)``, one per register and pub."""
    from ..tree import Node

    found = []
    stack = [tree]
    while stack:
        x = stack.pop()
        if type(x) is Node:
            value = x.value
            if (x.tag == "BitArray" and type(value) is dict
                    and type(value.get("array")) is np.ndarray
                    and type(value.get("num_bits")) is int):
                found.append((value["array"], value["num_bits"]))
            else:
                stack.append(value)
        elif type(x) is list:
            stack.extend(x)
        elif type(x) is dict:
            stack.extend(x.values())
    return found


def shot_entropy_bytes(tree: Any) -> float | None:
    """Entropy of all shots in ``tree`` (a qserial tree), in bytes; None without shots."""
    registers = _bit_arrays(tree)
    if not registers:
        return None
    return sum(register_entropy_bits(a, n) for a, n in registers) / 8
