"""The footer seal of a qserial Parquet file: its size and a digest of its footer.

The seal is a fixed-width key-value entry, written as zeros and patched in place once
pyarrow has written the file (nothing moves). A reader checks it before any Parquet
library parses the footer: a damaged footer can abort the process inside pyarrow, and
a file with bytes after its end is refused.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import xxhash

import qserial
from qserial import DecodeError, IntegrityError, QSerialError
from qserial.formats import check_version as _check_format_version

from . import _groups
from ._format import ParquetFormat

__all__ = ["finish", "header_text", "checked_footer_at", "SEAL_ZERO", "seal_path", "seal",
           "checked_footer", "check_version", "K_HEADER", "TAIL"]

K_HEADER = b"qserial"
K_SEAL = b"qserial.seal"
SEAL_ZERO = b"size=" + b"0" * 16 + b";xxh3_128=" + b"0" * 32
_SEAL_VALUE = re.compile(rb"size=([0-9a-f]{16});xxh3_128=([0-9a-f]{32})")
# The entry as the footer's Thrift compact protocol spells it: the key's length and
# bytes, the value's field header (field 2, binary) and length, the value's prefix.
_SEAL_MARK = b"\x0c" + K_SEAL + b"\x18" + bytes([len(SEAL_ZERO)]) + b"size="
TAIL = 8  # footer length (4 bytes, little-endian) and b"PAR1"


def seal_path(path: str) -> None:
    """Fill in the row-group index and the seal of the Parquet file at ``path``, in place."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(size - TAIL)
        start = size - TAIL - int.from_bytes(f.read(4), "little")
        f.seek(start)
        for at, value in finish(f.read(size - TAIL - start), size):
            f.seek(start + at)
            f.write(value)


def finish(footer: bytes, size: int) -> list[tuple[int, bytes]]:
    """The values to patch into ``footer``, of a file of ``size`` bytes, and where.

    The row-group index (``qserial.groups``, if the footer has one), then the seal,
    which covers it.
    """
    patches = []
    found = _groups.find(footer, _find_seal(footer) + len(SEAL_ZERO))
    if found is not None:
        at, old = found

        def keys(entries: dict[bytes, tuple[int, int]]) -> list[bytes]:
            # The entries a partial read looks up, in the order the header implies.
            start, stop = entries[K_HEADER]
            header = json.loads(footer[start:stop])
            pubs, spans = len(header.get("pubs") or ()), header.get("spans") or 0
            return [b"qserial.tree", b"qserial.digest",
                    *(b"qserial.pub.%d" % i for i in range(pubs)),
                    *(b"qserial.span.%d" % j for j in range(spans))]

        try:
            value = _groups.index(footer, keys)
        except (ValueError, IndexError, KeyError, TypeError, RecursionError) as exc:
            raise qserial.WriteError(f"cannot index the row groups of the footer: {exc}"
                                     ) from None
        # The row groups' part in qserial.groups, the entries' in qserial.entries.
        located = _groups.find(footer, at + len(old), _groups.K_ENTRIES)
        parts = [(at, value[:len(old)])]
        if located is not None:
            parts.append((located[0], value[len(old):]))
        for where, (start, part) in zip((old, located and located[1]), parts, strict=True):
            if len(part) != len(where):
                raise qserial.WriteError("the 'qserial.groups' or 'qserial.entries' entry "
                                         "does not fit the footer")
            footer = footer[:start] + part + footer[start + len(part):]
            patches.append((start, part))
    patches.append(seal(footer, size))
    return patches


def seal(footer: bytes, size: int, at: int | None = None) -> tuple[int, bytes]:
    """Return where the seal's value sits in ``footer`` and its value for ``size`` bytes.

    The digest is the xxh3-128 of the footer holding this value with its digest hex
    as zeros; the footer's own value may hold anything there. ``at``: where the value
    sits, if known.
    """
    if at is None:
        at = _find_seal(footer)
    view = memoryview(footer)
    h = xxhash.xxh3_128()
    h.update(view[:at])
    head = b"size=%016x;xxh3_128=" % size
    h.update(head + b"0" * 32)
    h.update(view[at + len(SEAL_ZERO):])
    return at, head + h.hexdigest().encode("ascii")


