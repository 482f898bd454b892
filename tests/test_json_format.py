"""The JSON reference format: errors with paths, limits, the header, tokens, compression."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import zlib
from typing import Any

import numpy as np
import pytest
from numpy.lib import format as npy_format
from qiskit_ibm_runtime import RuntimeEncoder

import qserial
from qserial import (
    DecodeError,
    LimitExceededError,
    QSerialError,
    TruncatedError,
    UnknownObject,
    UnknownTagError,
    UnsupportedVersionError,
    scenarios,
)
from qserial.formats.json import FORMAT_VERSION
from qserial.testing import assert_equal
from tests import _results

# DataBin fields sit under "fields" in the file; the path may or may not show that level.
MEAS_2 = r"\$\.pub_results\[2\]\.data(\.fields)?\.meas"


def _doc(obj: Any, **options: Any) -> dict:
    return json.loads(qserial.dumps(obj, **options))


def _load_doc(doc: Any, **options: Any) -> Any:
    # The documents are edited on purpose: their digests no longer match.
    return qserial.loads(json.dumps(doc), **{"verify": False, **options})


def _meas(doc: dict, pub: int) -> dict:
    """The BitArray ``meas`` of pub ``pub`` in a sampler result's JSON document."""
    return doc["__value__"]["pub_results"][pub]["__value__"]["data"]["__value__"]["fields"][
        "meas"]["__value__"]


def _pack(npy: bytes, level: int = 6) -> str:
    return base64.b64encode(zlib.compress(npy, level)).decode("ascii")


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _with_meas_array(value: str) -> dict:
    doc = _doc(_results.sampler_result())
    _meas(doc, 2)["array"]["__value__"] = value
    return doc


def _raises_at(doc: dict, cls: type[QSerialError], pattern: str = MEAS_2) -> QSerialError:
    with pytest.raises(cls) as info:
        _load_doc(doc)
    err = info.value
    assert err.path is not None and re.match(pattern, err.path), err.path
    assert err.path in str(err)
    return err


# -- errors name where they happened -----------------------------------------------------


def test_bad_bitarray_names_its_path() -> None:
    doc = _doc(_results.sampler_result())
    _meas(doc, 2)["num_bits"] = 99
    err = _raises_at(doc, DecodeError)
    assert "99" in str(err)


def test_bad_datetime_in_span_names_its_path() -> None:
    doc = _doc(_results.spans_result())
    spans = doc["__value__"]["metadata"]["execution"]["execution_spans"]
    spans["__value__"]["spans"][3]["__value__"]["start"]["__value__"] = "yesterday"
    err = _raises_at(doc, DecodeError, r"\$\.metadata\.execution\.execution_spans")
    assert "[3]" in err.path and "yesterday" in str(err)


def test_truncated_json_is_truncated_error_at_every_cut() -> None:
    data = qserial.dumps(_results.estimator_result(), indent=1)
    for cut in range(1, len(data), 13):
        with pytest.raises(TruncatedError):
            qserial.loads(data[:cut])


def test_wrong_json_is_not_reported_as_truncated() -> None:
    for text in ('{"a": 1,, "b": 2}', '{"a": nope}', "[1, 2]]", '{"a": 1.2.3}'):
        with pytest.raises(DecodeError) as info:
            qserial.loads(text)
        assert type(info.value) is DecodeError, text


def test_invalid_base64_has_path() -> None:
    err = _raises_at(_with_meas_array("not base64!"), DecodeError)
    assert "base64" in str(err)


def test_invalid_zlib_has_path() -> None:
    err = _raises_at(_with_meas_array(base64.b64encode(b"plain bytes").decode()), DecodeError)
    assert "zlib" in str(err)


def test_cut_zlib_stream_is_truncated() -> None:
    packed = zlib.compress(_npy(np.arange(1000, dtype=np.uint8)))
    _raises_at(_with_meas_array(base64.b64encode(packed[:-8]).decode()), TruncatedError)


def test_invalid_npy_has_path() -> None:
    err = _raises_at(_with_meas_array(_pack(b"\x93NUMPX garbage")), DecodeError)
    assert ".npy" in str(err)


