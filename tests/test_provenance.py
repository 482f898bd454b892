"""Job provenance: read from real jobs, stored in every file's manifest, read back alone."""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import os
from typing import Any

import pytest

import qserial
from qserial import (
    Format,
    QSerialError,
    UnsupportedFeatureError,
    UnsupportedTypeError,
    UnsupportedVersionError,
)
from qserial._provenance import PROVENANCE_KEYS, is_job, job_provenance
from qserial.formats import get_format, list_formats
from qserial.testing import assert_equal
from tests._service_double import real_local_jobs, service_with_real_jobs


@pytest.fixture(scope="module")
def local_job() -> Any:
    return real_local_jobs()[1]  # SamplerV2 on FakeManilaV2: a sweep pub and a GHZ pub


def test_provenance_of_a_local_testing_mode_job(local_job: Any) -> None:
    from qiskit_ibm_runtime.fake_provider.local_runtime_job import LocalRuntimeJob

    assert isinstance(local_job, LocalRuntimeJob)
    prov = qserial.provenance(local_job)
    assert tuple(prov) == PROVENANCE_KEYS
    assert prov["job_id"] == local_job.job_id()
    assert prov["backend"] == "fake_manila"
    assert prov["program_id"] == "sampler"
    assert prov["status"] == "DONE"
    assert prov["tags"] == []
    assert prov["session_id"] == local_job.session_id
    assert prov["usage"] == 0
    assert prov["metrics"]["usage"]["status"] == "complete"
    assert prov["job_class"].endswith(".LocalRuntimeJob")
    # A naive local creation date, stored as the same instant in UTC.
    when = dt.datetime.fromisoformat(prov["creation_date"])
    assert when.utcoffset() == dt.timedelta(0)
    assert when == local_job.creation_date.astimezone(dt.timezone.utc)
    json.dumps(prov, allow_nan=False)


def test_provenance_of_a_service_job() -> None:
    job = service_with_real_jobs().jobs(job_tags=["sweep", "calib"])[0]
    prov = qserial.provenance(job)
    assert prov["job_id"] == job.job_id()
    assert prov["backend"] == "fake_quito"
    assert prov["tags"] == ["sweep", "calib"]
    assert prov["session_id"] == "s2"
    assert prov["instance"] == "crn:b"
    assert prov["usage"] == 1.5
    assert prov["creation_date"] == "2025-03-01T00:00:00+00:00"


class _Status(enum.Enum):
    DONE = 2


class _OddJob:
    """Job-like, but with little and partly broken information."""

    def job_id(self) -> str:
        return "odd-1"

    def result(self) -> Any:
        return complex(1, 2)

    @property
    def creation_date(self) -> dt.datetime:
        return dt.datetime(2025, 5, 1, 12, 0)  # naive: local time

    @property
    def session_id(self) -> str:
        raise ConnectionError("no network")

    def usage(self) -> float:
        raise RuntimeError("not finished")

    def status(self) -> _Status:
        return _Status.DONE

    def backend(self) -> Any:
        class V1:
            def name(self) -> str:
                return "v1_backend"
        return V1()


def test_provenance_never_fails_on_missing_or_failing_attributes() -> None:
    prov = qserial.provenance(_OddJob())
    assert prov["job_id"] == "odd-1"
    assert prov["backend"] == "v1_backend"
    assert prov["status"] == "DONE"
    assert prov["session_id"] is None and prov["usage"] is None
    assert prov["program_id"] is None and prov["tags"] == [] and prov["metrics"] is None
    local = dt.datetime(2025, 5, 1, 12, 0).astimezone()
    assert prov["creation_date"] == local.astimezone(dt.timezone.utc).isoformat()


def test_what_counts_as_a_job(local_job: Any) -> None:
    assert is_job(local_job) and is_job(_OddJob())
    assert not is_job(local_job.result()) and not is_job(_OddJob) and not is_job({"a": 1})


@pytest.mark.parametrize("name", list_formats())
def test_dump_of_a_job_stores_result_and_provenance(name: str, local_job: Any,
                                                    tmp_path: Any) -> None:
    fmt = get_format(name)
    if not fmt.supports_manifest:
        pytest.skip(f"format {name!r} does not store manifests yet")
    path = tmp_path / f"job{fmt.suffixes[0]}"
    qserial.dump(local_job, path, format=fmt)
    expected = job_provenance(local_job)
    assert qserial.provenance(path) == expected
    header = qserial.read_header(path)
    assert header["manifest"] == {"provenance": expected}
    assert header["version"] == fmt.version
    with open(path, "rb") as stream:  # and through a stream
        assert qserial.provenance(stream) == expected
    assert_equal(qserial.load(path), local_job.result(), exact=name != "json")


