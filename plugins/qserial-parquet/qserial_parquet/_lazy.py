"""One open Parquet file read pub by pub, for ``qserial.open``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from qserial import DecodeError
from qserial.lazy import PubReader
from qserial.limits import DEFAULT_LIMITS, Limits

from ._reader import open_reader, translated_errors

__all__ = ["ParquetPubReader"]


class ParquetPubReader(PubReader):
    """Keeps the file open; opening reads and checks only the footer.

    Each pub is read from its own row groups and checked against its digests; the
    root (the metadata) is the footer's tree, checked when the file is opened.
    """

    def __init__(self, path: str, *, verify: bool = True,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        with translated_errors():
            self._src = pa.OSFile(path)
        try:
            with translated_errors():
                self._reader = open_reader(self._src, verify, limits)
                self._reader.check()
            if self._reader.pub_rows is None:
                raise DecodeError("qserial.open needs a file holding a PrimitiveResult "
                                  "(qserial.load reads any file)", "$")
        except BaseException:
            self._src.close()
            raise

    def __len__(self) -> int:
        return len(self._reader.pub_rows)

    def root(self) -> Any:
        with translated_errors():
            return self._reader.root(None)

    def pub(self, index: int) -> Any:
        with translated_errors():
            return self._reader.pubs([index])[0]

    def close(self) -> None:
        self._src.close()
