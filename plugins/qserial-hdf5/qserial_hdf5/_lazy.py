"""One open HDF5 file read pub by pub, for ``qserial.open``."""

from __future__ import annotations

from typing import Any

from qserial import DecodeError
from qserial.lazy import PubReader

from ._layout import Probe
from ._reader import Opened, allocate, pub_structure, read_pub, read_root, structure
from ._spans import root_skeleton

__all__ = ["HDF5PubReader"]


class HDF5PubReader(PubReader):
    """Keeps the file open; opening reads and checks only the root attributes.

    With a valid index (what qserial writes) that is the index and HDF5's own bytes,
    not the datasets; each pub's datasets are read when it is, checked against its
    digest.
    """

    def __init__(self, path: str, probe: Probe, *, verify: bool = True) -> None:
        self._opened = Opened(path, probe, verify)
        self._verify = verify
        try:
            with self._opened.errors():
                structure(self._opened.meta)
            if self._opened.meta.count is None:
                raise DecodeError("qserial.open needs a file holding a PrimitiveResult "
                                  "(qserial.load reads any file)", "$")
        except BaseException:
            self._opened.close()
            raise

    def __len__(self) -> int:
        return self._opened.meta.count

    def root(self) -> Any:
        meta = self._opened.meta
        with self._opened.errors():
            r = self._opened.reader()
            allocate(r, meta, [])
            tree = read_root(meta, r, self._verify, root_skeleton(meta, None))
        return type(tree)(tree.tag, {**tree.value, "pub_results": []})

    def pub(self, index: int) -> Any:
        meta = self._opened.meta
        with self._opened.errors():
            selected = pub_structure(meta, index)
            r = self._opened.reader()
            allocate(r, None, [selected])
            return read_pub(meta, r, self._verify, *selected)

    def close(self) -> None:
        self._opened.close()
