"""Real Qiskit results for tests, built once per process.

Builders are cached, so treat what they return as read-only. Seeds are fixed: a
builder gives the same data in every run. Test modules import it as
``from tests._results import sampler_result`` (pytest's importlib mode makes
``tests`` a package).
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, Parameter, QuantumRegister
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    SamplerPubResult,
)
from qiskit.quantum_info import PauliList, SparsePauliOp

__all__ = [
    "SEED",
    "sampler_result",
    "estimator_result",
    "local_mode_result",
    "local_estimator_result",
    "spans_metadata",
    "spans_result",
    "estimator_pub_result",
    "noise_learner_result",
    "numpy_scalars",
    "numpy_scalar_metadata_result",
    "ghz_result",
    "random_sweep_result",
    "all_results",
]

SEED = 1234

_UTC = dt.timezone.utc
_T0 = dt.datetime(2024, 6, 14, 11, 44, 31, 680425, tzinfo=_UTC)


@functools.cache
def sampler_result() -> PrimitiveResult:
    """StatevectorSampler result: a Bell pair, two registers (3 and 10 bits) and a sweep.

    The sweep pub binds a ``(4, 5)`` array of parameter values, so its DataBin has
    shape ``(4, 5)``; the 10-bit register is not a whole number of bytes.
    """
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()

    q = QuantumRegister(5, "q")
    alpha, beta = ClassicalRegister(3, "alpha"), ClassicalRegister(10, "beta")
    regs = QuantumCircuit(q, alpha, beta)
    regs.h(q[0])
    for i in range(4):
        regs.cx(q[i], q[i + 1])
    regs.x(q[2])
    regs.measure(q[:3], alpha)
    regs.measure([q[i % 5] for i in range(10)], beta)

    theta, phi = Parameter("theta"), Parameter("phi")
    sweep = QuantumCircuit(3)
    sweep.ry(theta, 0)
    sweep.rx(phi, 1)
    sweep.cx(0, 2)
    sweep.measure_all()
    values = np.stack(
        np.meshgrid(np.linspace(0, np.pi, 4), np.linspace(0, np.pi / 2, 5), indexing="ij"),
        axis=-1,
    )
    sampler = StatevectorSampler(default_shots=256, seed=SEED)
    return sampler.run([(bell,), (regs, None, 100), (sweep, values, 64)]).result()


@functools.cache
def estimator_result() -> PrimitiveResult:
    """StatevectorEstimator result: a fixed pub and a broadcast ``(3, 4)`` parameter sweep."""
    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    observables = [SparsePauliOp(label) for label in ("ZZI", "IZZ", "XXX", "ZII")]

    theta = Parameter("theta")
    ansatz = QuantumCircuit(2)
    ansatz.ry(theta, 0)
    ansatz.cx(0, 1)
    obs = [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")], [SparsePauliOp.from_list([("ZI", 0.5),
                                                                               ("IX", -1.5)])]]
    values = np.linspace(0, np.pi, 4).reshape(1, 4, 1)
    estimator = StatevectorEstimator(default_precision=0.01, seed=SEED)
    return estimator.run([(ghz, observables), (ansatz, obs, values)]).result()


def _local_backend() -> Any:
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    return FakeManilaV2()


@functools.cache
def local_mode_result() -> PrimitiveResult:
    """qiskit-ibm-runtime local mode: ``SamplerV2(mode=FakeManilaV2())`` on a 3-qubit GHZ.

    Needs ``qiskit_aer``.
    """
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import SamplerV2

    backend = _local_backend()
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sampler = SamplerV2(mode=backend, options={"default_shots": 256,
                                                   "simulator": {"seed_simulator": SEED}})
        return sampler.run([pm.run(circuit)]).result()


@functools.cache
def local_estimator_result() -> PrimitiveResult:
    """qiskit-ibm-runtime local mode: ``EstimatorV2(mode=FakeManilaV2())``, 3 observables.

    Needs ``qiskit_aer``. Local mode stores ``stds`` of a 0-d pub as a numpy scalar.
    """
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import EstimatorV2

    backend = _local_backend()
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=SEED)
    isa = pm.run(circuit)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZI", "IZZ", "XXX")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = EstimatorV2(mode=backend, options={"default_precision": 0.05,
                                                       "simulator": {"seed_simulator": SEED}})
        return estimator.run([(isa, observables), (isa, observables[0])]).result()


def spans_metadata() -> dict[str, Any]:
    """Result metadata as the service writes it, holding one span of every kind."""
    from qiskit_ibm_runtime.execution_span import (
        DoubleSliceSpan,
        ExecutionSpans,
        SliceSpan,
        TwirledSliceSpan,
        TwirledSliceSpanV2,
    )

    t = [_T0 + dt.timedelta(seconds=17 * i) for i in range(6)]
    spans = ExecutionSpans([
        SliceSpan(t[0], t[1], {0: ((4, 200), slice(0, 800))}),
        DoubleSliceSpan(t[1], t[2], {1: ((4, 200), slice(0, 2), slice(0, 200))}),
        DoubleSliceSpan(t[2], t[3], {1: ((4, 200), slice(2, 4), slice(None, None))}),
        TwirledSliceSpan(t[3], t[4], {2: ((10, 4, 20), True, slice(0, 20), slice(0, 20))}),
        TwirledSliceSpanV2(t[4], t[5], {
            0: ((4, 50), False, slice(0, 4), slice(0, 50), 50),
            2: ((10, 4, 20), True, slice(20, 40), slice(0, 20), 200),
        }),
    ])
    return {"version": 2, "execution": {"execution_spans": spans}}


@functools.cache
def spans_result() -> PrimitiveResult:
    """The sampler result's pubs under :func:`spans_metadata`."""
    return PrimitiveResult(list(sampler_result()), metadata=spans_metadata())


