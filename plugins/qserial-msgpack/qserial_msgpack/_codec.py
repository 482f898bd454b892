"""Writing and reading the msgpack layout; docs/formats/msgpack.md is its specification.

A file is a stream of msgpack objects::

    "qserial-msgpack"        fixstr, the 16 magic bytes
    uint32                   length of the header that follows
    header                   map: format, version, writer, digest, doc_size, data_size
    document                 the tree; tagged values and arrays as extension types
    nil * n                  padding up to a multiple of 64 bytes (the data region)
    (nil * n, bin32) * k     one bin per array, its payload 64-byte aligned
    bin8                     16-byte xxh3-128 digest of every byte before it

Arrays are not copied on write (their memory goes straight to the stream) nor on
read (they are views into the buffer the file was read into), which is what keeps
both within a small factor of raw file I/O.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import IO, Any

import msgpack
import numpy as np
import xxhash

from qserial import (
    DecodeError,
    IntegrityError,
    LimitExceededError,
    Node,
    QSerialError,
    TruncatedError,
    UnsupportedTypeError,
    UnsupportedVersionError,
    WriteError,
)
from qserial.compression import estimate
from qserial.formats import HEADER_DIGEST_KEY, check_version, header_digest
from qserial.limits import DEFAULT_LIMITS, Limits

from . import FORMAT_VERSION, MAGIC, MsgpackFormat

__all__ = ["dump", "load", "load_path", "decode", "read_header", "read_header_path"]

# Extension type codes (application range 0-127).
EXT_TAG = 1  # a Node's tag; [ExtType(EXT_TAG, tag), value] is the Node
EXT_ARRAY = 2  # [dtype, shape, offset, fortran] of an array in the data region
EXT_BIGINT = 3  # an int outside msgpack's 64-bit range, big-endian two's complement

ALIGN = 64
#: Largest payload of one bin32; longer arrays span several consecutive bins.
MAX_BIN = 0xFFFFFFFF
#: Largest header accepted: short strings and numbers, and the manifest if any.
MAX_HEADER = 16 << 20
DIGEST = "xxh3_128"

_PREAMBLE = len(MAGIC) + 5  # magic, then 0xce and the header length
_BIN32 = b"\xc6"
_NIL = 0xC0
_NILS = bytes([_NIL]) * ALIGN
_TRAILER = b"\xc4\x10"  # bin8 holding 16 bytes
_TRAILER_SIZE = len(_TRAILER) + 16
# Writes smaller than this are gathered into one buffer before reaching the stream.
_GATHER = 1 << 16
_ALLOWED_KINDS = frozenset("biufcmMSUV")
# Files are read in pieces of this size, each hashed as soon as it is read.
_READ_PIECE = 1 << 20

#: Values of the ``compression`` option.
COMPRESSIONS = ("auto", "zstd", "none")
#: zstd's fast level: 300-1000 MB/s on measurement bits, within a few percent of level 3.
DEFAULT_LEVEL = 1
#: Arrays smaller than this are never compressed (a zstd frame costs a dozen bytes and
#: the sample more time than it can save).
COMPRESS_FROM = 4096
#: A compressed array is kept only if it is at most this fraction of the raw bytes.
_KEEP_BELOW = 0.95


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _chunks(nbytes: int) -> int:
    return max(1, -(-nbytes // MAX_BIN))


def _bin32(n: int) -> bytes:
    return _BIN32 + n.to_bytes(4, "big")


# ----------------------------------------------------------------------------- writing

_TAG_EXT: dict[str, msgpack.ExtType] = {}
_DESCR: dict[np.dtype, str] = {}
_CACHE_LIMIT = 1024


def _descr(dtype: np.dtype) -> Any:
    """The dtype as stored: ``dtype.str``, or numpy's ``.npy`` descr if structured."""
    found = _DESCR.get(dtype)
    if found is not None:
        return found
    if dtype.hasobject or dtype.kind not in _ALLOWED_KINDS or dtype.itemsize == 0:
        raise UnsupportedTypeError(f"cannot store numpy arrays of dtype {dtype}")
    if dtype.fields is None and dtype.subdtype is None:
        if len(_DESCR) < _CACHE_LIMIT:
            _DESCR[dtype] = dtype.str
        return dtype.str
    return np.lib.format.dtype_to_descr(dtype)


