"""What the HDF5 writer and reader share: names, digests, versions, the superblock.

Every file carries xxh3-64 digests: one of the root attributes (everything but the
arrays, so a header verifies alone), one of the root's arrays, one per pub. See
docs/formats/hdf5.md for the layout.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
import xxhash

from qserial import DecodeError, IntegrityError, TruncatedError
from qserial.formats import check_version as _check_version

FORMAT_NAME = "hdf5"
SIGNATURE = b"\x89HDF\r\n\x1a\n"
PUBS_GROUP = "pub_results"

A_FORMAT = b"qserial_format"
A_VERSION = b"qserial_format_version"
A_WRITER = b"qserial_writer"
A_TREE = b"qserial_tree"
A_DIGEST = b"qserial_digest"
A_MANIFEST = b"qserial_manifest"
A_REQUIRES = b"qserial_requires"

U8 = np.dtype(np.uint8)
U64 = np.dtype("<u8")


def pub_hasher(index: int) -> xxhash.xxh3_64:
    return xxhash.xxh3_64(b"qserial-hdf5 pub %d\0" % index)


def root_arrays_hasher() -> xxhash.xxh3_64:
    return xxhash.xxh3_64(b"qserial-hdf5 root arrays\0")


def root_digest(version: bytes, writer: bytes, manifest: bytes | None, root_text: bytes,
                other_digests: bytes) -> int:
    """Digest of the root attributes: everything but the arrays, so headers verify alone."""
    h = xxhash.xxh3_64(b"qserial-hdf5\0")
    for part in (version, writer, manifest, root_text, other_digests):
        h.update(struct.pack("<q", -1 if part is None else len(part)))
        if part:
            h.update(part)
    return h.intdigest()


def check_superblock(head: bytes, size: int) -> int | None:
    """HDF5's end-of-file address, checked against the real size before HDF5 opens.

    Superblock versions 2 and 3 (what this plugin writes) record it at a fixed place;
    None for older superblocks. HDF5 reports a truncated file itself, but accepts bytes
    appended to a file: :func:`._reader.read` allows exactly qserial's index there.
    """
    if len(head) < 8 or head[:8] != SIGNATURE:
        if len(head) < 8 and SIGNATURE.startswith(head):
            raise TruncatedError("the HDF5 file ends inside its signature", "$")
        raise DecodeError("not an HDF5 file (no signature at offset 0)", "$")
    if len(head) < 48:
        raise TruncatedError(f"the HDF5 file ends inside its superblock ({len(head)} bytes)",
                             "$")
    if head[8] in (2, 3) and head[9] == 8:
        base, eof = struct.unpack_from("<QxxxxxxxxQ", head, 12)
        end = base + eof
        if size < end:
            raise TruncatedError(f"the HDF5 file is truncated: {size} bytes of {end}", "$")
        return end
    return None


#: Bytes read with the superblock: the start of HDF5's metadata block, which the layout
#: digest then hashes without reading it again.
HEAD_BYTES = 4096


class Probe(NamedTuple):
    """A file about to be read: its size, HDF5's end of file and its first bytes.

    ``fd``, when set, is a descriptor of the file that the reader takes over (and
    closes), so that a path is opened once.
    """

    file_size: int
    end: int | None
    head: bytes
    fd: int | None = None


def check_version(version: bytes) -> None:
    """Refuse a newer major layout version (the core's rule) or an invalid one."""
    if version in _ACCEPTED:
        return
    from . import HDF5Format

    try:
        text = version.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError(f"invalid format version {version!r:.40}", "$") from None
    _check_version(text, HDF5Format, "$", "the root attributes")
    if len(_ACCEPTED) < 16:
        _ACCEPTED.add(version)


_ACCEPTED: set[bytes] = set()  # versions found readable (the answer depends on nothing else)


def integrity_error(where: str, path: str | None = None) -> IntegrityError:
    return IntegrityError(f"digest mismatch in {where}: the file was altered or damaged",
                          path)