def test_runtime_decoder_reads_a_json_file_of_a_job(local_job: Any, tmp_path: Any) -> None:
    from qiskit_ibm_runtime import RuntimeDecoder

    path = tmp_path / "job.json"
    qserial.dump(local_job, path)
    with open(path) as f:
        decoded = json.load(f, cls=RuntimeDecoder)
    assert_equal(decoded, local_job.result(), exact=False)
    assert json.loads(path.read_text())["__qserial__"]["manifest"]["provenance"]["job_id"] \
        == local_job.job_id()


def test_dumps_of_a_job_and_a_user_manifest(local_job: Any) -> None:
    data = qserial.dumps(local_job, manifest={"note": "kept"})
    header = qserial.read_header(io.BytesIO(data))
    assert header["manifest"]["note"] == "kept"
    assert header["manifest"]["provenance"]["job_id"] == local_job.job_id()
    assert_equal(qserial.loads(data), local_job.result(), exact=False)


def test_json_header_is_read_from_the_tail_only(local_job: Any, tmp_path: Any) -> None:
    path = tmp_path / "job.json"
    qserial.dump(local_job, path)
    data = bytearray(path.read_bytes())
    data[1:9] = b"@@@@@@@@"  # the document's start is now invalid JSON
    path.write_bytes(bytes(data))
    assert qserial.read_header(path, format="json")["manifest"]["provenance"]["job_id"] \
        == local_job.job_id()
    with pytest.raises(QSerialError):
        qserial.load(path, format="json")


@pytest.mark.parametrize("manifest", [
    {"labels": {"__qserial__": {"version": "99.0"}}},  # the header key, nested, last
    {"big": "x" * 200_000},                            # longer than the tail that is read
    {"text": 'quotes " and "__qserial__": {} } braces', "u": "\u00e9\u4e2d"},
])
@pytest.mark.parametrize("indent", [None, 2])
def test_json_header_edge_cases(manifest: dict, indent: int | None, local_job: Any) -> None:
    data = qserial.dumps(local_job.result(), manifest=manifest, indent=indent)
    assert qserial.read_header(io.BytesIO(data))["manifest"] == manifest
    # a stream that cannot seek is read whole
    assert get_format("json").read_header(_Unseekable(data))["manifest"] == manifest


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._inner.readinto(b)


def test_json_headers_of_files_without_one(local_job: Any) -> None:
    from qiskit_ibm_runtime import RuntimeEncoder

    plain = json.dumps(local_job.result(), cls=RuntimeEncoder).encode()
    header = qserial.read_header(io.BytesIO(plain))
    assert header == {"format": "json", "version": None, "writer": {}}
    assert qserial.provenance(io.BytesIO(plain)) is None
    assert qserial.read_header(io.BytesIO(b'{"a": [1, 2]}'))["version"] is None


def test_json_header_of_a_newer_major_version_is_refused() -> None:
    version = f'"version": "{get_format("json").version}"'.encode()
    data = qserial.dumps(complex(1, 1)).replace(version, b'"version": "2.0"')
    assert b'"version": "2.0"' in data
    with pytest.raises(UnsupportedVersionError):
        qserial.read_header(io.BytesIO(data))


def test_bad_manifests_are_refused_before_writing(tmp_path: Any) -> None:
    path = tmp_path / "x.json"
    for bad in ({"when": dt.datetime(2025, 1, 1)}, {"x": float("nan")}, ["not", "a", "dict"]):
        with pytest.raises(UnsupportedTypeError):
            qserial.dump(complex(1, 0), path, manifest=bad)
    assert not os.listdir(tmp_path)
    with pytest.raises(UnsupportedFeatureError, match="tagged top-level"):
        qserial.dumps([1, 2], manifest={"a": 1})


class _NoManifest(Format):
    name = "nomanifest"
    suffixes = (".nm",)

    def dump(self, tree: Any, stream: Any, **options: Any) -> None:
        stream.write(b"x")


def test_formats_without_manifest_or_header_support_say_so(local_job: Any,
                                                           tmp_path: Any) -> None:
    with pytest.raises(UnsupportedFeatureError, match="cannot store a manifest"):
        qserial.dump(local_job, tmp_path / "a.nm", format=_NoManifest)
    assert not os.listdir(tmp_path)
    with pytest.raises(UnsupportedFeatureError, match="cannot read a file's header"):
        _NoManifest().read_header(io.BytesIO(b"x"))
    err = UnsupportedFeatureError("x")
    assert isinstance(err, QSerialError) and isinstance(err, NotImplementedError)
