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
from qserial.formats import Option, get_format

__all__ = ["JSONGzFormat"]

_GZIP_MAGIC = b"\x1f\x8b"


class JSONGzFormat(qserial.Format):
    """qserial JSON inside a gzip stream (``.json.gz``).

    Write option ``level``: the gzip level, 0-9 (default 6).
    """

    name = "jsongz"
    suffixes = (".json.gz",)
    version = "1.0"
    distribution = "qserial-jsongz"
    options = (
        Option("level", int, 6, "gzip compression level", min=0, max=9, sweep=(1, 9)),
    )

    def sniff(self, head: bytes) -> bool:
        return head.startswith(_GZIP_MAGIC)

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        level = self.write_options(options)["level"]
        with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=level, mtime=0) as gz:
            get_format("json").dump(tree, gz)

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        opts = self.read_options(options)
        packed = stream.read()
        # A small file must not inflate without bound: the limits every format obeys.
        limit = opts["limits"].expansion_bytes(len(packed))
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(packed), mode="rb") as gz:
                data = gz.read(-1 if limit is None else limit + 1)
        except EOFError as exc:
            raise qserial.TruncatedError(f"gzip stream ends early: {exc}") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise qserial.DecodeError(f"invalid gzip data: {exc}") from None
        if limit is not None and len(data) > limit:
            raise qserial.LimitExceededError(
                f"gzip data expands beyond {limit} bytes (raise or lift the limit with "
                "max_expansion=)")
        return get_format("json").loads(data, **options)
