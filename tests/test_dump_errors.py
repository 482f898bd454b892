"""Whatever is given to dump/dumps, only a QSerialError comes out, naming where."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.circuit import Parameter
from qiskit.circuit.library import CXGate, HGate, Measure

import qserial


class BrokenRepr:
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")


class BrokenGetattr:
    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class BrokenItems(dict):
    def items(self) -> Any:
        raise _UnprintableError


class _BadZone(dt.tzinfo):
    def utcoffset(self, when: Any) -> dt.timedelta:
        raise RuntimeError("no offset")


class Color(enum.IntEnum):
    RED = 1


class NoModule:
    pass


NoModule.__module__ = None  # as qiskit's singleton gate classes


def _cycle() -> list:
    items: list = []
    items.append(items)
    return items


def _deep(depth: int = 20_000) -> list:
    root = node = []
    for _ in range(depth):
        node.append([])
        node = node[0]
    return root


def _broken_classes() -> tuple[type, type]:
    # Built on demand: pytest's collection would trip over them at module level.
    class BrokenModuleMeta(type):
        @property
        def __module__(cls) -> str:  # type: ignore[override]
            raise RuntimeError("no module")

    class BrokenHashMeta(type):
        def __hash__(cls) -> int:
            raise RuntimeError("no hash")

        def __eq__(cls, other: object) -> bool:
            raise RuntimeError("no eq")

    return BrokenModuleMeta("BrokenModule", (), {}), BrokenHashMeta("BrokenHash", (), {})


def _odd() -> dict[str, Any]:
    broken_module, broken_hash = _broken_classes()
    return {
        "singleton gate": CXGate(), "another singleton gate": HGate(), "measure": Measure(),
        "parameter": Parameter("x"), "class whose __module__ fails": broken_module(),
        "class whose hash and eq fail": broken_hash(), "broken repr": BrokenRepr(),
        "broken repr as key": {BrokenRepr(): 1}, "broken __getattribute__": BrokenGetattr(),
        "dict whose items() fail unprintably": BrokenItems(a=1),
        "class with __module__ None": NoModule(),
        "datetime whose zone fails": dt.datetime(2024, 1, 1, tzinfo=_BadZone()),
        "IntEnum": Color.RED, "str subclass": type("S", (str,), {})("x"),
        "int beyond 64 bits": 2**100, "negative int beyond 64 bits": -(2**70),
        "lone surrogate": "\ud800", "lone surrogate key": {"\udcff": 1},
        "NaN key": {float("nan"): 1}, "frozenset key": {frozenset({1}): 2},
        "datetime64 scalar": np.datetime64("2024-01-01"), "timedelta64 scalar": np.timedelta64(5),
        "longdouble": np.longdouble(1.5), "clongdouble": np.clongdouble(1 + 2j),
        "structured scalar": np.zeros(1, dtype=[("a", "i4")])[0],
        "object array": np.array([1, None], dtype=object),
        "recarray": np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        "masked array": np.ma.array([1, 2]), "deque": collections.deque([1]), "range": range(3),
        "slice": slice(1, 2), "Ellipsis": ..., "a class": int, "a function": len,
        "a module": np, "bytearray": bytearray(b"x"), "memoryview": memoryview(b"x"),
        "time": dt.time(1, 2), "timedelta": dt.timedelta(1), "cycle": _cycle(), "deep": _deep(),
        "Node with a tag that is not text": qserial.Node(1, 2),
    }


@pytest.mark.parametrize("fmt", qserial.list_formats())
def test_odd_objects_raise_only_qserial_errors(fmt: str) -> None:
    escaped = []
    for name, obj in _odd().items():
        for where, value in (("$", obj), ("$.metadata.x[0]", {"metadata": {"x": [obj]}})):
            try:
                qserial.dumps(value, format=fmt)
            except qserial.QSerialError as exc:
                message = str(exc)  # the message itself must not fail
                assert exc.path is None or exc.path.startswith(where), (name, message)
            except Exception as exc:
                escaped.append(f"{name} at {where}: {type(exc).__name__}: {exc}")
    assert escaped == []


class Gateish:
    pass


def test_a_class_without_module_is_named_by_its_public_base() -> None:
    # As qiskit's singleton gates: an instance of a generated class, __module__ None.
    singleton = type("_SingletonGateish", (Gateish,), {})
    singleton.__module__ = None
    with pytest.raises(qserial.UnsupportedTypeError) as info:
        qserial.dumps({"gate": singleton()})
    assert f"{__name__}.Gateish (_SingletonGateish)" in str(info.value)
    assert info.value.path == "$.gate"


def test_a_failing_class_lookup_names_the_path() -> None:
    with pytest.raises(qserial.UnsupportedTypeError, match="no hash") as info:
        qserial.dumps({"a": [_broken_classes()[1]()]})
    assert info.value.path == "$.a[0]"


class _FailingStream(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


def _closed() -> io.BytesIO:
    stream = io.BytesIO()
    stream.close()
    return stream


@pytest.mark.parametrize("fmt", qserial.list_formats())
@pytest.mark.parametrize(("target", "message"), [
    (_FailingStream(), "No space left"), (_closed(), "closed"),
    (io.StringIO(), "binary mode"), (None, "NoneType"), (42, "int"),
], ids=["failing", "closed", "text", "None", "int"])
def test_bad_targets_raise_write_error(fmt: str, target: Any, message: str,
                                       tmp_path: Path) -> None:
    with pytest.raises(qserial.WriteError, match=message):
        qserial.dump({"a": [1]}, target, format=fmt)
