"""Where each row group's metadata sits in the footer, so a partial read parses only its own.

pyarrow parses the whole footer (Thrift ``FileMetaData``) before it reads anything, at a
cost that grows with the row groups: one pub of a 100-pub file paid more for the
other pubs' row groups than for its own data. The writer therefore records, in the
fixed-width entry ``qserial.groups`` (patched in place once pyarrow has written the
file, as the seal is), the offsets in the footer of the ``row_groups`` list and of
each row group in it. A partial read hands pyarrow the footer with only its row
groups in that list.
"""

from __future__ import annotations

from collections.abc import Iterable

from qserial import DecodeError

__all__ = ["K_GROUPS", "placeholder", "index", "find", "subset", "varint"]

K_GROUPS = b"qserial.groups"
# The entry as the footer's Thrift compact protocol spells it, up to the value's length:
# the end of the entry before (a struct's stop), the key's field header, length and
# bytes, the value's field header.
_MARK = b"\x00\x18" + bytes([len(K_GROUPS)]) + K_GROUPS + b"\x18"
_WIDTH = 8  # hex characters of an offset
_STRUCT, _LIST = 12, 9


def placeholder(groups: int) -> bytes:
    """The entry's value as written for a file of ``groups`` row groups: zeros."""
    return b"0" * (_WIDTH * (groups + 2))


def varint(buf: bytes, at: int) -> tuple[int, int]:
    """The unsigned varint at ``buf[at]`` and the offset after it."""
    value = shift = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _list_header(buf: bytes, at: int) -> tuple[int, int, int]:
    """``(size, element type, offset after the header)`` of a compact list or set."""
    byte = buf[at]
    size, kind = byte >> 4, byte & 0x0F
    at += 1
    if size == 15:
        size, at = varint(buf, at)
    return size, kind, at


def _skip(buf: bytes, at: int, kind: int, element: bool = False) -> int:
    """The offset after a Thrift compact value of type ``kind`` starting at ``at``."""
    if kind in (1, 2):  # booleans: in the field header, or one byte as a list element
        return at + 1 if element else at
    if kind == 3:
        return at + 1
    if kind in (4, 5, 6):
        return varint(buf, at)[1]
    if kind == 7:
        return at + 8
    if kind == 8:
        size, at = varint(buf, at)
        return at + size
    if kind in (_LIST, 10):
        size, elem, at = _list_header(buf, at)
        for _ in range(size):
            at = _skip(buf, at, elem, True)
        return at
    if kind == 11:
        size, at = varint(buf, at)
        if size:
            kinds = buf[at]
            at += 1
            for _ in range(size):
                at = _skip(buf, _skip(buf, at, kinds >> 4, True), kinds & 0x0F, True)
        return at
    if kind == _STRUCT:
        while True:
            byte = buf[at]
            at += 1
            if byte == 0:
                return at
            if byte >> 4 == 0:  # a long-form field header: the field id follows
                at = varint(buf, at)[1]
            at = _skip(buf, at, byte & 0x0F)
    raise ValueError(f"unknown Thrift compact type {kind}")


def index(footer: bytes) -> bytes:
    """The value of ``qserial.groups`` for ``footer`` (pyarrow's ``FileMetaData``).

    Offsets, 8 hex digits each: where the ``row_groups`` list starts (its header),
    where each row group starts, and where the list ends.
    """
    at, field = 0, 0
    while footer[at] != 0:
        byte = footer[at]
        at += 1
        if byte >> 4:
            field += byte >> 4
        else:
            value, at = varint(footer, at)
            field = (value >> 1) ^ -(value & 1)
        if field == 4 and byte & 0x0F == _LIST:  # FileMetaData.row_groups
            offsets = [at]
            size, _elem, at = _list_header(footer, at)
            for _ in range(size):
                offsets.append(at)
                at = _skip(footer, at, _STRUCT)
            offsets.append(at)
            return b"".join(b"%08x" % o for o in offsets)
        at = _skip(footer, at, byte & 0x0F)
    raise ValueError("the Parquet footer has no row groups list")


def find(footer: bytes, at: int) -> tuple[int, bytes] | None:
    """Where the value of ``qserial.groups`` sits in ``footer``, and the value.

    The writer puts the entry right after the seal's: ``at`` is where that ends. None
    when the entry is not there: the caller then parses the whole footer.
    """
    if not footer.startswith(_MARK, at):
        return None
    size, start = varint(footer, at + len(_MARK))
    return start, footer[start:start + size]


def subset(footer: bytes, value: bytes, groups: Iterable[int], count: int) -> bytes:
    """``footer`` with only row groups ``groups`` (in that order) in its list.

    ``value`` is the ``qserial.groups`` entry, ``count`` the file's number of row
    groups. The offsets are checked to lie in order within the footer: the footer's
    seal vouches for them, this keeps a wrong one from slicing nonsense.
    """
    if len(value) != _WIDTH * (count + 2):
        raise DecodeError(f"the 'qserial.groups' entry does not list {count} row groups", "$")

    def offset(k: int) -> int:
        try:
            return int(value[_WIDTH * k:_WIDTH * (k + 1)], 16)
        except ValueError:
            raise DecodeError("the 'qserial.groups' entry is damaged", "$") from None

    head, end = offset(0), offset(count + 1)
    if not 0 < head < offset(1) <= end <= len(footer):
        raise DecodeError("the 'qserial.groups' entry does not fit the footer", "$")
    parts = []
    for g in groups:
        start, stop = offset(g + 1), offset(g + 2)
        if not offset(1) <= start < stop <= end:
            raise DecodeError("the 'qserial.groups' entry does not fit the footer", "$")
        parts.append(footer[start:stop])
    size = len(parts)
    list_header = (bytes([size << 4 | _STRUCT]) if size < 15
                   else b"\xfc" + _encodevarint(size))
    return b"".join([footer[:head], list_header, *parts, footer[end:]])


def _encodevarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
