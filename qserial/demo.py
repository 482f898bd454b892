"""The ``qserial demo`` round trip: real results, every installed format, checked.

:func:`build_results` runs qiskit's reference primitives (``StatevectorSampler`` and
``StatevectorEstimator``) on small circuits; :func:`run_demo` writes each result in
every installed format, loads it back with the format recognised from the file's
content, and compares it with :func:`qserial.testing.assert_equal`.

Qiskit is imported only when a result is built, so importing this module is cheap.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from .api import dump, load
from .formats import Format, get_format, list_formats
from .testing import first_difference

__all__ = ["DemoRow", "build_results", "run_demo"]

#: Seed of the reference primitives, so every run builds the same results.
SEED = 1234
#: Formats compared as RuntimeEncoder stores values (tuples as lists, keys as strings).
LOSSY_FORMATS = frozenset({"json"})
#: Each write and read is timed this many times; the best time is reported.
REPEAT = 3


@dataclass(frozen=True)
class DemoRow:
    """The outcome of one result written and read back in one format.

    Attributes
    ----------
    format
        Format name.
    result
        Name of the result (``"sampler"`` or ``"estimator"``).
    path
        The file written.
    size
        File size in bytes (0 if writing failed).
    write_s, read_s
        Best write and read time in seconds (``None`` if that step failed).
    exact
        Whether the comparison was exact (``False``: JSON rules, see
        :func:`qserial.testing.assert_equal`).
    error
        ``None`` if the loaded result equals the original, else what went wrong.
    """

    format: str
    result: str
    path: str
    size: int
    write_s: float | None
    read_s: float | None
    exact: bool
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether the round trip gave back an equal result."""
        return self.error is None


def build_results() -> dict[str, Any]:
    """Run qiskit's reference primitives and return their results.

    Returns
    -------
    dict
        ``"sampler"``: a ``PrimitiveResult`` of two pubs from ``StatevectorSampler``:
        a 4-qubit GHZ state measured into two classical registers (``alpha``, 3 bits;
        ``beta``, 1 bit) and a two-parameter sweep over a 5 x 3 grid. ``"estimator"``:
        a ``PrimitiveResult`` from ``StatevectorEstimator`` with expectation values
        of three observables over seven parameter values (shape 3 x 7).
    """
    import numpy as np
    from qiskit.circuit import ClassicalRegister, Parameter, QuantumCircuit, QuantumRegister
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler
    from qiskit.quantum_info import SparsePauliOp

    qubits = QuantumRegister(4, "q")
    alpha, beta = ClassicalRegister(3, "alpha"), ClassicalRegister(1, "beta")
    ghz = QuantumCircuit(qubits, alpha, beta, name="ghz")
    ghz.h(0)
    for i in range(3):
        ghz.cx(i, i + 1)
    ghz.measure(qubits[:3], alpha)
    ghz.measure(qubits[3], beta)
    ghz.metadata = {"experiment": "ghz", "qubits": 4}

    theta, phi = Parameter("theta"), Parameter("phi")
    sweep = QuantumCircuit(2, name="sweep")
    sweep.ry(theta, 0)
    sweep.cx(0, 1)
    sweep.rz(phi, 1)
    sweep.measure_all()
    grid = np.stack(
        np.meshgrid(np.linspace(0, np.pi, 5), np.linspace(0, np.pi, 3), indexing="ij"),
        axis=-1,
    )  # shape (5, 3, 2): 15 bindings of (theta, phi)
    sampler = StatevectorSampler(seed=SEED).run([ghz, (sweep, grid)], shots=1000).result()

    bell = QuantumCircuit(2)
    bell.ry(theta, 0)
    bell.cx(0, 1)
    observables = [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")],
                   [SparsePauliOp.from_list([("ZI", 0.5), ("IZ", 0.5)])]]  # shape (3, 1)
    thetas = np.linspace(0, np.pi, 7).reshape(1, 7, 1)  # broadcasts to (3, 7)
    estimator = StatevectorEstimator(seed=SEED).run(
        [(bell, observables, thetas)], precision=0.01
    ).result()
    return {"sampler": sampler, "estimator": estimator}


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    formats: list[str | Format] | None = None,
    results: dict[str, Any] | None = None,
    reraise: bool = False,
) -> list[DemoRow]:
    """Write each result in each format to ``out_dir``, read it back and compare.

    A failure in one format is recorded in its row and the others still run.

    Parameters
    ----------
    out_dir
        Existing folder for the files, named ``<result><suffix>`` (``sampler.json``).
    formats
        Format names or instances; by default every installed format.
    results
        Results to write, by name; by default :func:`build_results`.
    reraise
        Raise the first failure instead of recording it (for debugging).

    Returns
    -------
    list of DemoRow
        One row per result and format, in format order.
    """
    if results is None:
        results = build_results()
    chosen = [get_format(f) for f in (formats if formats is not None else list_formats())]
    rows = []
    for fmt in chosen:
        for name, result in results.items():
            rows.append(_round_trip(fmt, name, result, os.fspath(out_dir), reraise))
    return rows


def _round_trip(fmt: Format, name: str, result: Any, out_dir: str, reraise: bool) -> DemoRow:
    suffix = fmt.suffixes[0] if fmt.suffixes else "." + fmt.name
    path = os.path.join(out_dir, name + suffix)
    exact = fmt.name not in LOSSY_FORMATS
    write_s = read_s = None
    size = 0
    try:
        write_s = _best_time(lambda: dump(result, path, format=fmt))
        size = os.path.getsize(path)
        loaded: list[Any] = []
        # format=None: the reader must recognise its own files by their content.
        read_s = _best_time(lambda: loaded.append(load(path)))
        error = first_difference(loaded[-1], result, exact=exact)
        if error is not None:
            error = "loaded result differs " + error
            if reraise:
                raise AssertionError(f"{fmt.name}: {error}")
    except Exception as exc:  # one broken format must not hide the others' results
        if reraise:
            raise
        error = f"{type(exc).__name__}: {exc}"
    return DemoRow(fmt.name, name, path, size, write_s, read_s, exact, error)


def _best_time(step: Any) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best
