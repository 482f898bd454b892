"""Datetimes with an IANA zone keep it in the binary formats, and assert_equal sees it."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from qiskit_ibm_runtime import RuntimeDecoder

import qserial
from qserial.testing import assert_equal

ZURICH = ZoneInfo("Europe/Zurich")
BINARY = [f for f in qserial.list_formats() if f not in ("json", "jsongz")]
# The hour repeated when DST ends, once for each of its two offsets.
FIRST = dt.datetime(2024, 10, 27, 2, 30, tzinfo=ZURICH)
SECOND = FIRST.replace(fold=1)


@pytest.mark.parametrize("fmt", BINARY)
@pytest.mark.parametrize("when", [FIRST, SECOND, dt.datetime(2024, 3, 31, 3, 0, tzinfo=ZURICH),
                                  dt.datetime(2024, 7, 1, tzinfo=ZoneInfo("UTC"))],
                         ids=["first", "second", "after spring", "UTC"])
def test_zone_survives_binary_formats(fmt: str, when: dt.datetime) -> None:
    got = qserial.loads(qserial.dumps({"t": [when]}, format=fmt), format=fmt)["t"][0]
    assert got.tzinfo is when.tzinfo  # ZoneInfo(key) is cached: the very same zone
    assert (got.fold, got.tzname(), got.utcoffset()) == (when.fold, when.tzname(),
                                                          when.utcoffset())
    # Arithmetic across the DST change is the zone's, not a fixed offset's.
    later = got + dt.timedelta(days=1)
    assert later.utcoffset() == (when + dt.timedelta(days=1)).utcoffset()
    assert_equal(got, when)


def test_json_keeps_the_offset_as_runtime_encoder_does() -> None:
    data = qserial.dumps({"t": SECOND})
    assert b"Europe/Zurich" not in data
    got = qserial.loads(data)["t"]
    # (== across zones is False for the second of two equal wall times: PEP 495)
    assert got.timestamp() == SECOND.timestamp() and got.utcoffset() == SECOND.utcoffset()
    assert json.loads(data, cls=RuntimeDecoder)["t"].timestamp() == SECOND.timestamp()
    assert_equal(got, SECOND, exact=False)
    with pytest.raises(AssertionError, match="Europe/Zurich"):
        assert_equal(got, SECOND)


def test_assert_equal_compares_the_zone() -> None:
    summer = dt.datetime(2024, 7, 1, 12, tzinfo=ZURICH)
    fixed = summer.astimezone(dt.timezone(summer.utcoffset()))
    assert fixed == summer  # the same instant ...
    with pytest.raises(AssertionError, match="Europe/Zurich"):
        assert_equal(fixed, summer)  # ... but not the same value
    with pytest.raises(AssertionError):
        assert_equal(dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
                     dt.datetime(2024, 1, 1, tzinfo=ZURICH))


@pytest.mark.parametrize("text", [
    "2024-10-27T02:30:00+01:00[Nowhere/Atlantis]",  # not a zone
    "2024-10-27T02:30:00+01:00[../../etc/passwd]",  # never a path
    "2024-10-27T02:30:00[Europe/Zurich]",  # a zone needs an offset
    "2024-10-27T02:30:00+05:00[Europe/Zurich]",  # an offset the zone never had then
    "2024-10-27T02:30:00+01:00[Europe/Zurich",  # no closing bracket
])
def test_bad_zones_are_decode_errors(text: str) -> None:
    tree = qserial.Node("datetime", text)
    with pytest.raises(qserial.DecodeError):
        qserial.from_tree(tree)


def test_zone_without_a_known_key_is_refused() -> None:
    # A ZoneInfo read from a file may carry any key: one that could not be read back.
    zone = ZoneInfo.from_file(io.BytesIO(_zone_file("Europe/Zurich")), key="Mars/Olympus")
    with pytest.raises(qserial.UnsupportedTypeError, match="Mars/Olympus"):
        qserial.dumps(dt.datetime(2024, 1, 1, tzinfo=zone))


def _zone_file(key: str) -> bytes:
    import zoneinfo

    for folder in zoneinfo.TZPATH:
        path = Path(folder, key)
        if path.is_file():
            return path.read_bytes()
    from importlib.resources import files

    area, _, name = key.rpartition("/")
    return files(f"tzdata.zoneinfo.{area}").joinpath(name).read_bytes()