def test_npy_shape_larger_than_payload() -> None:
    npy = _npy_header((64, 1)) + bytes(10)
    err = _raises_at(_with_meas_array(_pack(npy)), DecodeError)
    assert "(64, 1)" in str(err)


def test_npy_huge_shape_is_refused_without_allocating() -> None:
    npy = _npy_header((1 << 40, 1)) + bytes(10)
    _raises_at(_with_meas_array(_pack(npy)), LimitExceededError)


_UNPICKLED: list[str] = []


class _Marker:
    def __reduce__(self) -> tuple:
        return (_UNPICKLED.append, ("unpickled",))


def test_object_dtype_npy_is_refused_and_never_unpickled() -> None:
    arr = np.array([_Marker(), 1], dtype=object)
    err = _raises_at(_with_meas_array(_pack(_npy(arr, allow_pickle=True))), DecodeError)
    assert "object" in str(err).lower()
    assert _UNPICKLED == []


def test_ragged_list_ndarray_is_refused() -> None:
    with pytest.raises(DecodeError, match="ndarray"):
        qserial.loads('{"x": {"__type__": "ndarray", "__value__": [[1, 2], [3]]}}')


def test_list_ndarray_and_extrapolator_names() -> None:
    # RuntimeEncoder writes object arrays as lists and ZNE extrapolators as names.
    got = qserial.loads('{"a": {"__type__": "ndarray", "__value__": [[1, 2], [3, 4]]},'
                        ' "b": {"__type__": "ndarray", "__value__": "exponential"}}')
    assert_equal(got["a"], np.array([[1, 2], [3, 4]]))
    assert got["b"] == "exponential"


# -- unknown tags ------------------------------------------------------------------------

_MYSTERY = {"__type__": "Mystery", "__value__": {
    "a": [1, 2.5, None], "z": {"__type__": "complex", "__value__": [1.0, -2.0]}}}


def test_unknown_tag_raises_by_default() -> None:
    doc = {"results": [0, _MYSTERY]}
    with pytest.raises(UnknownTagError, match="Mystery") as info:
        _load_doc(doc)
    assert info.value.path == "$.results[1]"


def test_unknown_tag_in_a_result_raises_with_path() -> None:
    doc = _doc(_results.sampler_result())
    doc["__value__"]["pub_results"][2]["__value__"]["metadata"]["extra"] = _MYSTERY
    _raises_at(doc, UnknownTagError, r"\$\.pub_results\[2\]\.metadata\.extra")


def test_unknown_tag_kept_with_strict_false() -> None:
    obj = _load_doc({"results": [0, _MYSTERY]}, strict=False)
    mystery = obj["results"][1]
    assert type(mystery) is UnknownObject
    assert mystery.tag == "Mystery"
    assert mystery.value == {"a": [1, 2.5, None], "z": 1 - 2j}


def test_unknown_object_writes_back_the_same_tag_and_value() -> None:
    obj = _load_doc(_MYSTERY, strict=False)
    doc = _doc(obj)
    doc.pop("__qserial__")
    assert doc == _MYSTERY


def test_unknown_tag_inside_result_survives_round_trip() -> None:
    doc = _doc(_results.sampler_result())
    doc["__value__"]["metadata"]["extra"] = _MYSTERY
    result = _load_doc(doc, strict=False)
    assert type(result.metadata["extra"]) is UnknownObject
    again = _doc(result)
    assert again["__value__"]["metadata"]["extra"] == _MYSTERY
    assert_equal(_load_doc(again, strict=False)[2], _results.sampler_result()[2])


# -- the __qserial__ header --------------------------------------------------------------


def test_header_is_written() -> None:
    doc = _doc(_results.sampler_result())
    header = doc["__qserial__"]
    assert header["format"] == "qserial-json"
    assert header["version"] == FORMAT_VERSION
    assert header["writer"]["qserial"] == qserial.__version__
    assert header["writer"]["numpy"] == np.__version__


def test_no_header_without_a_tagged_top_level() -> None:
    assert "__qserial__" not in _doc({"a": 1})


def test_newer_major_version_is_refused() -> None:
    doc = _doc(_results.sampler_result())
    major = int(FORMAT_VERSION.split(".")[0])
    doc["__qserial__"]["version"] = f"{major + 1}.0"
    with pytest.raises(UnsupportedVersionError) as info:
        _load_doc(doc)
    assert f"{major + 1}.0" in str(info.value)
    assert FORMAT_VERSION in str(info.value)


