"""A stand-in for QiskitRuntimeService that serves real jobs, for archive tests.

The jobs are real: qiskit-ibm-runtime's local testing mode runs SamplerV2 and
EstimatorV2 on fake backends (:func:`real_local_jobs`). :class:`ServiceDouble` plays
the service around them: it keeps each job's record (id, backend, primitive, creation
date, tags, session, instance, status) and its result as the service sends it,
RuntimeEncoder JSON, decoded by RuntimeDecoder on every ``result()`` call. Its
``jobs()`` and ``job()`` have QiskitRuntimeService's exact signatures (a test checks
them with inspect) and filter in plain Python, independently of the archive's SQL.

For tests in another process, :meth:`ServiceDouble.save` writes the double to a folder
and :func:`from_env` (``--service tests._service_double:from_env``) rebuilds it there,
with an optional delay per fetch and a log file of fetches.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RemoteJob",
    "ServiceDouble",
    "from_env",
    "real_local_jobs",
    "service_with_real_jobs",
    "wide_result",
]

_UTC = dt.timezone.utc
FINAL = ("DONE", "CANCELLED", "ERROR")


@functools.cache
def real_local_jobs() -> tuple[Any, ...]:
    """Six finished jobs of qiskit-ibm-runtime's local testing mode (built once).

    Four SamplerV2 jobs (FakeManilaV2 and FakeQuitoV2, a GHZ circuit, two with a
    parameter sweep) and two EstimatorV2 jobs, with seeded simulators.
    """
    import numpy as np
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2, FakeQuitoV2

        theta = Parameter("theta")
        ghz = QuantumCircuit(3)
        ghz.h(0)
        ghz.cx(0, 1)
        ghz.cx(1, 2)
        ghz.measure_all()
        sweep = QuantumCircuit(2)
        sweep.ry(theta, 0)
        sweep.cx(0, 1)
        sweep.measure_all()
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        jobs = []
        for backend in (FakeManilaV2(), FakeQuitoV2()):
            pm = generate_preset_pass_manager(optimization_level=1, backend=backend,
                                              seed_transpiler=7)
            sampler = SamplerV2(mode=backend)
            sampler.options.simulator.seed_simulator = 11
            jobs.append(sampler.run([pm.run(ghz)], shots=300))
            jobs.append(sampler.run([(pm.run(sweep), np.linspace(0, np.pi, 4)), pm.run(ghz)],
                                    shots=64))
            estimator = EstimatorV2(mode=backend)
            estimator.options.simulator.seed_simulator = 11
            isa = pm.run(bell)
            observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX")]
            jobs.append(estimator.run([(isa, observables)]))
        for job in jobs:
            job.result()
    return tuple(jobs)


@dataclass(frozen=True)
class _Backend:
    name: str


class RemoteJob:
    """A job as the service hands it out, with RuntimeJobV2's methods and properties."""

    def __init__(self, record: dict[str, Any], result_json: str,
                 on_fetch: Callable[[str], None] | None = None) -> None:
        self.record = record
        self.result_json = result_json
        self.on_fetch = on_fetch

    @classmethod
    def from_local(cls, job: Any, *, created: dt.datetime, tags: list[str] = (),
                   session_id: str | None = None, instance: str | None = None,
                   job_id: str | None = None) -> RemoteJob:
        """The service's view of a local testing mode job (its id unless ``job_id``)."""
        from qiskit_ibm_runtime import RuntimeEncoder

        record = {
            "id": job_id or job.job_id(), "backend": job.backend().name,
            "program_id": job.primitive_id, "created": created.astimezone(_UTC).isoformat(),
            "status": job.status().name, "tags": list(tags), "session_id": session_id,
            "instance": instance, "usage": 1.5,
        }
        return cls(record, json.dumps(job.result(), cls=RuntimeEncoder))

    # RuntimeJobV2's API ------------------------------------------------------------------

    def job_id(self) -> str:
        return self.record["id"]

    def backend(self, timeout: float | None = None) -> _Backend:
        return _Backend(self.record["backend"])

    @property
    def primitive_id(self) -> str:
        return self.record["program_id"]

    @property
    def creation_date(self) -> dt.datetime:
        # RuntimeJobV2 gives local time.
        return dt.datetime.fromisoformat(self.record["created"]).astimezone()

    @property
    def session_id(self) -> str | None:
        return self.record["session_id"]

    @property
    def tags(self) -> list[str]:
        return list(self.record["tags"])

    @property
    def instance(self) -> str | None:
        return self.record["instance"]

    def status(self) -> str:
        return self.record["status"]

    def usage(self, partial: bool = False) -> float:
        return self.record["usage"]

    def metrics(self) -> dict[str, Any]:
        return {"timestamps": {"created": self.record["created"]},
                "usage": {"quantum_seconds": self.record["usage"]}}

    def result(self, timeout: float | None = None, decoder: Any = None) -> Any:
        """Decode the stored RuntimeEncoder JSON, as the service's result() does."""
        from qiskit_ibm_runtime import RuntimeDecoder

        if self.record["status"] != "DONE":
            raise RuntimeError(f"job {self.job_id()} is {self.record['status']}: no result")
        if self.on_fetch is not None:
            self.on_fetch(self.job_id())
        return json.loads(self.result_json, cls=RuntimeDecoder)

    def __repr__(self) -> str:
        return f"<RemoteJob('{self.job_id()}', '{self.primitive_id}')>"


