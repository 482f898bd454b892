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

from collections.abc import Callable, Iterable

from qserial import DecodeError

__all__ = ["K_GROUPS", "K_ENTRIES", "placeholder", "index", "find", "Index", "varint",
           "entry_prefix"]

K_GROUPS = b"qserial.groups"
K_ENTRIES = b"qserial.entries"
# The entry as the footer's Thrift compact protocol spells it, up to the value's length:
# the end of the entry before (a struct's stop), the key's field header, length and
# bytes, the value's field header.
_WIDTH = 8  # hex characters of an offset
_STRUCT, _LIST = 12, 9


def placeholder(groups: int, entries: int) -> tuple[bytes, bytes]:
    """The values of ``qserial.groups`` and ``qserial.entries`` as written: zeros, for
    ``groups`` row groups and ``entries`` key-value entries located."""
    return b"0" * (_WIDTH * (groups + 2)), b"0" * (_WIDTH * (2 + 2 * entries))


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


def index(footer: bytes, keys: Callable[[dict[bytes, tuple[int, int]]], list[bytes]]
          ) -> bytes:
    """The value of ``qserial.groups`` for ``footer`` (pyarrow's ``FileMetaData``).

    Offsets, 8 hex digits each: where the ``row_groups`` list starts (its header),
    where each row group starts, and where the list ends; where the key-value list
    starts (its field header) and ends; then where the value of each entry
    ``keys(entries)`` names starts and ends (0 and 0 for a key the footer lacks).
    ``entries`` maps each key of the footer to where its value starts and ends.
    """
    at, field = 0, 0
    groups: list[int] | None = None
    entries: dict[bytes, tuple[int, int]] | None = None
    bounds: list[int] = []
    while footer[at] != 0:
        start = at
        byte = footer[at]
        at += 1
        if byte >> 4:
            field += byte >> 4
        else:
            value, at = varint(footer, at)
            field = (value >> 1) ^ -(value & 1)
        if field == 4 and byte & 0x0F == _LIST:  # FileMetaData.row_groups
            groups = [at]
            size, _elem, at = _list_header(footer, at)
            for _ in range(size):
                groups.append(at)
                at = _skip(footer, at, _STRUCT)
            groups.append(at)
        elif field == 5 and byte & 0x0F == _LIST:  # FileMetaData.key_value_metadata
            size, _elem, at = _list_header(footer, at)
            entries = {}
            for _ in range(size):
                found = _entry(footer, at)
                if found is not None:
                    entries.setdefault(found[0], found[1])
                at = _skip(footer, at, _STRUCT)
            bounds = [start, at]
        else:
            at = _skip(footer, at, byte & 0x0F)
    if groups is None or entries is None or groups[-1] != bounds[0]:
        raise ValueError("the Parquet footer has no row groups or key-value list")
    offsets = [*groups, *bounds]
    for key in keys(entries):
        offsets.extend(entries.get(key, (0, 0)))
    return b"".join(b"%08x" % o for o in offsets)


def _entry(footer: bytes, at: int) -> tuple[bytes, tuple[int, int]] | None:
    """The key of the ``KeyValue`` at ``at`` and where its value starts and ends."""
    if footer[at] != 0x18:
        return None
    size, at = varint(footer, at + 1)
    key = footer[at:at + size]
    at += size
    if footer[at] != 0x18:
        return None
    size, at = varint(footer, at + 1)
    return key, (at, at + size)


def entry_prefix(key: bytes, size: int) -> bytes:
    """A ``KeyValue`` of ``key`` and a value of ``size`` bytes, up to the value."""
    return b"\x18" + _encode_varint(len(key)) + key + b"\x18" + _encode_varint(size)