def test_newer_minor_version_is_read() -> None:
    doc = _doc(_results.sampler_result())
    doc["__qserial__"]["version"] = FORMAT_VERSION.split(".")[0] + ".99"
    assert_equal(_load_doc(doc), _results.sampler_result())


@pytest.mark.parametrize("header", [None, "1.0", {"version": 1}, {"version": "x.y"}, {}])
def test_malformed_header_is_decode_error(header: Any) -> None:
    doc = _doc(_results.sampler_result())
    doc["__qserial__"] = header
    if header is None:
        # null is "no header": files stay readable when a tool blanks it.
        _load_doc(doc)
        return
    with pytest.raises(DecodeError, match="__qserial__"):
        _load_doc(doc)


# -- values --------------------------------------------------------------------------------


def test_nan_and_infinity_tokens() -> None:
    value = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf,
             "arr": np.array([math.nan, -0.0, math.inf])}
    text = qserial.dumps(value).decode()
    assert '"nan": NaN' in text and '"inf": Infinity' in text and '"ninf": -Infinity' in text
    back = qserial.loads(text)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["ninf"] == -math.inf
    assert_equal(back, value)


def test_nan_tokens_from_runtime_encoder_files() -> None:
    back = qserial.loads('{"a": [NaN, Infinity, -Infinity]}')
    assert math.isnan(back["a"][0]) and back["a"][1:] == [math.inf, -math.inf]


def test_bytes_use_qserials_own_tag() -> None:
    doc = _doc({"raw": b"\x00\xffqserial"})
    assert doc["raw"] == {"__type__": "bytes", "__value__": "AP9xc2VyaWFs"}
    assert qserial.loads(json.dumps(doc)) == {"raw": b"\x00\xffqserial"}


# -- compression="auto" ------------------------------------------------------------------


def _packed_sizes(doc: dict) -> list[tuple[int, int]]:
    """(stored size, .npy size) of every BitArray in a sampler result document."""
    sizes = []
    for i in range(len(doc["__value__"]["pub_results"])):
        packed = base64.b64decode(_meas(doc, i)["array"]["__value__"])
        sizes.append((len(packed), len(zlib.decompress(packed))))
    return sizes


def test_auto_stores_random_bits_uncompressed() -> None:
    result = _results.random_sweep_result(2, 20, 4096, 30)
    for stored, raw in _packed_sizes(_doc(result)):
        assert raw > 1 << 16
        assert stored >= raw  # zlib level 0: the bits are stored as they are
    assert_equal(qserial.loads(qserial.dumps(result)), result)


def test_auto_compresses_low_entropy_bits() -> None:
    result = _results.ghz_result()
    [(stored, raw)] = _packed_sizes(_doc(result))
    assert stored < raw / 6


def _zlib_levels(doc: dict) -> list[int]:
    """The FLEVEL field of each BitArray's zlib header: 0 fastest, 1 fast, 2 default, 3 best."""
    return [base64.b64decode(_meas(doc, i)["array"]["__value__"][:4])[1] >> 6
            for i in range(len(doc["__value__"]["pub_results"]))]


@pytest.mark.parametrize("build", [
    lambda: _results.ghz_result(),
    lambda: scenarios.ghz(),
    lambda: scenarios.ghz(bits=5, shots=3000),  # small arrays too (3 kB: no sample)
    lambda: scenarios.biased_sweep(pubs=2, params=3, shots=2000),
], ids=["ghz", "noisy-ghz", "small-ghz", "biased"])
def test_auto_compresses_with_a_fast_level_only(build: Any) -> None:
    # RuntimeEncoder's level 6 runs at 5-30 MB/s on measurement bits; "auto" never does.
    result = build()
    doc = _doc(result)
    assert set(_zlib_levels(doc)) == {0}
    sizes = _packed_sizes(doc)
    assert all(stored < 0.6 * raw for stored, raw in sizes)
    assert_equal(qserial.loads(qserial.dumps(result)), result, exact=False)