def _find_seal(footer: bytes) -> int:
    """Return the offset of the seal's value in ``footer``; there must be exactly one."""
    at = footer.find(_SEAL_MARK)
    if at < 0:
        raise DecodeError("a Parquet file, but not one qserial wrote, or its footer is "
                          "damaged: no 'qserial.seal' metadata entry", "$")
    if footer.find(_SEAL_MARK, at + 1) >= 0:
        raise IntegrityError("the Parquet footer holds more than one 'qserial.seal' entry: "
                             "the file was altered or damaged", "$")
    return at + len(_SEAL_MARK) - len(b"size=")



def check_version(header: Any) -> tuple[int, int]:
    """Check the parsed ``qserial`` header names this format, in a version read here."""
    if not isinstance(header, dict) or header.get("format") != "parquet":
        raise DecodeError("the 'qserial' metadata does not describe a qserial Parquet file", "$")
    return _check_format_version(header.get("version"), ParquetFormat, "$",
                                 "the 'qserial' metadata")


def checked_footer(size: int, read_at: Callable[[int, int], bytes]) -> bytes:
    """Return the footer of a file of ``size`` bytes once its seal vouches for it.

    ``read_at(offset, n)`` returns ``n`` bytes of the file from ``offset``. Only the
    footer is read; nothing is parsed before the size and the digest agree.
    """
    return checked_footer_at(size, read_at)[0]


def checked_footer_at(size: int, read_at: Callable[[int, int], bytes]) -> tuple[bytes, int]:
    """As :func:`checked_footer`; also where the seal's key-value entry ends in it."""
    if size < 12:
        raise qserial.TruncatedError(f"a {size}-byte file is too short to be Parquet", "$")
    tail = bytes(read_at(size - TAIL, TAIL))
    if tail[4:] != b"PAR1":
        raise qserial.TruncatedError("the Parquet file ends early or its end is damaged: "
                                     "it does not end with PAR1", "$")
    length = int.from_bytes(tail[:4], "little")
    if length > size - 12:
        raise DecodeError(f"the Parquet footer length {length} does not fit the {size}-byte "
                          "file", "$")
    footer = bytes(read_at(size - TAIL - length, length))
    try:
        at = _check_seal(footer, size)
    except QSerialError:
        # A file of a newer major version is named as such, not as damaged: its seal
        # may work otherwise.
        try:
            check_version(_raw_header(footer))
        except qserial.UnsupportedVersionError:
            raise
        except QSerialError:
            pass
        raise
    return footer, at + len(SEAL_ZERO)


def header_text(footer: bytes, at: int) -> tuple[bytes, int] | None:
    """The ``qserial`` header's text if its key-value entry starts at ``at``, and its end.

    ``at`` is where the entry before it ends; None if the header is not next.
    """
    key = b"\x00\x18\x07" + K_HEADER + b"\x18"  # the end of the entry before, the key
    if not footer.startswith(key, at):
        return None
    length, start = _groups.varint(footer, at + len(key))
    return footer[start:start + length], start + length


def _raw_header(footer: bytes) -> Any:
    """The ``qserial`` header found in the unparsed footer bytes, or None; never raises."""
    # Thrift compact: field 1 (binary) of length 7, the key, field 2 (binary), its length.
    key = b"\x18\x07" + K_HEADER + b"\x18"
    at = footer.find(key)
    if at < 0:
        return None
    at += len(key)
    length = shift = 0
    while at < len(footer) and shift < 35:  # the value's length, a ULEB128 varint
        length |= (footer[at] & 0x7F) << shift
        shift += 7
        at += 1
        if not footer[at - 1] & 0x80:
            try:
                return json.loads(footer[at:at + length])
            except (ValueError, RecursionError):
                return None
    return None


def _check_seal(footer: bytes, size: int) -> int:
    """Check the seal of ``footer``; return where its value sits."""
    at = _find_seal(footer)
    value = footer[at:at + len(SEAL_ZERO)]
    match = _SEAL_VALUE.fullmatch(value)
    if match is None:
        raise IntegrityError("the 'qserial.seal' metadata entry is damaged", "$")
    sealed = int(match[1], 16)
    if sealed < size:
        raise IntegrityError(f"the file has {size} bytes but was written with {sealed}: "
                             "bytes were added after its end (two files concatenated?)", "$")
    if sealed > size:
        raise qserial.TruncatedError(f"the file has {size} bytes but was written with "
                                     f"{sealed}: it was cut short", "$")
    if seal(footer, size, at)[1] != value:
        raise IntegrityError("the digest of the Parquet footer does not match its seal: the "
                             "file was altered or damaged", "$")
    return at

