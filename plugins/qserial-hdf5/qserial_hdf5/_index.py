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

from ._layout import U64, check_version
from ._pio import read_bytes

INDEX_MAGIC = b"QSHDF5IX"
_INDEX_HEAD = 24  # magic, index length, index digest
_ABSENT = (1 << 64) - 1  # the length of a field the file does not have (the manifest)
_ONE_READ = 1 << 22  # an index up to this long is read at once
_U64 = struct.Struct("<Q")
_TWO_U64 = struct.Struct("<QQ")


def index_digest(body: bytes | memoryview) -> int:
    h = xxhash.xxh3_64(b"qserial-hdf5 index\0")
    h.update(body)
    return h.intdigest()


def layout_digest(src: int | IO[bytes], end: int, regions: list, head: bytes = b"") -> int | None:
    """xxh3-64 of HDF5's own bytes: ``[0, end)`` but the datasets' ``(offset, length)``.

    Those bytes are the superblock, object headers, attributes, links and heaps: while
    they are unchanged, every dataset is where the structure says it is. None when the
    regions are not ordered and disjoint inside the file, or the file is too short.
    ``head``, the file's first bytes if already read, is not read again. qserial's
    writer keeps HDF5's metadata in one block at the front and one at the end, so this
    is one or two reads; older files have a piece between every few datasets.
    """
    gaps = []
    pos = 0
    for offset, n in regions:
        if offset < pos or n <= 0:
            return None
        if offset > pos:
            gaps.append((pos, offset))
        pos = offset + n
    if pos > end:
        return None
    if end > pos:
        gaps.append((pos, end))
    h = xxhash.xxh3_64(b"qserial-hdf5 layout\0")
    have = len(head)
    for start, stop in gaps:
        if start < have:
            h.update(memoryview(head)[start:min(stop, have)])
            start = min(stop, have)
        if stop > start:
            data = read_bytes(src, start, stop - start)
            if len(data) != stop - start:
                return None
            h.update(data)
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
        # Usually the whole index in one read; a long tail is checked before it is read.
        blob = read_bytes(src, end, n if n <= _ONE_READ else _INDEX_HEAD)
        head = blob[:_INDEX_HEAD]
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
        if len(blob) == n:
            body = memoryview(blob)[_INDEX_HEAD:]
        else:
            body = memoryview(read_bytes(src, end + _INDEX_HEAD, length - _INDEX_HEAD))
        if len(body) != length - _INDEX_HEAD:
            raise TruncatedError("the file ends inside its qserial index", "$")
        if index_digest(body) != digest:
            raise IntegrityError("digest mismatch in the qserial index after the HDF5 data: "
                                 "the file was altered or damaged", "$")
        try:
            self._parse(body)
        except (struct.error, ValueError, OverflowError):  # a field runs past the end
            raise DecodeError("malformed qserial index after the HDF5 data", "$") from None

    def _parse(self, body: memoryview) -> None:
        """The fields, in order (see docs/formats/hdf5.md); a read past the end fails."""
        u64 = _U64.unpack_from
        n = u64(body, 0)[0]
        pos = 8 + n
        if pos > len(body):
            raise ValueError
        self.version = bytes(body[8:pos])
        check_version(self.version)
        n = u64(body, pos)[0]
        self.writer = bytes(body[pos + 8:pos + 8 + n])
        pos += 8 + n
        n = u64(body, pos)[0]
        pos += 8
        if n == _ABSENT:
            self.manifest = None
        else:
            self.manifest = bytes(body[pos:pos + n])
            pos += n
        self.layout, count = _TWO_U64.unpack_from(body, pos)
        pos += 16
        self.regions = np.frombuffer(body, U64, 2 * count, pos).reshape(-1, 2).tolist()
        pos += 16 * count
        n = u64(body, pos)[0]
        self.digests = np.frombuffer(body, U64, n, pos + 8)
        pos += 8 + 8 * n
        n = u64(body, pos)[0]
        self.tree = bytes(body[pos + 8:pos + 8 + n])
        if pos + 8 + n != len(body):
            raise DecodeError("malformed qserial index after the HDF5 data", "$")
