"""Reading and writing leave no reference cycles behind.

What a cycle holds (a reader with its buffer of arrays, a writer, an open Parquet
reader) lives until the cyclic collector runs, so memory is not reused at once and
every load pays for collections. Recursive closures are the usual cause.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable
from pathlib import Path

import pytest

import qserial
from qserial.formats import get_format

from ._results import spans_result

SUFFIXES = {"json": ".json", "msgpack": ".msgpack", "hdf5": ".h5", "parquet": ".parquet"}


@pytest.fixture
def no_collection() -> Callable[[Callable[[], object]], list[str]]:
    """Run a call with the collector off; return what only a collection would free."""
    def cyclic_garbage(fn: Callable[[], object]) -> list[str]:
        fn()  # imports and caches, once
        gc.collect()
        gc.disable()
        # Only what the call makes counts: another thread (the pool of a job run in an
        # earlier test) may drop cycles of its own meanwhile. Held, the objects that
        # exist already stay alive, and no new object can take one's id.
        existing = gc.get_objects()
        try:
            fn()
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            old = set(map(id, existing))
            return [f"{type(o).__qualname__} {getattr(o, '__qualname__', '')}".strip()
                    for o in gc.garbage if id(o) not in old]
        finally:
            del existing
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    return cyclic_garbage


@pytest.mark.parametrize("name", sorted(SUFFIXES))
def test_dump_and_load_leave_no_cycles(name: str, tmp_path: Path, no_collection) -> None:
    if name not in qserial.list_formats():
        pytest.skip(f"format {name} is not installed")
    result = spans_result()
    path = tmp_path / f"r{SUFFIXES[name]}"
    assert no_collection(lambda: qserial.dump(result, path)) == []
    assert no_collection(lambda: qserial.dumps(result, format=name)) == []
    assert no_collection(lambda: qserial.load(path)) == []
    assert no_collection(lambda: qserial.load(path, pubs=[1])) == []
    data = path.read_bytes()
    assert no_collection(lambda: qserial.load(io.BytesIO(data), pubs=[0])) == []
    if get_format(name).supports_lazy:
        def lazy() -> None:
            with qserial.open(path) as opened:
                assert opened[1] is not None and opened.metadata is not None

        assert no_collection(lazy) == []