class ServiceDouble:
    """QiskitRuntimeService's ``jobs()`` and ``job()`` over a list of :class:`RemoteJob`.

    Parameters
    ----------
    jobs
        The jobs the "service" holds.
    delay
        Seconds each ``result()`` takes (a slow network, for interruption tests).
    log
        A file to which each fetched job id is appended (readable from another process).
    """

    def __init__(self, jobs: list[RemoteJob], *, delay: float = 0.0,
                 log: str | None = None) -> None:
        self._jobs = {job.job_id(): job for job in jobs}
        self.delay = delay
        self.log = log
        self.fetches: list[str] = []
        self.list_calls: list[dict[str, Any]] = []
        for job in jobs:
            job.on_fetch = self._fetched

    def _fetched(self, job_id: str) -> None:
        self.fetches.append(job_id)
        if self.log is not None:
            with open(self.log, "a") as f:
                f.write(job_id + "\n")
                f.flush()
                os.fsync(f.fileno())
        if self.delay:
            time.sleep(self.delay)

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: list[str] | None = None,
        session_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
    ) -> list[RemoteJob]:
        """The service's filters, applied in Python to the held jobs."""
        self.list_calls.append(dict(
            limit=limit, skip=skip, backend_name=backend_name, pending=pending,
            program_id=program_id, instance=instance, job_tags=job_tags,
            session_id=session_id, created_after=created_after,
            created_before=created_before, descending=descending,
            include_mocks=include_mocks))

        def keep(job: RemoteJob) -> bool:
            r = job.record
            when = dt.datetime.fromisoformat(r["created"])
            return ((backend_name is None or r["backend"] == backend_name)
                    and (pending is None or (r["status"] not in FINAL) == pending)
                    and (program_id is None or r["program_id"] == program_id)
                    and (instance is None or r["instance"] == instance)
                    and (not job_tags or set(job_tags) <= set(r["tags"]))
                    and (session_id is None or r["session_id"] == session_id)
                    and (created_after is None or when >= created_after.astimezone(_UTC))
                    and (created_before is None or when <= created_before.astimezone(_UTC)))

        found = sorted((j for j in self._jobs.values() if keep(j)),
                       key=lambda j: (j.record["created"], j.job_id()), reverse=descending)
        return found[skip:] if limit is None else found[skip:skip + limit]

    def job(self, job_id: str) -> RemoteJob:
        """The job with id ``job_id``."""
        try:
            return self._jobs[job_id]
        except KeyError:
            raise LookupError(f"no job {job_id!r}") from None

    # Across processes ------------------------------------------------------------------

    def save(self, folder: str) -> None:
        """Write the jobs to ``folder`` for :func:`from_env` in another process."""
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "jobs.json"), "w") as f:
            json.dump([{"record": j.record, "result": j.result_json}
                       for j in self._jobs.values()], f)

    @classmethod
    def load(cls, folder: str, **options: Any) -> ServiceDouble:
        with open(os.path.join(folder, "jobs.json")) as f:
            items = json.load(f)
        return cls([RemoteJob(i["record"], i["result"]) for i in items], **options)


def from_env() -> ServiceDouble:
    """The double saved in ``$QSERIAL_SERVICE_DOUBLE``, with ``$QSERIAL_SERVICE_DELAY``
    seconds per fetch and fetches logged to ``$QSERIAL_SERVICE_LOG``."""
    return ServiceDouble.load(os.environ["QSERIAL_SERVICE_DOUBLE"],
                              delay=float(os.environ.get("QSERIAL_SERVICE_DELAY", "0")),
                              log=os.environ.get("QSERIAL_SERVICE_LOG"))


# Records the tests rely on: months, tags, sessions and instances spread over the jobs.
_PLAN = [
    # (created UTC, tags, session, instance)
    (dt.datetime(2025, 1, 10, 9, 0, tzinfo=_UTC), ["ghz", "calib"], "s1", "crn:a"),
    (dt.datetime(2025, 1, 20, 9, 0, tzinfo=_UTC), ["sweep"], "s1", "crn:a"),
    (dt.datetime(2025, 2, 3, 12, 30, tzinfo=_UTC), ["zz"], None, "crn:a"),
    (dt.datetime(2025, 2, 14, 8, 0, tzinfo=_UTC), ["ghz"], "s2", "crn:b"),
    (dt.datetime(2025, 3, 1, 0, 0, tzinfo=_UTC), ["sweep", "calib"], "s2", "crn:b"),
    (dt.datetime(2025, 3, 31, 23, 59, tzinfo=_UTC), [], None, "crn:b"),
]


def service_with_real_jobs(**options: Any) -> ServiceDouble:
    """A double serving :func:`real_local_jobs` with the records of ``_PLAN``."""
    remote = [RemoteJob.from_local(job, created=created, tags=tags, session_id=session,
                                   instance=instance)
              for job, (created, tags, session, instance) in zip(real_local_jobs(), _PLAN,
                                                                  strict=True)]
    return ServiceDouble(remote, **options)


def wide_result(seed: int = 5) -> Any:
    """A bare sampler result with registers of 1 to 130 bits, around the 64-bit limit.

    Random outcomes; the second pub has a parameter sweep of shape (2, 3).
    """
    import numpy as np
    from qiskit.primitives.containers import (
        BitArray,
        DataBin,
        PrimitiveResult,
        SamplerPubResult,
    )

    rng = np.random.default_rng(seed)

    def bits(shape: tuple[int, ...], shots: int, num_bits: int) -> BitArray:
        raw = rng.integers(0, 2, (*shape, shots, num_bits), dtype=np.uint8)
        return BitArray.from_bool_array(raw.astype(bool), order="big")

    first = DataBin(a=bits((), 50, 1), b=bits((), 50, 63), c=bits((), 50, 64),
                    d=bits((), 50, 65), shape=())
    second = DataBin(e=bits((2, 3), 7, 130), f=bits((2, 3), 7, 8), shape=(2, 3))
    return PrimitiveResult([SamplerPubResult(first), SamplerPubResult(second)])