@functools.cache
def estimator_pub_result() -> PrimitiveResult:
    """A result of qiskit-ibm-runtime ``EstimatorPubResult`` pubs, with their metadata."""
    from qiskit_ibm_runtime.results import EstimatorPubResult

    rng = np.random.default_rng(SEED)
    pubs = []
    for i, shape in enumerate([(2, 3), (), (5,)]):
        data = DataBin(
            evs=rng.normal(size=shape), stds=rng.uniform(0, 0.1, size=shape),
            ensemble_standard_error=rng.uniform(0, 0.1, size=shape), shape=shape,
        )
        meta = {"target_precision": 0.015625, "shots": 4096, "num_randomizations": 32,
                "circuit_metadata": {"name": f"ansatz_{i}"},
                "resilience": {"zne": {"extrapolator": "exponential",
                                       "noise_factors": [1, 3, 5]}}}
        pubs.append(EstimatorPubResult(data, meta))
    return PrimitiveResult(pubs, metadata={"version": 2, "dynamical_decoupling":
                                           {"enable": True, "sequence_type": "XX"}})


@functools.cache
def noise_learner_result() -> Any:
    """A ``NoiseLearnerResult`` of two ``LayerError`` s, one with a ``PauliLindbladError``."""
    from qiskit_ibm_runtime.results import LayerError, NoiseLearnerResult, PauliLindbladError

    layer = QuantumCircuit(2)
    layer.cx(0, 1)
    single = QuantumCircuit(1)
    single.sx(0)
    generators = PauliList(["IX", "XI", "ZZ", "YX"])
    error = PauliLindbladError(generators, [0.001, 0.0025, 1e-4, 0.0])
    return NoiseLearnerResult(
        [LayerError(layer, [0, 1], error), LayerError(single, [3], None)],
        metadata={"backend": "fake_manila", "learning_protocol": "pauli_lindblad",
                  "input_options": {"max_layers_to_learn": 4, "shots_per_randomization": 128}},
    )


def numpy_scalars() -> dict[str, np.generic]:
    """One numpy scalar of every bool, integer, float and complex dtype, keyed by name."""
    return {
        "bool_": np.bool_(True),
        "int8": np.int8(-8), "int16": np.int16(-1600), "int32": np.int32(-2**31),
        "int64": np.int64(-2**63),
        "uint8": np.uint8(255), "uint16": np.uint16(65535), "uint32": np.uint32(2**32 - 1),
        "uint64": np.uint64(2**64 - 1),
        "float16": np.float16(0.1), "float32": np.float32(1 / 3), "float64": np.float64(-2.5),
        "float32_nan": np.float32("nan"), "float64_inf": np.float64("-inf"),
        "complex64": np.complex64(1.5 - 0.25j), "complex128": np.complex128(-1e-300 + 2j),
    }


@functools.cache
def numpy_scalar_metadata_result() -> PrimitiveResult:
    """A sampler result whose pub and result metadata hold :func:`numpy_scalars`."""
    pub = sampler_result()[0]
    scalars = numpy_scalars()
    return PrimitiveResult(
        [SamplerPubResult(pub.data, {**pub.metadata, "scalars": scalars})],
        metadata={"version": 2, "nested": {"list": list(scalars.values())}},
    )


@functools.cache
def ghz_result(num_bits: int = 20, shots: int = 100_000) -> PrimitiveResult:
    """A low-entropy, GHZ-like result: every shot is all zeros or all ones."""
    rng = np.random.default_rng(SEED)
    ones = rng.random(shots) < 0.5
    bools = np.repeat(ones[:, None], num_bits, axis=1)
    bits = BitArray.from_bool_array(bools)
    return PrimitiveResult([SamplerPubResult(DataBin(meas=bits), {"shots": shots})],
                           metadata={"version": 2})


@functools.cache
def random_sweep_result(num_pubs: int = 100, num_params: int = 20, shots: int = 4096,
                        num_bits: int = 30) -> PrimitiveResult:
    """A parameter sweep of uniformly random bits (defaults: 33 MB of bits, 44 MB of JSON)."""
    rng = np.random.default_rng(SEED)
    nbytes = (num_bits + 7) // 8
    pad = 8 * nbytes - num_bits
    pubs = []
    for i in range(num_pubs):
        array = rng.integers(0, 256, size=(num_params, shots, nbytes), dtype=np.uint8)
        array[..., 0] &= 0xFF >> pad  # unused high bits of the first byte are zero
        data = DataBin(meas=BitArray(array, num_bits), shape=(num_params,))
        pubs.append(SamplerPubResult(data, {"circuit_metadata": {"pub": i}}))
    return PrimitiveResult(pubs, metadata={"version": 2})


def all_results() -> dict[str, Any]:
    """Every builder that needs nothing beyond qiskit and qiskit-ibm-runtime, by name."""
    return {
        "sampler": sampler_result(),
        "estimator": estimator_result(),
        "spans": spans_result(),
        "estimator_pub_result": estimator_pub_result(),
        "noise_learner": noise_learner_result(),
        "ghz": ghz_result(20, 2000),
        "random_sweep": random_sweep_result(3, 4, 100, 30),
    }

