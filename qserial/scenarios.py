"""Realistic synthetic results for benchmarks and examples.

Each builder returns a ``PrimitiveResult`` shaped like what the IBM Quantum service
returns -- pub results, ``DataBin`` fields, pub and result metadata, execution spans --
filled with seeded random data, so the same arguments always give the same result.

========================  ========================================================
name                      content
========================  ========================================================
``small_sampler``         1 sampler pub, 5 bits x 1,024 shots
``big_sampler``           1 sampler pub, 127 bits x 100,000 shots
``sweep``                 100 pubs x 20 parameter sets x 4,096 shots x 30 random bits
``estimator``             10 estimator pubs x 50 expectation values
``ghz``                   20 bits x 100,000 shots, mostly all-0 or all-1 (low entropy)
``biased_sweep``          20 pubs x 10 parameter sets x 4,096 shots x 27 biased bits
``mixed_sweep``           a 27-bit register and 1-, 2- and 3-bit mid-circuit registers
``aer_ghz``               a 10-qubit GHZ state sampled by qiskit-aer with a device's noise
``aer_qaoa``              a 10-qubit QAOA layer sampled by qiskit-aer with a device's noise
========================  ========================================================

The ``aer_*`` scenarios are made by a real producer: qiskit-aer's ``SamplerV2``
simulating the circuit transpiled for a fake IBM device, under that device's noise
model (qiskit-aer must be installed; seeded, so the shots are the same every run).

Examples
--------
>>> from qserial import scenarios
>>> result = scenarios.small_sampler()
>>> result[0].data.meas.num_shots, result[0].data.meas.num_bits
(1024, 5)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "SCENARIOS",
    "aer_ghz",
    "aer_qaoa",
    "biased_sweep",
    "big_sampler",
    "mixed_sweep",
    "estimator",
    "ghz",
    "small_sampler",
    "sweep",
]

# A fixed clock, so results (and the files written from them) are reproducible.
_EPOCH = _dt.datetime(2025, 3, 4, 9, 30, 0, tzinfo=_dt.timezone.utc)


def _random_bits(rng: np.random.Generator, shape: tuple[int, ...], num_bits: int) -> np.ndarray:
    """Packed uniformly random shots, zero padding bits, as a ``BitArray`` stores them."""
    nbytes = (num_bits + 7) // 8
    array = rng.integers(0, 256, size=(*shape, nbytes), dtype=np.uint8)
    if num_bits % 8:
        # Big-endian within a shot: the padding is the top bits of the first byte.
        array[..., 0] &= (1 << (num_bits % 8)) - 1
    return array


def _spans(rng: np.random.Generator, kind: str, slices_per_span: list[dict]) -> Any:
    """An ``ExecutionSpans`` of back-to-back spans of ``kind``, one per ``data_slices`` map."""
    from qiskit_ibm_runtime.execution_span import (
        DoubleSliceSpan,
        ExecutionSpans,
        SliceSpan,
        TwirledSliceSpanV2,
    )

    cls = {"slice": SliceSpan, "double": DoubleSliceSpan, "twirled": TwirledSliceSpanV2}[kind]
    spans = []
    start = _EPOCH + _dt.timedelta(seconds=float(rng.uniform(5, 30)))
    for data_slices in slices_per_span:
        # Durations and gaps with microseconds, as the service's clock reports them.
        stop = start + _dt.timedelta(seconds=float(rng.uniform(0.5, 4.0)))
        spans.append(cls(start, stop, data_slices))
        start = stop + _dt.timedelta(seconds=float(rng.uniform(0.01, 0.2)))
    return ExecutionSpans(spans)


def _sampler_result(pub_data: list[dict[str, Any]], shape: tuple[int, ...], spans: Any) -> Any:
    from qiskit.primitives.containers import DataBin, PrimitiveResult, SamplerPubResult

    pubs = [
        SamplerPubResult(DataBin(shape=shape, **fields), metadata={"circuit_metadata": {}})
        for fields in pub_data
    ]
    return PrimitiveResult(pubs, metadata={"execution": {"execution_spans": spans}, "version": 2})


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def small_sampler(*, seed: int = 1234) -> Any:
    """One sampler pub of 5 measured bits x 1,024 shots, with one execution span.

    Parameters
    ----------
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        ``result[0].data.meas`` is a ``BitArray`` of 1,024 shots of 5 bits.
    """
    from qiskit.primitives.containers import BitArray

    rng = np.random.default_rng(seed)
    # A small circuit's counts are far from uniform: draw outcomes from a skewed distribution.
    probs = rng.dirichlet(np.full(32, 0.3))
    outcomes = rng.choice(32, size=1024, p=probs).astype(np.uint8)
    meas = BitArray(outcomes.reshape(1024, 1), 5)
    spans = _spans(rng, "double", [{0: ((1024,), slice(0, 1), slice(0, 1024))}])
    return _sampler_result([{"meas": meas}], (), spans)


def big_sampler(*, bits: int = 127, shots: int = 100_000, seed: int = 1234) -> Any:
    """One sampler pub measuring a whole 127-qubit device, 100,000 shots.

    Each bit is 1 with its own probability (drawn between 0.05 and 0.95), so the
    data is high-entropy like a deep circuit's, without being uniform.

    Parameters
    ----------
    bits
        Measured bits per shot.
    shots
        Number of shots.
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        ``result[0].data.meas`` is a ``BitArray`` of shape ``()``.
    """
    from qiskit.primitives.containers import BitArray

    rng = np.random.default_rng(seed)
    p_one = rng.uniform(0.05, 0.95, size=bits)
    bools = rng.random((shots, bits)) < p_one
    meas = BitArray.from_bool_array(bools, order="big")
    # The service runs a big pub in several spans, each holding a block of shots.
    per_span = 25_000
    spans = _spans(rng, "double", [
        {0: ((shots,), slice(0, 1), slice(r.start, r.stop))} for r in _chunks(shots, per_span)
    ])
    return _sampler_result([{"meas": meas}], (), spans)


def sweep(
    pubs: int = 100, params: int = 20, shots: int = 4096, bits: int = 30, *, seed: int = 1234
) -> Any:
    """A parameter sweep: many pubs, each a ``DataBin`` of shape ``(params,)``.

    With the defaults the ``meas`` arrays hold 100 x 20 x 4,096 x 4 bytes (33 MB) of
    uniformly random bits: the worst case for compression, and a big result.

    Parameters
    ----------
    pubs
        Number of pub results.
    params
        Parameter sets per pub (the ``DataBin`` shape).
    shots
        Shots per parameter set.
    bits
        Measured bits per shot.
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        Of ``pubs`` ``SamplerPubResult`` whose ``data.meas`` is a ``BitArray`` of shape
        ``(params,)``.
    """
    from qiskit.primitives.containers import BitArray

    rng = np.random.default_rng(seed)
    data = [{"meas": BitArray(_random_bits(rng, (params, shots), bits), bits)}
            for _ in range(pubs)]
    # One span per batch of 10 pubs, each covering all parameter sets and shots.
    spans = _spans(rng, "double", [
        {i: ((params, shots), slice(0, params), slice(0, shots)) for i in batch}
        for batch in _chunks(pubs, 10)
    ])
    return _sampler_result(data, (params,), spans)


def estimator(pubs: int = 10, values: int = 50, *, seed: int = 1234) -> Any:
    """Estimator pubs of ``values`` expectation values each, with error bars.

    Each pub is an ``EstimatorPubResult`` with ``evs``, ``stds`` and
    ``ensemble_standard_error`` float64 arrays of shape ``(values,)`` and the pub and
    result metadata the service attaches (precision, shots, twirling, dynamical
    decoupling and resilience options).

    Parameters
    ----------
    pubs
        Number of pub results.
    values
        Expectation values per pub (observables x parameter sets).
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        Of ``pubs`` ``EstimatorPubResult``.
    """
    from qiskit.primitives.containers import DataBin, PrimitiveResult
    from qiskit_ibm_runtime.results import EstimatorPubResult

    rng = np.random.default_rng(seed)
    shots, precision = 4096, 0.015625
    results = []
    for _ in range(pubs):
        evs = np.clip(rng.normal(0.0, 0.4, size=values), -1.0, 1.0)
        stds = rng.uniform(0.8, 1.2, size=values) * precision
        ese = stds * rng.uniform(0.9, 1.4, size=values)
        data = DataBin(shape=(values,), evs=evs, stds=stds, ensemble_standard_error=ese)
        metadata = {
            "shots": shots,
            "target_precision": precision,
            "circuit_metadata": {},
            "resilience": {},
            "num_randomizations": 32,
        }
        results.append(EstimatorPubResult(data, metadata=metadata))
    spans = _spans(rng, "twirled", [
        {i: ((32, values, shots // 32), True, slice(0, 32 * values), slice(0, shots // 32),
             shots)}
        for i in range(pubs)
    ])
    metadata = {
        "dynamical_decoupling": {
            "enable": True,
            "sequence_type": "XX",
            "extra_slack_distribution": "middle",
            "scheduling_method": "alap",
        },
        "twirling": {
            "enable_gates": False,
            "enable_measure": True,
            "num_randomizations": "auto",
            "shots_per_randomization": "auto",
            "interleave_randomizations": True,
            "strategy": "active-accum",
        },
        "resilience": {
            "measure_mitigation": True,
            "zne_mitigation": False,
            "pec_mitigation": False,
        },
        "execution": {"execution_spans": spans},
        "version": 2,
    }
    return PrimitiveResult(results, metadata=metadata)


def ghz(bits: int = 20, shots: int = 100_000, *, noise: float = 0.01, seed: int = 1234) -> Any:
    """A GHZ-state measurement: shots mostly all-0 or all-1, with a little bit-flip noise.

    Low-entropy data, where compression pays: the case to check that a format does
    not make files bigger than RuntimeEncoder's zlib.

    Parameters
    ----------
    bits
        Measured bits per shot.
    shots
        Number of shots.
    noise
        Probability that each bit of a shot is flipped.
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        ``result[0].data.meas`` is a ``BitArray`` of shape ``()``.
    """
    from qiskit.primitives.containers import BitArray

    rng = np.random.default_rng(seed)
    ones = rng.random(shots) < 0.5
    flips = rng.random((shots, bits)) < noise
    meas = BitArray.from_bool_array(ones[:, None] ^ flips, order="big")
    # Twirled measurement, as the service runs it: 32 randomizations of shots / 32 shots.
    per_rand = -(-shots // 32)
    spans = _spans(rng, "twirled", [
        {0: ((32, per_rand), True, slice(0, 32), slice(0, per_rand), shots)}
    ])
    return _sampler_result([{"meas": meas}], (), spans)


def _sweep_spans(rng: np.random.Generator, pubs: int, params: int, shots: int) -> Any:
    # One span per batch of 10 pubs, each covering all parameter sets and shots.
    return _spans(rng, "double", [
        {i: ((params, shots), slice(0, params), slice(0, shots)) for i in batch}
        for batch in _chunks(pubs, 10)
    ])


def _biased_bits(rng: np.random.Generator, p_one: np.ndarray, shape: tuple[int, ...]) -> Any:
    from qiskit.primitives.containers import BitArray

    bools = rng.random((*shape, p_one.size)) < p_one
    return BitArray.from_bool_array(bools, order="big")


def biased_sweep(pubs: int = 20, params: int = 10, shots: int = 4096, bits: int = 27,
                 *, low: float = 0.02, high: float = 0.3, seed: int = 1234) -> Any:
    """A sweep of independent but biased bits, as a shallow circuit near ``|0...0>`` gives.

    Each bit of each pub is 1 with its own probability, drawn between ``low`` and
    ``high``: far from uniform, but with no structure beyond the bit frequencies.

    Parameters
    ----------
    pubs, params, shots, bits
        Pub results, parameter sets per pub, shots per set, bits per shot.
    low, high
        Range of the probability that a bit is 1.
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        Of ``pubs`` ``SamplerPubResult`` whose ``data.meas`` has shape ``(params,)``.
    """
    rng = np.random.default_rng(seed)
    data = [{"meas": _biased_bits(rng, rng.uniform(low, high, bits), (params, shots))}
            for _ in range(pubs)]
    return _sampler_result(data, (params,), _sweep_spans(rng, pubs, params, shots))


def mixed_sweep(pubs: int = 50, params: int = 20, shots: int = 4096, bits: int = 27,
                *, seed: int = 1234) -> Any:
    """A sweep whose pubs hold a wide register and 1-, 2- and 3-bit mid-circuit registers.

    ``meas`` holds ``bits`` uniformly random bits (the final measurement of a deep
    circuit); ``mid1``, ``mid2`` and ``mid3`` are mid-circuit measurements (syndromes,
    flags) that are mostly 0, each bit 1 with a probability between 0.02 and 0.2.
    One byte per shot each, of which only 1-3 bits vary: compressible, next to an
    incompressible register.

    Parameters
    ----------
    pubs, params, shots
        Pub results, parameter sets per pub, shots per set.
    bits
        Bits of the wide register.
    seed
        Seed of the ``numpy.random.default_rng`` that draws the data.

    Returns
    -------
    PrimitiveResult
        Of ``pubs`` ``SamplerPubResult`` with fields ``meas``, ``mid1``, ``mid2``,
        ``mid3`` of shape ``(params,)``.
    """
    from qiskit.primitives.containers import BitArray

    rng = np.random.default_rng(seed)
    data = []
    for _ in range(pubs):
        fields = {"meas": BitArray(_random_bits(rng, (params, shots), bits), bits)}
        for width in (1, 2, 3):
            fields[f"mid{width}"] = _biased_bits(rng, rng.uniform(0.02, 0.2, width),
                                                 (params, shots))
        data.append(fields)
    return _sampler_result(data, (params,), _sweep_spans(rng, pubs, params, shots))


def _aer_result(circuit: Any, shots: int, backend: str, seed: int) -> Any:
    """``circuit`` transpiled for the fake ``backend``, sampled by qiskit-aer under its noise."""
    from qiskit import transpile
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.primitives import SamplerV2
    from qiskit_ibm_runtime import fake_provider

    device = getattr(fake_provider, backend)()
    transpiled = transpile(circuit, device, seed_transpiler=seed, optimization_level=1)
    # A density matrix of the few qubits used: exact noisy probabilities, then sampling,
    # instead of one noisy trajectory per shot.
    sampler = SamplerV2(options={"backend_options": {
        "method": "density_matrix", "noise_model": NoiseModel.from_backend(device),
        "seed_simulator": seed}})
    result = sampler.run([transpiled], shots=shots).result()
    for pub in result:
        # Wall-clock timings of the simulation: drop them, so the result is reproducible.
        sim = pub.metadata.get("simulator_metadata")
        if isinstance(sim, dict):
            for key in [k for k in sim if k.startswith("time_taken")]:
                del sim[key]
    return result


def aer_ghz(qubits: int = 10, shots: int = 100_000, *, backend: str = "FakeTorontoV2",
            seed: int = 1234) -> Any:
    """A GHZ state prepared on a fake 27-qubit IBM device and sampled by qiskit-aer.

    The circuit (a Hadamard and a chain of CNOTs) is transpiled for ``backend`` and
    simulated under its noise model (gate errors, relaxation, readout errors): mostly
    all-0 and all-1 shots, with the errors a device makes.

    Parameters
    ----------
    qubits
        Qubits in the GHZ state (measured bits); a density matrix of this many qubits
        is simulated, so keep it at 12 or fewer.
    shots
        Number of shots.
    backend
        Name of a fake backend in ``qiskit_ibm_runtime.fake_provider``.
    seed
        Seed of the transpiler and the simulator.

    Returns
    -------
    PrimitiveResult
        What qiskit-aer's ``SamplerV2`` returns; ``result[0].data.meas`` holds the shots.
    """
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(qubits)
    circuit.h(0)
    for i in range(qubits - 1):
        circuit.cx(i, i + 1)
    circuit.measure_all()
    return _aer_result(circuit, shots, backend, seed)


def aer_qaoa(qubits: int = 10, shots: int = 100_000, *, backend: str = "FakeTorontoV2",
             seed: int = 1234) -> Any:
    """One QAOA layer for MaxCut on a ring, on a fake IBM device, sampled by qiskit-aer.

    A shallow algorithm circuit with fixed angles: its outcomes spread over many
    bitstrings (more entropy than a GHZ state, far less than uniform bits). Transpiled
    for ``backend`` and simulated under its noise model, as :func:`aer_ghz`.

    Parameters
    ----------
    qubits
        Nodes of the ring (measured bits); at most 12.
    shots
        Number of shots.
    backend
        Name of a fake backend in ``qiskit_ibm_runtime.fake_provider``.
    seed
        Seed of the transpiler and the simulator.

    Returns
    -------
    PrimitiveResult
        What qiskit-aer's ``SamplerV2`` returns; ``result[0].data.meas`` holds the shots.
    """
    from qiskit import QuantumCircuit

    gamma, beta = 0.6, 0.4
    circuit = QuantumCircuit(qubits)
    circuit.h(range(qubits))
    for i in range(qubits):
        circuit.rzz(2 * gamma, i, (i + 1) % qubits)
    circuit.rx(2 * beta, range(qubits))
    circuit.measure_all()
    return _aer_result(circuit, shots, backend, seed)


#: Scenario name -> builder; every builder works with its defaults alone.
SCENARIOS: dict[str, Callable[..., Any]] = {
    "small_sampler": small_sampler,
    "big_sampler": big_sampler,
    "sweep": sweep,
    "estimator": estimator,
    "ghz": ghz,
    "biased_sweep": biased_sweep,
    "mixed_sweep": mixed_sweep,
    "aer_ghz": aer_ghz,
    "aer_qaoa": aer_qaoa,
}
