"""The index qserial appends after HDF5's last byte.

It holds a copy of the root attributes a load needs, the byte range of every dataset,
and a digest of HDF5's own bytes (everything but those ranges). While that digest
matches, no dataset can have been replaced or moved, so a load reads everything at the
recorded offsets without opening HDF5 at all. Any HDF5 write session drops the index
(HDF5 truncates a file to its own end on closing). See docs/formats/hdf5.md.
"""

from __future__ import annotations

import struct
from typing import IO

import numpy as np
import xxhash

from qserial import DecodeError, IntegrityError, TruncatedError

from ._layout import U8, U64, check_version
from ._pio import read_bytes, read_into

INDEX_MAGIC = b"QSHDF5IX"
_INDEX_HEAD = 24  # magic, index length, index digest
_ABSENT = (1 << 64) - 1  # the length of a field the file does not have (the manifest)


def index_digest(body: bytes | memoryview) -> int:
    return xxhash.xxh3_64(b"qserial-hdf5 index\0" + bytes(body)).intdigest()


def layout_digest(src: int | IO[bytes], end: int, regions: list) -> int | None:
    """xxh3-64 of HDF5's own bytes: ``[0, end)`` but the datasets' ``(offset, length)``.

    Those bytes are the superblock, object headers, attributes, links and heaps: while
    they are unchanged, every dataset is where the structure says it is. None when the
    regions are not ordered and disjoint inside the file, or the file is too short.
    """
    gaps = []
    pos = 0
    for offset, n in regions:
        if offset < pos or n <= 0:
            return None
        if offset > pos:
            gaps.append((pos, offset - pos))
        pos = offset + n
    if pos > end:
        return None
    if end > pos:
        gaps.append((pos, end - pos))
    buf = np.empty(sum(n for _, n in gaps), U8)
    view = memoryview(buf)
    at = 0
    for offset, n in gaps:
        if read_into(src, offset, view[at:at + n]) != n:
            return None
        at += n
    h = xxhash.xxh3_64(b"qserial-hdf5 layout\0")
    h.update(buf)
    return h.intdigest()


def index_bytes(layout: int, regions: list[tuple[int, int]], version: bytes, writer: bytes,
                manifest: bytes | None, digests: np.ndarray, tree_text: bytes) -> bytes:
    """The index appended after HDF5's last byte (see docs/formats/hdf5.md)."""
    body = b"".join([
        struct.pack("<Q", len(version)), version,
        struct.pack("<Q", len(writer)), writer,
        struct.pack("<Q", _ABSENT) if manifest is None else struct.pack("<Q", len(manifest)),
        manifest or b"",
        struct.pack("<QQ", layout, len(regions)),
        np.array(regions, U64).tobytes(),
        struct.pack("<Q", len(digests)), digests.astype(U64).tobytes(),
        struct.pack("<Q", len(tree_text)), tree_text,
    ])
    return INDEX_MAGIC + struct.pack("<QQ", _INDEX_HEAD + len(body), index_digest(body)) + body


class Index:
    """The index after HDF5's last byte: a checked copy of what a load needs."""

    def __init__(self, src: int | IO[bytes], size: int, end: int) -> None:
        n = size - end
        head = read_bytes(src, end, min(n, _INDEX_HEAD))
        if head[:8] != INDEX_MAGIC:
            if len(head) < 8 and INDEX_MAGIC.startswith(head):
                raise TruncatedError("the file ends inside its qserial index", "$")
            raise DecodeError(f"{n} unexpected bytes after the end of the HDF5 file (at byte "
                              f"{end}); padded or concatenated", "$")
        if len(head) < _INDEX_HEAD:
            raise TruncatedError("the file ends inside its qserial index", "$")
        length, digest = struct.unpack_from("<QQ", head, 8)
        if length < _INDEX_HEAD:
            raise DecodeError("malformed qserial index after the HDF5 data", "$")
        if n < length:
            raise TruncatedError(f"the file is truncated: {size} bytes of {end + length}", "$")
        if n > length:
            raise DecodeError(f"{n - length} unexpected bytes after the end of the qserial "
                              f"index (at byte {end + length}); padded or concatenated", "$")
        body = read_bytes(src, end + _INDEX_HEAD, length - _INDEX_HEAD)
        if len(body) != length - _INDEX_HEAD:
            raise TruncatedError("the file ends inside its qserial index", "$")
        if index_digest(body) != digest:
            raise IntegrityError("digest mismatch in the qserial index after the HDF5 data: "
                                 "the file was altered or damaged", "$")
        self.body = body
        self.pos = 0
        self.version = self._field()
        check_version(self.version)
        self.writer = self._field()
        self.manifest = self._field(optional=True)
        self.layout, count = self._u64s(2)
        self.regions = np.frombuffer(self._take(16 * count), U64).reshape(-1, 2).tolist()
        self.digests = np.frombuffer(self._take(8 * self._u64s(1)[0]), U64)
        self.tree = self._field()
        if self.pos != len(body):
            raise DecodeError("malformed qserial index after the HDF5 data", "$")

    def _take(self, n: int) -> bytes:
        if n > len(self.body) - self.pos:
            raise DecodeError("malformed qserial index after the HDF5 data", "$")
        self.pos += n
        return self.body[self.pos - n:self.pos]

    def _u64s(self, n: int) -> tuple[int, ...]:
        return struct.unpack(f"<{n}Q", self._take(8 * n))

    def _field(self, optional: bool = False) -> bytes | None:
        n = self._u64s(1)[0]
        return None if optional and n == _ABSENT else self._take(n)
