"""A complete, minimal qserial format plugin: qserial's JSON, gzip-compressed.

It reuses the built-in JSON format for the tree and adds gzip around it, so it is
as lossy as JSON (tuples become lists, dict keys strings) and is tested that way.
"""

from __future__ import annotations

import gzip
import zlib
from typing import IO, Any

import qserial
from qserial.formats import get_format

__all__ = ["JSONGzFormat"]

_GZIP_MAGIC = b"\x1f\x8b"


class JSONGzFormat(qserial.Format):
    """qserial JSON inside a gzip stream (``.json.gz``)."""

    name = "jsongz"
    suffixes = (".json.gz",)
    version = "1.0"

    def sniff(self, head: bytes) -> bool:
        return head.startswith(_GZIP_MAGIC)

    def dump(self, tree: Any, stream: IO[bytes], *, level: int = 6, **options: Any) -> None:
        with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=level, mtime=0) as gz:
            get_format("json").dump(tree, gz, **options)

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
                data = gz.read()
        except EOFError as exc:
            raise qserial.TruncatedError(f"gzip stream ends early: {exc}") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise qserial.DecodeError(f"invalid gzip data: {exc}") from None
        return get_format("json").loads(data, **options)