class _Writer:
    """The Packer's ``default``: Nodes, arrays and big ints; lays out the data region."""

    __slots__ = ("arrays", "cctx", "compression", "size")

    def __init__(self, compression: str = "auto", level: int = DEFAULT_LEVEL) -> None:
        self.arrays: list[tuple[int, Any]] = []  # (payload offset, bytes)
        self.size = 0  # bytes of the data region laid out so far
        self.compression = compression
        self.cctx = None
        if compression != "none":
            import zstandard

            # Level 1 with the "double fast" match finder (level 2's): 2-4% smaller on
            # shot data (GHZ, biased bits, small registers) for about 5% of the speed.
            tuned = {"strategy": zstandard.STRATEGY_DFAST} if level == 1 else {}
            self.cctx = zstandard.ZstdCompressor(
                compression_params=zstandard.ZstdCompressionParameters.from_level(
                    level, write_checksum=True, write_content_size=True, **tuned))

    def default(self, obj: Any) -> Any:
        t = type(obj)
        if t is Node:
            tag = obj.tag
            if type(tag) is not str:
                raise UnsupportedTypeError(f"a Node's tag must be a str, not {type(tag).__name__}")
            ext = _TAG_EXT.get(tag)
            if ext is None:
                ext = msgpack.ExtType(EXT_TAG, tag.encode("utf-8", "surrogatepass"))
                if len(_TAG_EXT) < _CACHE_LIMIT:
                    _TAG_EXT[tag] = ext
            return [ext, obj.value]
        if t is np.ndarray:
            return self.array(obj)
        if t is int:  # msgpack calls default for ints beyond 64 bits
            return msgpack.ExtType(
                EXT_BIGINT, obj.to_bytes(obj.bit_length() // 8 + 1, "big", signed=True))
        raise UnsupportedTypeError(
            f"cannot write {t.__module__}.{t.__qualname__}: not a qserial tree value "
            "(convert objects with qserial.to_tree first)")

    def array(self, arr: np.ndarray) -> msgpack.ExtType:
        descr = _descr(arr.dtype)
        fortran = False
        if arr.flags.c_contiguous:
            flat = arr
        elif arr.flags.f_contiguous:
            # Stored in its own memory order: no copy, and it reads back Fortran-ordered.
            flat, fortran = arr.T, True
        else:
            flat = np.ascontiguousarray(arr)
        raw = memoryview(flat.reshape(-1).view(np.uint8))
        fields = [descr, list(arr.shape), 0, fortran]
        packed = self.compress(raw)
        if packed is not None:
            raw = packed
            fields += ["zstd", len(packed)]
        offset = _align(self.size + 5)  # room for the bin32 header before the payload
        fields[2] = offset
        self.arrays.append((offset, raw))
        self.size = offset + len(raw) + 5 * (_chunks(len(raw)) - 1)
        return msgpack.ExtType(EXT_ARRAY, msgpack.packb(fields))

    def compress(self, raw: memoryview) -> bytes | None:
        """The zstd frame of ``raw`` if compression pays (or is forced), else None."""
        if self.cctx is None or len(raw) < COMPRESS_FROM:
            return None
        if self.compression == "auto" and not estimate(raw).pays:
            return None  # random bits: stored as they are, at the speed of a copy
        packed = self.cctx.compress(raw)
        if self.compression == "auto" and len(packed) > _KEEP_BELOW * len(raw):
            return None
        return packed


class _Out:
    """Writes to ``stream``, gathering small pieces, hashing everything written."""

    __slots__ = ("hasher", "pending", "stream")

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.pending = bytearray()
        self.hasher = xxhash.xxh3_128()

    def write(self, data: Any) -> None:
        if len(data) < _GATHER:
            self.pending += data
            return
        self.flush()
        self.hasher.update(data)
        _write_all(self.stream, data)

    def flush(self) -> None:
        if self.pending:
            self.hasher.update(self.pending)
            _write_all(self.stream, self.pending)
            self.pending = bytearray()

    def finish(self) -> None:
        # The last gathered piece and the digest go out in one write.
        pending = self.pending
        self.hasher.update(pending)
        pending += _TRAILER
        pending += self.hasher.digest()
        _write_all(self.stream, pending)


def _write_all(stream: IO[bytes], data: Any) -> None:
    written = stream.write(data)
    # Raw (unbuffered) streams may take only part of a write.
    if written is not None and written < len(data):
        view = memoryview(data)
        while written is not None and written < len(view):
            view = view[written:]
            written = stream.write(view)


_DOC_SIZE = msgpack.packb("doc_size")
_DATA_SIZE = msgpack.packb("data_size")
_HEADER_DIGEST = msgpack.packb(HEADER_DIGEST_KEY)


def _header_bytes(header: dict, doc_size: int, data_size: int) -> bytes:
    """The packed header map: the format's header (:meth:`~qserial.Format.new_header`),
    the digest's name, the sizes, and last the digest of all those entries."""
    fields = {**header, "digest": DIGEST, "doc_size": doc_size, "data_size": data_size}
    if "manifest" in header:
        # Stored as JSON keeps it (string keys, lists), so every format gives back the same.
        fields["manifest"] = json.loads(json.dumps(header["manifest"], allow_nan=False))
    # Last: the digest of the header's other entries, so read_header verifies alone.
    check = (_HEADER_DIGEST, msgpack.packb(header_digest(fields)))
    # Sizes as uint64 whatever their value, so the header's length does not depend on them.
    sizes = (_DOC_SIZE, b"\xcf", doc_size.to_bytes(8, "big"),
             _DATA_SIZE, b"\xcf", data_size.to_bytes(8, "big"))
    rest = [msgpack.packb(k) + msgpack.packb(v) for k, v in fields.items()
            if k not in ("doc_size", "data_size")]
    n = len(rest) + 3
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return b"".join((head, *rest, *sizes, *check))


def dump(tree: Any, stream: IO[bytes], *, header: dict, compression: str = "auto",
         level: int = DEFAULT_LEVEL) -> None:
    """Write ``tree`` (as made by ``qserial.to_tree``) to the binary ``stream``.

    ``header`` is the format's :meth:`~qserial.Format.new_header`, with the manifest
    if any (see :func:`read_header`). The options come checked by the format.
    ``compression``: ``"auto"`` compresses with zstd at ``level`` each array of at
    least :data:`COMPRESS_FROM` bytes whose sample says it shrinks by 10% or more
    (and keeps the result only if it does); ``"zstd"`` every such array; ``"none"``
    none.

    Raises
    ------
    UnsupportedTypeError
        If the tree holds something other than tree values.
    LimitExceededError
        If it nests deeper than msgpack's packer allows (1024 levels).
    """
    try:
        layout = _Writer(compression, level)
    except ImportError:
        raise WriteError("compression needs the zstandard package: pip install zstandard "
                         "(or pass compression='none')") from None
    packer = msgpack.Packer(default=layout.default, strict_types=True, use_bin_type=True,
                            unicode_errors="surrogatepass")
    try:
        doc = packer.pack(tree)
    except QSerialError:
        raise
    except ValueError as exc:
        if "recursion" in str(exc):
            raise LimitExceededError("the tree nests too deeply for msgpack") from None
        raise UnsupportedTypeError(f"cannot write the tree as msgpack: {exc}") from None
    except (TypeError, OverflowError) as exc:
        raise UnsupportedTypeError(f"cannot write the tree as msgpack: {exc}") from None
    header = _header_bytes(header, len(doc), layout.size)
    # Nil padding (valid msgpack objects) puts the data region on a 64-byte boundary.
    pad = _NILS[: (-(_PREAMBLE + len(header) + len(doc))) % ALIGN]
    pieces: list[Any] = [MAGIC, b"\xce", len(header).to_bytes(4, "big"), header, doc, pad]
    pos = 0
    for offset, raw in layout.arrays:
        nbytes = len(raw)
        pieces.append(_NILS[: offset - 5 - pos] + _bin32(min(nbytes, MAX_BIN)))
        pieces.append(raw[:MAX_BIN])
        for start in range(MAX_BIN, nbytes, MAX_BIN):
            piece = raw[start:start + MAX_BIN]
            pieces.append(_bin32(len(piece)))
            pieces.append(piece)
        pos = offset + nbytes + 5 * (_chunks(nbytes) - 1)
    if layout.size < _GATHER:  # small: one piece, one write
        body = b"".join(pieces)
        _write_all(stream, body + _TRAILER + xxhash.xxh3_128_digest(body))
        return
    out = _Out(stream)
    for piece in pieces:
        out.write(piece)
    out.finish()


# ----------------------------------------------------------------------------- reading

_U8 = np.dtype(np.uint8)
_DTYPES: dict[str, np.dtype] = {"|u1": _U8}
# What a decoded list element or map value may be; anything else (a stray tag marker,
# a msgpack Timestamp from extension type -1) means the document is malformed.
_VALUE_TYPES = frozenset({type(None), bool, int, float, str, bytes, list, dict, Node,
                          np.ndarray})
_KEY_TYPES = frozenset({str})


class _Tag:
    """A Node's tag as decoded, until the ``[tag, value]`` list around it is seen."""

    __slots__ = ("tag",)

    def __init__(self, tag: str) -> None:
        self.tag = tag


def _dtype(descr: Any, offset: int) -> np.dtype:
    if type(descr) is str:
        found = _DTYPES.get(descr)
        if found is not None:
            return found
    try:
        if type(descr) is str:
            dtype = np.dtype(descr)
        elif type(descr) is list:
            dtype = np.lib.format.descr_to_dtype(_npy_descr(descr))
        else:
            raise TypeError(f"a dtype is a string or a list, not {type(descr).__name__}")
    except QSerialError:
        raise
    except Exception as exc:
        raise DecodeError(
            f"array at data offset {offset}: invalid dtype {descr!r:.80} ({exc})") from None
    if dtype.hasobject or dtype.kind not in _ALLOWED_KINDS or dtype.itemsize == 0 \
            or dtype.subdtype is not None:
        raise DecodeError(f"array at data offset {offset}: dtype {dtype} is refused (only "
                          "fixed-size, object-free dtypes are stored)")
    if type(descr) is str and len(_DTYPES) < _CACHE_LIMIT:
        _DTYPES[descr] = dtype
    return dtype


def _npy_descr(descr: Any) -> Any:
    # msgpack has no tuples: restore the ones numpy's descr uses (fields, titles, shapes).
    if type(descr) is not list:
        return descr
    fields = []
    for field in descr:
        if type(field) is not list or len(field) not in (2, 3):
            raise TypeError("a structured dtype field is [name, dtype] or [name, dtype, shape]")
        name = tuple(field[0]) if type(field[0]) is list else field[0]
        rest = [_npy_descr(field[1])]
        if len(field) == 3:
            rest.append(tuple(field[2]) if type(field[2]) is list else field[2])
        fields.append((name, *rest))
    return fields


class _Reader:
    """The unpacker's hooks: rebuild Nodes and arrays, refuse anything malformed.

    ``list`` turns each ``[tag, value]`` list into a Node and counts it; a tag found
    anywhere else (a stray tag) leaves the count short of the tags decoded. Two other
    things msgpack can produce are not tree values: a ``Timestamp`` (extension type
    -1) and a map with ``bin`` keys. The strict hooks refuse those, container by
    container; they run when the document's bytes could hold either (see ``_risky``).
    """

    __slots__ = ("buf", "copy", "data_size", "data_start", "expand_left", "nodes", "pos",
                 "tags", "view")

    def __init__(self, buf: np.ndarray, data_start: int, data_size: int, copy: bool,
                 expand_left: int | None = None) -> None:
        self.buf = buf
        self.expand_left = expand_left  # bytes compressed arrays may still expand to
        self.view = memoryview(buf)
        self.data_start = data_start
        self.data_size = data_size
        self.pos = 0  # end of the last array read, relative to the data region
        self.copy = copy
        self.tags = 0  # tags decoded
        self.nodes = 0  # tags that became Nodes

    def ext(self, code: int, data: bytes) -> Any:
        if code == EXT_TAG:
            self.tags += 1
            tag = _TAGS.get(data)
            return tag if tag is not None else _new_tag(data)
        if code == EXT_ARRAY:
            return self.array(data)
        if code == EXT_BIGINT:
            if not data:
                raise DecodeError("empty big integer")
            return int.from_bytes(data, "big", signed=True)
        raise DecodeError(f"unknown msgpack extension type {code}")

    def list(self, items: list) -> Any:
        if items and type(items[0]) is _Tag:
            if len(items) != 2:
                raise DecodeError(f"tagged value {items[0].tag!r} is not a [tag, value] pair")
            self.nodes += 1
            return Node(items[0].tag, items[1])
        return items

    def strict_list(self, items: list) -> Any:
        out = self.list(items)
        if type(out) is Node:
            if type(out.value) not in _VALUE_TYPES:
                raise DecodeError(f"tagged value {out.tag!r} holds a "
                                  f"{type(out.value).__name__}")
        elif not _VALUE_TYPES.issuperset(map(type, items)):
            bad = next(type(x).__name__ for x in items if type(x) not in _VALUE_TYPES)
            raise DecodeError(f"a list holds a misplaced {bad}")
        return out

    def strict_map(self, mapping: dict) -> dict:
        if not _KEY_TYPES.issuperset(map(type, mapping)):
            raise DecodeError("a map has keys other than strings")
        if not _VALUE_TYPES.issuperset(map(type, mapping.values())):
            bad = next(type(x).__name__ for x in mapping.values() if type(x) not in _VALUE_TYPES)
            raise DecodeError(f"a map holds a misplaced {bad}")
        return mapping

    def array(self, data: bytes) -> np.ndarray:
        try:
            desc = msgpack.unpackb(data)
        except Exception:
            desc = None
        if type(desc) is not list or len(desc) not in (4, 6):
            raise DecodeError("invalid array descriptor (want [dtype, shape, offset, fortran] "
                              "or [dtype, shape, offset, fortran, codec, stored size])")
        descr, shape, offset, fortran = desc[:4]
        if type(offset) is not int or type(fortran) is not bool:
            raise DecodeError(f"invalid array descriptor {desc!r:.200}: bad offset or order "
                              "flag")
        dtype = _dtype(descr, offset)
        if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
            raise DecodeError(f"array at data offset {offset}: invalid shape {shape!r}")
        if len(desc) == 6:
            return self.compressed(dtype, shape, offset, fortran, desc[4], desc[5])
        nbytes = math.prod(shape) * dtype.itemsize
        chunks = 1 if nbytes <= MAX_BIN else _chunks(nbytes)
        end = offset + nbytes + 5 * (chunks - 1)
        start = self._slot(offset, end, f"{nbytes} bytes of {dtype} {tuple(shape)}")
        view = self.view
        left = nbytes
        for i in range(chunks):
            head = start + i * (MAX_BIN + 5) - 5
            if view[head : head + 5] != _bin32(min(left, MAX_BIN)):
                raise DecodeError(f"array at data offset {offset}: no bin32 header of "
                                  f"{min(left, MAX_BIN)} bytes at file byte {head}")
            left -= MAX_BIN
        if chunks == 1:
            raw = self.buf[start : start + nbytes]
        else:  # only arrays of 4 GiB or more: gather the pieces
            raw = np.empty(nbytes, np.uint8)
            for i in range(chunks):
                src = start + i * (MAX_BIN + 5)
                piece = self.buf[src : src + min(MAX_BIN, nbytes - i * MAX_BIN)]
                raw[i * MAX_BIN : i * MAX_BIN + piece.size] = piece
        self.pos = end
        if dtype is not _U8:
            raw = raw.view(dtype)
        arr = raw.reshape(shape, order="F") if fortran else raw.reshape(shape)
        return arr.copy(order="K") if self.copy else arr


    def _slot(self, offset: int, end: int, what: str) -> int:
        """The file position of an array's data at ``offset``, after checking its place.

        Arrays are laid out in document order without overlap; checking that keeps two
        arrays from sharing memory and bounds every declared size by the real data.
        """
        gap = offset - 5 - self.pos
        if gap < 0 or end > self.data_size:
            raise DecodeError(
                f"array at data offset {offset}: {what} do not fit the data region "
                f"(bytes {self.pos}-{self.data_size} are left)")
        start = self.data_start + offset
        if gap >= ALIGN or self.view[start - 5 - gap : start - 5] != _NILS[:gap]:
            raise DecodeError(f"array at data offset {offset}: invalid padding before it "
                              f"(file byte {start - 5 - gap})")
        return start

    def compressed(self, dtype: np.dtype, shape: list[int], offset: int, fortran: bool,
                   codec: Any, stored: Any) -> np.ndarray:
        """A zstd-compressed array: its frame checked, then inflated into new memory."""
        if codec != "zstd":
            raise DecodeError(f"array at data offset {offset}: unknown codec {codec!r:.40} "
                              "(this reader knows 'zstd')")
        if type(stored) is not int or not 0 < stored <= MAX_BIN:
            raise DecodeError(f"array at data offset {offset}: invalid stored size {stored!r}")
        end = offset + stored
        start = self._slot(offset, end, f"{stored} compressed bytes")
        view = self.view
        if view[start - 5 : start] != _bin32(stored):
            raise DecodeError(f"array at data offset {offset}: no bin32 header of {stored} "
                              f"bytes at file byte {start - 5}")
        nbytes = math.prod(shape) * dtype.itemsize
        if self.expand_left is not None:
            if nbytes > self.expand_left:
                raise LimitExceededError(
                    f"array at data offset {offset}: compressed arrays would expand beyond "
                    "the limit (raise or lift it with max_expansion=, for a trusted file)")
            self.expand_left -= nbytes
        out = _inflate(view[start : start + stored], nbytes, offset)
        self.pos = end
        if dtype is not _U8:
            out = out.view(dtype)
        return out.reshape(shape, order="F") if fortran else out.reshape(shape)


def _inflate(frame: memoryview, nbytes: int, offset: int) -> np.ndarray:
    """The ``nbytes`` bytes of one zstd ``frame``, in new memory; anything else raises."""
    import zstandard

    where = f"array at data offset {offset}"
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise DecodeError(f"{where}: invalid zstd frame ({exc})") from None
    if declared != nbytes:
        raise DecodeError(f"{where}: the zstd frame holds {declared} bytes, its shape and "
                          f"dtype {nbytes}")
    out = np.empty(nbytes, np.uint8)
    if nbytes == 0:
        return out
    try:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        data = dobj.decompress(frame)
        ended, rest = dobj.eof, dobj.unused_data
    except zstandard.ZstdError as exc:
        raise DecodeError(f"{where}: damaged zstd data ({exc})") from None
    if not ended:
        raise DecodeError(f"{where}: the zstd frame ends early")
    if rest or len(data) != nbytes:
        raise DecodeError(f"{where}: {len(rest)} bytes follow the zstd frame")
    out[:] = np.frombuffer(data, np.uint8)
    return out


_TAGS: dict[bytes, _Tag] = {}


def _new_tag(data: bytes) -> _Tag:
    try:
        tag = _Tag(data.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        raise DecodeError(f"tag {data[:40]!r} is not UTF-8") from None
    if len(_TAGS) < _CACHE_LIMIT:
        _TAGS[data] = tag
    return tag



def _risky(doc: bytes) -> bool:
    """Whether ``doc`` may hold a bin (so bytes map keys) or an extension of type -1.

    msgpack always decodes extension type -1 to a ``Timestamp``; both are the only
    non-tree values the unpacker can make. Without any 0xc4-0xc6 (bin headers) or 0xff
    (type -1) byte, which is most documents, neither can occur.
    """
    return b"\xff" in doc or b"\xc4" in doc or b"\xc5" in doc or b"\xc6" in doc


def _header(view: memoryview, size: int) -> tuple[dict, int]:
    """Check the preamble and return the header and the offset of the document."""
    head = bytes(view[:_PREAMBLE])
    if head[: len(MAGIC)] != MAGIC[: len(head)]:
        raise DecodeError(f"not a qserial msgpack file: it starts with {head[:16]!r}, "
                          f"not {MAGIC!r}")
    if size < _PREAMBLE:
        raise TruncatedError(f"the file ends after {size} bytes, inside its preamble")
    if head[16] != 0xCE:
        raise DecodeError("byte 16 should start the header length (msgpack uint32, 0xce)")
    hlen = int.from_bytes(head[17:21], "big")
    if hlen > MAX_HEADER:
        raise DecodeError(f"the header length {hlen} (byte 17) exceeds {MAX_HEADER} bytes")
    if size < _PREAMBLE + hlen:
        raise TruncatedError(f"the file ends after {size} bytes, inside its header "
                             f"(bytes {_PREAMBLE}-{_PREAMBLE + hlen})")
    try:
        header = msgpack.unpackb(bytes(view[_PREAMBLE : _PREAMBLE + hlen]))
    except Exception as exc:
        raise DecodeError(f"invalid header (bytes {_PREAMBLE}-{_PREAMBLE + hlen}): {exc}") from None
    if type(header) is not dict:
        raise DecodeError(f"the header (byte {_PREAMBLE}) is not a map")
    if header.get("format") != "msgpack":
        raise DecodeError(f"the header names format {header.get('format')!r}, not 'msgpack'")
    version = header.get("version")
    if version != FORMAT_VERSION:
        check_version(version, MsgpackFormat, None)
    if header.get("digest") != DIGEST:
        raise DecodeError(f"unknown digest {header.get('digest')!r} in the header")
    for key in ("doc_size", "data_size"):
        if type(header.get(key)) is not int or header[key] < 0:
            raise DecodeError(f"invalid {key} {header.get(key)!r} in the header")
    return header, _PREAMBLE + hlen


def decode(buf: np.ndarray, *, verify: bool = True, copy: bool = False,
           digest: bytes | None = None,
           limits: Limits = DEFAULT_LIMITS) -> Any:
    """Return the tree held in ``buf``, a uint8 array holding a whole file.

    Arrays in the tree are views of ``buf`` unless ``copy`` is true (compressed
    arrays always have their own memory). ``digest``, if given, is the xxh3-128 of
    all but the last 18 bytes of ``buf``, computed while reading. Compressed arrays
    may expand to ``limits.expansion_bytes(size)`` in all (:class:`qserial.Limits`).
    """
    size = buf.size
    view = memoryview(buf)
    if size == 0:
        raise TruncatedError("the file is empty")
    header, doc_start = _header(view, size)
    doc_end = doc_start + header["doc_size"]
    data_start = _align(doc_end)
    data_end = data_start + header["data_size"]
    end = data_end + _TRAILER_SIZE
    if size < end:
        raise TruncatedError(f"the file is {size} bytes but its header declares {end}: "
                             "it was cut short")
    if size > end:
        raise DecodeError(f"{size - end} unexpected bytes follow the end of the file at "
                          f"byte {end} (joined or padded file)")
    if view[data_end : data_end + 2] != _TRAILER:
        raise DecodeError(f"no digest at byte {data_end}, where the file should end")
    if verify:
        stored = bytes(view[data_end + 2 : end])
        actual = digest if digest is not None else xxhash.xxh3_128_digest(view[:data_end])
        if actual != stored:
            raise IntegrityError(
                f"digest mismatch: xxh3-128 of bytes 0-{data_end} is {actual.hex()}, the "
                f"file records {stored.hex()}: the file was altered or damaged")
    if view[doc_end:data_start] != _NILS[: data_start - doc_end]:
        raise DecodeError(f"invalid padding after the document (bytes {doc_end}-{data_start})")
    expand_left = limits.expansion_bytes(size)
    reader = _Reader(buf, data_start, header["data_size"], copy, expand_left)
    doc = bytes(view[doc_start:doc_end])
    hooks: dict[str, Any] = {"list_hook": reader.list}
    if _risky(doc):
        hooks = {"list_hook": reader.strict_list, "object_hook": reader.strict_map}
    try:
        tree = msgpack.unpackb(doc, ext_hook=reader.ext, unicode_errors="surrogatepass",
                               **hooks)
    except QSerialError as exc:
        exc.message = f"{exc.message} (document at bytes {doc_start}-{doc_end})"
        exc.args = (exc.message,)
        raise
    except (msgpack.StackError, RecursionError):
        raise LimitExceededError(
            f"the document (bytes {doc_start}-{doc_end}) nests too deeply") from None
    except Exception as exc:
        raise DecodeError(
            f"invalid document (bytes {doc_start}-{doc_end}): {exc or type(exc).__name__}"
        ) from None
    if type(tree) not in _VALUE_TYPES or reader.nodes != reader.tags:
        raise DecodeError(f"the document (bytes {doc_start}-{doc_end}) holds a tag outside a "
                          "[tag, value] pair or a value that is not a qserial tree value")
    if reader.pos != header["data_size"]:
        raise DecodeError(f"the data region (bytes {data_start}-{data_end}) holds "
                          f"{header['data_size'] - reader.pos} bytes no array uses")
    return tree


def _fill(stream: Any, buf: np.ndarray, digest: bool) -> tuple[int, bytes | None]:
    """Read into ``buf`` until it is full or the stream ends.

    Returns the bytes read and, if ``digest`` and ``buf`` was filled, the xxh3-128 of
    all but its last 18 bytes: hashing each piece just read, while it is still in the
    CPU cache, costs less than hashing the whole buffer again from memory.
    """
    view, n, size = memoryview(buf), 0, buf.size
    hashed, hasher = 0, xxhash.xxh3_128() if digest else None
    while n < size:
        got = stream.readinto(view[n : n + _READ_PIECE])
        if not got:
            return n, None
        n += got
        upto = min(n, size - _TRAILER_SIZE)
        if hasher is not None and upto > hashed:
            hasher.update(view[hashed:upto])
            hashed = upto
    return n, None if hasher is None else hasher.digest()


def read_header(stream: IO[bytes]) -> dict[str, Any]:
    """Return the header of the file in ``stream``, reading and checking only it.

    The header is checked against its ``header_digest``; a file written without one
    is checked against the digest of the whole file, which is read for it.
    """
    head = stream.read(_PREAMBLE)
    if len(head) == _PREAMBLE and head[:16] == MAGIC and head[16] == 0xCE:
        head += stream.read(min(int.from_bytes(head[17:21], "big"), MAX_HEADER))
    buf = np.frombuffer(head, np.uint8)
    try:
        header = _header(memoryview(buf), buf.size)[0]
    except (TruncatedError, UnsupportedVersionError):
        raise
    except DecodeError:
        # Damage may have broken the header's structure: name it as damage if the
        # whole file's digest says so.
        _verify_whole(head, stream)
        raise
    stored = header.pop(HEADER_DIGEST_KEY, None)
    if stored is None:
        _verify_whole(head, stream)
    elif header_digest(header) != stored:
        raise IntegrityError("the header's digest does not match it: the file was altered "
                             "or damaged (header at byte 0)")
    return header


def _verify_whole(head: bytes, stream: IO[bytes]) -> None:
    """Check the digest of the file whose first bytes ``head`` were read from ``stream``."""
    rest = stream.read()
    data = memoryview(head + rest) if rest else memoryview(head)
    if len(data) < _TRAILER_SIZE + _PREAMBLE or data[-_TRAILER_SIZE:-16] != _TRAILER:
        return
    if xxhash.xxh3_128_digest(data[:-_TRAILER_SIZE]) != bytes(data[-16:]):
        raise IntegrityError("digest mismatch: the file was altered or damaged")


def read_header_path(path: str) -> dict[str, Any]:
    """Return the header of the file at ``path`` (see :func:`read_header`)."""
    with open(path, "rb") as f:
        return read_header(f)


def load_path(path: str, *, verify: bool = True, copy: bool = False,
              limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read the file at ``path`` into one new buffer and decode it (see :func:`decode`)."""
    with open(path, "rb", buffering=0) as f:
        buf = np.empty(os.fstat(f.fileno()).st_size, np.uint8)
        n, digest = _fill(f, buf, verify)
    return decode(buf[:n], verify=verify, copy=copy, digest=digest, limits=limits)


def load(stream: IO[bytes], *, verify: bool = True, copy: bool = False,
         limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read ``stream`` to its end and decode it (see :func:`decode`)."""
    seekable = getattr(stream, "seekable", None)
    if type(stream) is io.BytesIO or seekable is None or not seekable() \
            or not hasattr(stream, "readinto"):
        # One copy into memory the arrays may own (and write to).
        buf = np.frombuffer(bytearray(stream.read()), np.uint8)
    else:  # a file: read straight into the buffer
        start = stream.tell()
        size = stream.seek(0, os.SEEK_END) - start
        stream.seek(start)
        buf = np.empty(max(size, 0), np.uint8)
        n, digest = _fill(stream, buf, verify)
        return decode(buf[:n], verify=verify, copy=copy, digest=digest, limits=limits)
    return decode(buf, verify=verify, copy=copy, limits=limits)
