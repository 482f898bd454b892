"""A complete, minimal qserial format plugin: qserial's JSON, gzip-compressed.

It reuses the built-in JSON format for the tree and adds gzip around it, so it is
as lossy as JSON (tuples become lists, dict keys strings) and is tested that way.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import IO, Any

import qserial
from qserial.formats import get_format

__all__ = ["JSONGzFormat"]

_GZIP_MAGIC = b"\x1f\x8b"
# A small file must not inflate without bound: at most 32x its size, or 32 MiB.
_MAX_EXPANSION = 32
_FREE_BYTES = 32 << 20


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
        packed = stream.read()
        limit = max(_MAX_EXPANSION * len(packed), _FREE_BYTES)
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(packed), mode="rb") as gz:
                data = gz.read(limit + 1)
        except EOFError as exc:
            raise qserial.TruncatedError(f"gzip stream ends early: {exc}") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise qserial.DecodeError(f"invalid gzip data: {exc}") from None
        if len(data) > limit:
            raise qserial.LimitExceededError(f"gzip data expands beyond {limit} bytes")
        return get_format("json").loads(data, **options)