def test_auto_ghz_file_stays_near_runtime_encoders() -> None:
    # Level 1 gives up some size for 5-10x the speed of level 6; not more than this.
    result = _results.ghz_result()
    ours = len(qserial.dumps(result))
    theirs = len(json.dumps(result, cls=RuntimeEncoder).encode())
    assert ours <= 1.7 * theirs
    stored = len(qserial.dumps(result, compression=0))
    assert ours < stored / 5


def test_explicit_compression_level() -> None:
    result = _results.random_sweep_result(1, 20, 4096, 30)
    [(stored9, raw)] = _packed_sizes(_doc(result, compression=9))
    [(stored0, _)] = _packed_sizes(_doc(result, compression=0))
    assert stored9 < stored0 and stored0 >= raw
    small = _results.ghz_result(20, 500)
    [(stored, raw)] = _packed_sizes(_doc(small, compression=0))
    assert stored >= raw


# -- limits --------------------------------------------------------------------------------


def test_max_array_bytes_limit() -> None:
    data = qserial.dumps(_results.random_sweep_result(3, 4, 100, 30))
    with pytest.raises(LimitExceededError) as info:
        qserial.loads(data, max_array_bytes=1000)
    assert re.match(r"\$\.pub_results\[0\]", info.value.path)
    qserial.loads(data, max_array_bytes=1600 + 200)  # each array is 4 x 100 x 4 bytes


def test_compression_bomb_is_stopped_by_the_limit() -> None:
    npy = _npy(np.zeros((1 << 24, 1), dtype=np.uint8))  # 16 MiB of zeros, 16 KB packed
    doc = _with_meas_array(_pack(npy, 9))
    with pytest.raises(LimitExceededError, match="max_array_bytes"):
        _load_doc(doc, max_array_bytes=1 << 20)


# -- writing: errors name the path, the documented lossy points ------------------------------


def test_write_error_names_its_path() -> None:
    result = _results.sampler_result()
    pubs = list(result)
    bad = type(pubs[2])(pubs[2].data, {"when": np.datetime64("2024-01-01T00:00:00.000000001")})
    with pytest.raises(qserial.UnsupportedTypeError) as info:
        qserial.dumps(type(result)([*pubs[:2], bad], metadata=result.metadata))
    assert info.value.path == "$.pub_results[2].metadata.when"


def test_colliding_keys_are_refused() -> None:
    with pytest.raises(qserial.UnsupportedTypeError, match="collide") as info:
        qserial.dumps({"m": {1: "int key", "1": "str key"}})
    assert info.value.path == "$.m"


def test_documented_lossy_points() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    zurich = dt.datetime(2024, 7, 1, 12, 30, tzinfo=ZoneInfo("Europe/Zurich"))
    value = {
        "tuple": (1, (2, 3)), "int_keys": {0: "a", 10: "b"}, "float32": np.float32(0.5),
        "bool_": np.bool_(False), "zurich": zurich, "date": dt.date(2024, 1, 2),
        "frozenset": frozenset({3, 1}),
    }
    back = qserial.loads(qserial.dumps(value))
    assert back["tuple"] == [1, [2, 3]]
    assert back["int_keys"] == {"0": "a", "10": "b"}
    assert type(back["float32"]) is float and back["float32"] == 0.5
    assert back["bool_"] is False
    assert back["zurich"] == zurich
    assert back["zurich"].tzinfo == dt.timezone(dt.timedelta(hours=2))
    assert back["date"] == dt.datetime(2024, 1, 2)
    assert back["frozenset"] == {1, 3} and type(back["frozenset"]) is set
    # assert_equal's lossy view says exactly these points are what differs.
    assert_equal(back, value, exact=False)
    with pytest.raises(AssertionError):
        assert_equal(back, value, exact=True)


def test_exact_types_survive() -> None:
    import datetime as dt

    value = {"naive": dt.datetime(2024, 1, 1, 0, 0, 0, 5),
             "utc": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
             "set": {1, 2}, "complex": complex(-0.0, math.inf), "bytes": b"\x00",
             "arrays": [np.zeros((0, 3), dtype=np.complex64), np.array(True),
                        np.arange(5, dtype=">i2")]}
    assert_equal(qserial.loads(qserial.dumps(value)), value, exact=True)
