"""Where a result came from: a job's provenance, taken from the job or read from a file.

``qserial.dump(job, path)`` stores ``job.result()`` and, in the file's manifest under
``"provenance"``, what :func:`job_provenance` reads from the job. Jobs are recognised by
duck typing (callable ``result()`` and ``job_id()``), so qiskit-ibm-runtime's
``RuntimeJobV2``, its local testing mode's ``LocalRuntimeJob``, qiskit's
``PrimitiveJob`` and anything shaped like them work; attributes a job lacks, or that
fail to answer (a network error), are left out as ``None`` rather than raising.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import Any

from ._source import read_header

__all__ = ["PROVENANCE_KEYS", "is_job", "job_provenance", "provenance"]

#: The keys of a provenance dict, in the order they are written.
PROVENANCE_KEYS = (
    "job_id",
    "backend",
    "program_id",
    "creation_date",
    "status",
    "tags",
    "session_id",
    "instance",
    "usage",
    "metrics",
    "job_class",
)

_UTC = dt.timezone.utc


def is_job(obj: Any) -> bool:
    """Return whether ``obj`` looks like a job: callable ``result`` and ``job_id``."""
    try:
        if isinstance(obj, type):  # isinstance reads obj.__class__, which may fail too
            return False
        return callable(getattr(obj, "result", None)) and callable(getattr(obj, "job_id", None))
    except Exception:  # a property that raises is no job attribute
        return False


def job_provenance(job: Any) -> dict[str, Any]:
    """Return the provenance of ``job`` as a JSON-able dict.

    Parameters
    ----------
    job
        ``RuntimeJobV2``, ``LocalRuntimeJob``, ``PrimitiveJob`` or any job-like object.

    Returns
    -------
    dict
        The keys of :data:`PROVENANCE_KEYS`: ``job_id``; ``backend`` (name);
        ``program_id`` (the primitive, e.g. ``"sampler"``); ``creation_date`` (ISO
        8601 in UTC); ``status`` (``"DONE"``, ...); ``tags`` (list); ``session_id``;
        ``instance``; ``usage`` (seconds); ``metrics`` (the job's ``metrics()``);
        ``job_class`` (the job's class, for the record only: never imported). A value
        the job does not offer is ``None``.
    """
    job_id = _value(job, "job_id")
    program_id = _value(job, "primitive_id")
    if program_id is None:
        program_id = _value(job, "program_id")
    tags = _value(job, "tags")
    out = {
        "job_id": None if job_id is None else str(job_id),
        "backend": _backend_name(_value(job, "backend")),
        "program_id": None if program_id is None else str(program_id),
        "creation_date": iso_utc(_value(job, "creation_date")),
        "status": status_name(_value(job, "status")),
        "tags": [str(t) for t in tags] if isinstance(tags, (list, tuple)) else [],
        "session_id": _str_or_none(_value(job, "session_id")),
        "instance": _str_or_none(_value(job, "instance")),
        "usage": _number(_value(job, "usage")),
        "metrics": _jsonable(_value(job, "metrics")),
        "job_class": f"{type(job).__module__}.{type(job).__qualname__}",
    }
    return out


def provenance(source: Any) -> dict[str, Any] | None:
    """Return the provenance of a job, or the one stored in a file, without its data.

    Parameters
    ----------
    source
        A job (see :func:`is_job`), or a path or binary stream of a file written by
        ``qserial.dump(job, ...)``.

    Returns
    -------
    dict or None
        See :func:`job_provenance`; None for a file that holds no provenance.

    Examples
    --------
    >>> import io, qserial
    >>> buf = io.BytesIO()
    >>> qserial.dump(complex(0, 1), buf)
    >>> _ = buf.seek(0)
    >>> qserial.provenance(buf) is None
    True
    """
    if is_job(source):
        return job_provenance(source)
    manifest = read_header(source).get("manifest")
    found = manifest.get("provenance") if isinstance(manifest, dict) else None
    return found if isinstance(found, dict) else None


def _value(job: Any, name: str) -> Any:
    # Properties and methods alike; a job that cannot answer (no such attribute, no
    # network, a method needing arguments) simply gives no value.
    try:
        value = getattr(job, name)
        return value() if callable(value) else value
    except Exception:
        return None


def _backend_name(backend: Any) -> str | None:
    if backend is None or isinstance(backend, str):
        return backend
    name = getattr(backend, "name", None)
    if callable(name):  # BackendV1
        try:
            name = name()
        except Exception:
            return None
    return None if name is None else str(name)


def status_name(status: Any) -> str | None:
    """``"DONE"`` for ``"DONE"``, ``JobStatus.DONE`` or ``"JobStatus.DONE"``."""
    if status is None:
        return None
    if isinstance(status, enum.Enum):
        return status.name
    return str(status).rpartition(".")[2].upper()


def iso_utc(value: Any) -> str | None:
    """An ISO 8601 UTC timestamp from a datetime or ISO string; naive means local time."""
    when = to_datetime(value)
    return None if when is None else when.isoformat()


def to_datetime(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from a datetime or ISO string (naive means local time)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    # astimezone() takes a naive datetime as local time, as qiskit-ibm-runtime does.
    return value.astimezone(_UTC)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = value.item()  # a numpy scalar
        except Exception:
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float)) else None


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: what JSON cannot say becomes a string."""
    if depth > 20:
        return None
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    number = _number(value)
    return number if number is not None else str(value)

