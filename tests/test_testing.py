"""qserial.testing.assert_equal: what counts as the same result, and how a difference is told."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)

from qserial.testing import assert_equal, first_difference
from qserial.testing.strategies import values


def _differs(a, b, *, exact: bool = True, where: str | None = None) -> str:
    with pytest.raises(AssertionError) as info:
        assert_equal(a, b, exact=exact)
    message = str(info.value)
    if where is not None:
        assert message.startswith(f"at {where}"), message
    return message


def _result(bits: np.ndarray, num_bits: int = 3) -> PrimitiveResult:
    pubs = [SamplerPubResult(DataBin(meas=BitArray(np.zeros((2, 1), np.uint8), num_bits))),
            SamplerPubResult(DataBin(meas=BitArray(bits, num_bits)), {"shots": 2})]
    return PrimitiveResult(pubs, {"version": 2})


@given(values())
def test_everything_equals_itself(obj) -> None:
    assert first_difference(obj, obj) is None
    assert first_difference(obj, obj, exact=False) is None


def test_equal_results_pass() -> None:
    bits = np.array([[1], [6]], np.uint8)
    assert_equal(_result(bits), _result(bits.copy()))


def test_dtype_is_compared() -> None:
    _differs(np.zeros(3, np.float32), np.zeros(3, np.float64), where="$.dtype")
    _differs(np.zeros(3, np.int64), np.zeros(3, np.uint64), where="$.dtype")
    _differs(np.zeros(3, "<f8"), np.zeros(3, ">f8"), where="$.dtype")  # byte order too
    _differs(np.float32(1), np.float64(1), where="$.dtype")
    _differs(np.zeros((2, 3)), np.zeros((3, 2)), where="$.shape")


def test_array_values_name_the_first_unequal_element() -> None:
    a = np.arange(6).reshape(2, 3)
    b = a.copy()
    b[1, 2] = 99
    message = _differs({"evs": a}, {"evs": b}, where="$.evs[1, 2]")
    assert "5" in message and "99" in message


def test_memory_layout_is_not_compared() -> None:
    a = np.arange(12.0).reshape(3, 4)
    assert_equal(np.asfortranarray(a), a)
    assert_equal(np.repeat(a, 2, axis=0)[::2], a)


def test_nan_equals_nan() -> None:
    assert_equal(math.nan, math.nan)
    assert_equal(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert_equal(complex(math.nan, 1), complex(math.nan, 1))
    assert_equal(np.array([np.nan + 1j], np.complex64), np.array([np.nan + 1j], np.complex64))
    # NaNs with other payload bits are still NaN.
    quiet = np.array([np.nan])
    other = np.array([0x7FF8000000000001], np.uint64).view(np.float64)
    assert quiet.tobytes() != other.tobytes()
    assert_equal(quiet, other)
    _differs(math.nan, 1.0)
    _differs(np.array([np.nan]), np.array([0.0]))


def test_negative_zero_differs_from_zero() -> None:
    _differs(-0.0, 0.0)
    _differs(np.array([-0.0]), np.array([0.0]), where="$[0]")
    _differs(complex(0.0, -0.0), complex(0.0, 0.0))
    _differs({"x": -0.0}, {"x": 0.0}, exact=False, where="$.x")
    assert_equal(-0.0, -0.0)


def test_types_in_metadata_are_compared() -> None:
    _differs({"shots": 1}, {"shots": 1.0}, where="$.shots")
    _differs({"flag": True}, {"flag": 1}, where="$.flag")
    _differs({"v": np.float32(1.5)}, {"v": 1.5}, where="$.v")
    _differs({"v": np.int64(3)}, {"v": 3}, where="$.v")
    _differs({"pair": (1, 2)}, {"pair": [1, 2]}, where="$.pair")
    _differs({"keys": {1: "a"}}, {"keys": {"1": "a"}}, where="$.keys")
    _differs({"s": {1, 2}}, {"s": frozenset({1, 2})}, where="$.s")
    _differs({"b": b"x"}, {"b": "x"}, where="$.b")
    naive, aware = dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    _differs({"t": naive}, {"t": aware}, where="$.t")
    _differs({"t": dt.date(2025, 1, 1)}, {"t": naive}, where="$.t")
    _differs({"a": 1, "b": 2}, {"b": 2, "a": 1})  # key order is part of a dict


def test_result_classes_are_compared() -> None:
    data = DataBin(meas=BitArray(np.zeros((2, 1), np.uint8), 3))
    message = _differs(PubResult(data), SamplerPubResult(data), where="$")
    assert "PubResult" in message and "SamplerPubResult" in message


def test_bit_array_padding_bits_are_compared() -> None:
    # 3 bits per shot: the top 5 bits of each byte are padding, not outcomes.
    clean = np.array([[1], [6]], np.uint8)
    dirty = clean | 0b1000_0000
    assert BitArray(clean, 3).get_counts() == BitArray(dirty, 3).get_counts()
    message = _differs(_result(clean), _result(dirty), where="$.pub_results[1].data")
    assert "meas" in message


def test_message_names_the_path_of_the_first_difference() -> None:
    bits = np.array([[1], [6]], np.uint8)
    a, b = _result(bits), _result(bits)
    b[1].metadata["shots"] = 3
    _differs(a, b, where="$.pub_results[1].metadata.shots")
    b = _result(bits)
    b.metadata["execution"] = {}
    _differs(a, b, where="$.metadata")
    assert first_difference(a, b).startswith("at $.metadata: keys")


def test_exact_false_compares_as_json_keeps_values() -> None:
    stored = {"pair": [1, [2, 3]], "keys": {"1": "a", "Infinity": "b", "null": "c",
                                            "false": "d"},
              "n": 1.5, "i": 3, "flag": True, "day": dt.datetime(2025, 1, 2)}
    original = {"pair": (1, (2, 3)), "keys": {1: "a", math.inf: "b", None: "c", False: "d"},
                "n": np.float32(1.5), "i": np.int8(3), "flag": np.bool_(True),
                "day": dt.date(2025, 1, 2)}
    assert_equal(stored, original, exact=False)
    _differs(stored, original)
    # What JSON does keep is still compared.
    _differs({"n": 1.5}, {"n": np.float32(1.25)}, exact=False, where="$.n")
    _differs(np.zeros(2, np.float32), np.zeros(2), exact=False, where="$.dtype")
    _differs({"z": 1j}, {"z": 1}, exact=False, where="$.z")


# -- the strategies reach the cases formats get wrong ------------------------------------


def _nested(obj):
    """Every value inside ``obj`` (containers opened, set elements and dict keys too)."""
    yield obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nested(k)
            yield from _nested(v)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _nested(v)


def _has(pred):
    return lambda obj: any(pred(x) for x in _nested(obj))


def _is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


_CASES = {
    "arrays": [
        lambda a: a.ndim == 0,
        lambda a: a.ndim > 0 and a.size == 0,
        lambda a: a.dtype.byteorder == ">",
        lambda a: a.dtype == np.float16,
        lambda a: a.dtype.kind == "c",
        lambda a: a.dtype == np.bool_,
        lambda a: _is_float_array(a) and bool(np.isnan(a).any()),
        lambda a: _is_float_array(a) and bool(np.isinf(a).any()),
        lambda a: _is_float_array(a) and bool((np.signbit(a) & (a == 0)).any()),
        lambda a: a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous,
        lambda a: a.size > 1 and not a.flags.c_contiguous and not a.flags.f_contiguous,
    ],
    "bit_arrays": [
        lambda b: b.num_bits % 8 and bool((b.array[..., 0] >> (b.num_bits % 8)).any()),
        lambda b: b.num_bits == 0,
        lambda b: b.num_shots == 0,
        lambda b: b.num_bits > 8 and b.ndim >= 1,
    ],
    "data_bins": [
        lambda d: len(d) == 0,
        lambda d: d.ndim >= 1 and len(d) >= 2,
        lambda d: any(isinstance(v, BitArray) for v in d.values())
        and any(isinstance(v, np.ndarray) for v in d.values()),
    ],
    "metadata": [
        _has(lambda x: type(x) is complex),
        _has(lambda x: isinstance(x, dt.datetime) and x.tzinfo is not None),
        _has(lambda x: isinstance(x, dt.datetime) and x.tzinfo is None),
        _has(lambda x: isinstance(x, np.generic)),
        _has(lambda x: type(x) is tuple),
        _has(lambda x: type(x) is dict and any(type(k) is int for k in x)),
        _has(lambda x: type(x) is bytes),
        _has(lambda x: type(x) in (set, frozenset) and x),
        _has(lambda x: type(x) is int and abs(x) >= 2**64),
        _has(lambda x: type(x) is float and math.isnan(x)),
        _has(lambda x: type(x) is float and x == 0 and math.copysign(1, x) < 0),
    ],
    "execution_spans": [
        lambda s: {type(x).__name__ for x in s} >= {"SliceSpan", "DoubleSliceSpan"},
        lambda s: {type(x).__name__ for x in s} >= {"TwirledSliceSpan", "TwirledSliceSpanV2"},
    ],
    "primitive_results": [
        lambda r: "execution_spans" in r.metadata.get("execution", {}),
        lambda r: any(type(p).__name__ == "EstimatorPubResult" for p in r),
        lambda r: {type(p).__name__ for p in r} >= {"SamplerPubResult", "PubResult"},
    ],
}


@pytest.mark.parametrize(
    ("name", "index"), [(name, i) for name, preds in _CASES.items() for i in range(len(preds))]
)
def test_strategies_reach_the_edge_cases(name: str, index: int) -> None:
    from hypothesis import Phase, find, settings

    from qserial.testing import strategies

    # The first example found is enough: shrinking it would only cost time.
    find(getattr(strategies, name)(), _CASES[name][index], settings=settings(
        max_examples=2000, database=None, derandomize=True, phases=[Phase.generate]))


# -- the conformance kit fails formats that break their promises ----------------------


def _kit_for(fmt: type, *, lossless: bool = True, partial: bool = False):
    from qserial.testing.conformance import FormatConformance

    class Kit(FormatConformance):
        format = fmt

    Kit.lossless, Kit.partial = lossless, partial
    return Kit()


def _json_like():
    from qserial.formats.json import JSONFormat

    return JSONFormat


def test_kit_fails_a_lossy_format_that_claims_to_be_lossless() -> None:
    kit = _kit_for(_json_like(), lossless=True)
    with pytest.raises(AssertionError, match="type list != Node"):
        kit.test_round_trip("tuple")
    _kit_for(_json_like(), lossless=False).test_round_trip("tuple")


def test_kit_fails_a_format_that_reads_cut_data(tmp_path) -> None:
    import qserial

    class Lenient(_json_like()):
        def load(self, stream, **options):
            try:
                return super().load(stream, **options)
            except qserial.QSerialError:
                return {}

    kit = _kit_for(Lenient, lossless=False)
    with pytest.raises(AssertionError, match="was read without an error"):
        kit.test_truncated_input("metadata", tmp_path)
    with pytest.raises(pytest.fail.Exception):
        kit.test_empty_input(tmp_path)


def test_kit_fails_a_format_that_claims_every_file() -> None:
    class Greedy(_json_like()):
        name = "greedy"

        def sniff(self, head: bytes) -> bool:
            return True

    with pytest.raises(AssertionError, match="greedy claims files of"):
        _kit_for(Greedy, lossless=False).test_sniff_rejects_other_formats()


def test_kit_fails_a_format_that_leaves_files_behind(tmp_path) -> None:
    class Messy(_json_like()):
        def dump_path(self, tree, path, **options):
            super().dump_path(tree, path + ".bak", **options)
            super().dump_path(tree, path, **options)

    with pytest.raises(AssertionError):
        _kit_for(Messy, lossless=False).test_dump_to_path_is_atomic(tmp_path)


def test_kit_fails_a_format_that_does_not_honour_partial_reads(tmp_path) -> None:
    kit = _kit_for(_json_like(), lossless=False, partial=True)
    with pytest.raises(AssertionError, match="supports_partial"):
        kit.test_partial_declared()

    class IgnoresPubs(_json_like()):
        supports_partial = True

        def load(self, stream, *, pubs=None, **options):
            return super().load(stream, **options)

    import qserial
    from qserial.testing.conformance import real_results

    kit = _kit_for(IgnoresPubs, lossless=False, partial=True)
    kit.test_partial_declared()
    path = str(tmp_path / "result.json")
    qserial.dump(real_results()["sampler"], path)
    with pytest.raises(AssertionError, match="length 3 != 1"):
        kit._check_partial(path, [1])


def test_kit_fails_a_format_that_reads_a_newer_major_version(tmp_path) -> None:
    class Lenient(_json_like()):
        name = "lenient"

        def check_version(self, version, where="$", what="the header"):
            return (1, 0)  # reads anything: a newer layout would be misread

    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        _kit_for(Lenient, lossless=False).test_newer_major_version_is_refused(tmp_path)


def test_kit_fails_a_format_that_does_not_record_its_options(tmp_path) -> None:
    class Forgetful(_json_like()):
        name = "forgetful"

        def new_header(self, options=None, manifest=None):
            header = super().new_header(options, manifest)
            del header["options"]
            return header

    with pytest.raises(AssertionError):
        _kit_for(Forgetful, lossless=False).test_header_records_format(tmp_path)
    _kit_for(_json_like(), lossless=False).test_header_records_format(tmp_path)


def test_kit_fails_a_format_that_accepts_bad_option_values() -> None:
    class Careless(_json_like()):
        name = "careless"

        def with_options(self, **options):  # takes anything, checks nothing
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__, _config={**self.config, **options})
            return new

    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        _kit_for(Careless, lossless=False).test_bad_option_values_are_refused()
    _kit_for(_json_like(), lossless=False).test_bad_option_values_are_refused()