def find(footer: bytes, at: int, key: bytes = K_GROUPS) -> tuple[int, bytes] | None:
    """Where the value of entry ``key`` sits in ``footer``, and the value.

    The writer puts ``qserial.groups`` right after the seal's entry, and
    ``qserial.entries`` right after that: ``at`` is where the entry before ends. None
    when the entry is not there: the caller then parses the whole footer.
    """
    mark = b"\x00\x18" + bytes([len(key)]) + key + b"\x18"  # the struct's stop before
    if not footer.startswith(mark, at):
        return None
    size, start = varint(footer, at + len(mark))
    return start, footer[start:start + size]


class Index:
    """A ``qserial.groups`` value, and ``qserial.entries`` after it if any, read for a
    file of ``count`` row groups.

    ``entries`` is the number of key-value entries located (layout 2.2), or None for
    the row groups alone (2.1). Each offset read is checked to lie in order
    within the footer: the footer's seal vouches for them, this keeps a wrong one
    from slicing nonsense.
    """

    def __init__(self, footer: bytes, value: bytes, count: int, entries: int | None) -> None:
        width = count + 2 + (0 if entries is None else 2 + 2 * entries)
        if len(value) != _WIDTH * width:
            raise DecodeError("the 'qserial.groups' entry does not fit the file's row groups "
                              "and entries", "$")
        self.footer, self.value, self.count, self.entries = footer, value, count, entries
        self.head, self.end = self.offset(0), self.offset(count + 1)
        if not 0 < self.head < self.offset(1) <= self.end <= len(footer):
            raise DecodeError("the 'qserial.groups' entry does not fit the footer", "$")

    def offset(self, k: int) -> int:
        try:
            return int(self.value[_WIDTH * k:_WIDTH * (k + 1)], 16)
        except ValueError:
            raise DecodeError("the 'qserial.groups' entry is damaged", "$") from None

    def entry(self, k: int, key: bytes) -> bytes | None:
        """The value of located entry ``k``, whose key is ``key``; None if absent."""
        at = self.count + 4 + 2 * k
        start, stop = self.offset(at), self.offset(at + 1)
        if start == stop == 0:
            return None
        prefix = entry_prefix(key, stop - start)
        if not (len(prefix) <= start <= stop <= len(self.footer)
                and self.footer.startswith(prefix, start - len(prefix))):
            raise DecodeError(f"the 'qserial.groups' entry misplaces {key.decode()!r}", "$")
        return self.footer[start:stop]

    def file(self, groups: Iterable[int]) -> bytes:
        """A Parquet file of the footer alone, with only row groups ``groups`` (in that
        order) in its list, and without its key-value list when the entries are
        located (they are read through :meth:`entry`)."""
        footer, first = self.footer, self.offset(1)
        parts = [b"PAR1", footer[:self.head], b""]
        for g in groups:
            start, stop = self.offset(g + 1), self.offset(g + 2)
            if not first <= start < stop <= self.end:
                raise DecodeError("the 'qserial.groups' entry does not fit the footer", "$")
            parts.append(footer[start:stop])
        size = len(parts) - 3
        parts[2] = (bytes([size << 4 | _STRUCT]) if size < 15
                    else b"\xfc" + _encode_varint(size))
        rest = self.end
        if self.entries is not None:
            kv, rest = self.offset(self.count + 2), self.offset(self.count + 3)
            if kv != self.end or not kv < rest < len(footer):
                raise DecodeError("the 'qserial.groups' entry does not fit the footer", "$")
            # Without field 5, the next field's header counts its id from field 4.
            byte = footer[rest]
            if byte >> 4 == 15:  # then the long form: the type, the id (zigzag)
                parts.append(bytes([byte & 0x0F]) + _encode_varint(2 * (5 + 15)))
                rest += 1
            elif byte >> 4:
                parts.append(bytes([byte + 0x10]))
                rest += 1
        parts.append(footer[rest:])
        size = sum(len(p) for p in parts) - 4
        parts.append(size.to_bytes(4, "little") + b"PAR1")
        return b"".join(parts)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
