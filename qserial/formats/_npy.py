"""numpy arrays as RuntimeEncoder stores them: base64 of a zlib-compressed ``.npy`` file.

Reading parses the ``.npy`` header with numpy's own reader, refuses object dtypes
(``allow_pickle`` is never needed) and checks the declared shape against the payload
before building the array, so a hostile header cannot make us allocate.

zlib and pybase64 release the GIL, so many arrays of a big result are encoded and
decoded in a few threads; small results stay on the calling thread.
"""

from __future__ import annotations

import functools
import io
import os
import re
import zlib
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import numpy as np
import pybase64
from numpy.lib import format as npy_format

from ..compression import estimate, sample
from ..errors import DecodeError, LimitExceededError, QSerialError, TruncatedError
from ..limits import DEFAULT_LIMITS, ExpansionBudget

__all__ = [
    "check_compression",
    "encode_array",
    "encode_arrays",
    "decode_array",
    "decode_arrays",
    "parse_npy",
    "inflate",
    "ExpansionBudget",
    "DEFAULT_MAX_ARRAY_BYTES",
    "DEFAULT_MAX_EXPANSION",
]

#: Defaults of the limits (see :class:`qserial.Limits`), for the functions below.
DEFAULT_MAX_ARRAY_BYTES = DEFAULT_LIMITS.max_array_bytes
DEFAULT_MAX_EXPANSION = DEFAULT_LIMITS.max_expansion

# A compressed array's .npy header is inflated first and checked before the payload;
# numpy caps headers at 10000 bytes, so this holds any header numpy reads.
_HEAD_BYTES = 16 << 10



# "auto" compression. RuntimeEncoder compresses every array with zlib level 6, which
# runs at 5-30 MB/s on measurement bits: most of its time, for a gain of 0-3% on
# random bits. So a sample of each array says first whether compression pays at all
# (qserial.compression); where it does, zlib level 1 runs when its matches find more
# than byte frequencies do (repeated shots, GHZ-like), else Huffman coding alone, which
# is faster still (130-200 MB/s) and as small on independent bits. Arrays smaller than
# this are compressed at level 1 without a sample: that costs less than the sample.
_SMALL = 4096
# Level 1 is chosen over Huffman coding alone when on the sample it reaches this
# fraction of the order-0 estimate or less.
_LZ_GAIN = 0.8

# Below this many bytes in all, threads cost more than they save.
_PARALLEL_FROM = 2 << 20

T = TypeVar("T")
R = TypeVar("R")


def _npy_parts(arr: np.ndarray) -> tuple[bytes, Any]:
    """The ``.npy`` header and the payload of ``arr``, as ``np.save`` writes them.

    The payload is a view of the array's memory where possible, so a big array is not
    copied before compression.
    """
    header = io.BytesIO()
    try:
        npy_format.write_array_header_1_0(header, npy_format.header_data_from_array_1_0(arr))
    except (ValueError, UnicodeEncodeError):
        # A header that needs .npy version 2 or 3: let numpy pick it.
        whole = io.BytesIO()
        npy_format.write_array(whole, arr, allow_pickle=False)
        return b"", whole.getbuffer()
    if arr.flags.f_contiguous and not arr.flags.c_contiguous:
        body = arr.T  # the header says fortran_order; the file holds the transpose in C order
    else:
        body = np.ascontiguousarray(arr)
    if body.nbytes == 0:
        return header.getvalue(), b""
    return header.getvalue(), body.reshape(-1).view(np.uint8)


def check_compression(compression: object) -> None:
    """Raise ``ValueError`` unless ``compression`` is ``"auto"`` or a zlib level 0-9."""
    if isinstance(compression, str):
        if compression == "auto":
            return
    elif isinstance(compression, int) and not isinstance(compression, bool):
        if 0 <= compression <= 9:
            return
    raise ValueError(f"compression must be 'auto' or a zlib level from 0 to 9, "
                     f"not {compression!r}")


def _choose_level(body: Any, compression: str | int) -> tuple[int, int]:
    """The zlib level and strategy for ``body`` (see ``_SMALL`` for what "auto" does)."""
    if compression != "auto":
        return int(compression), zlib.Z_DEFAULT_STRATEGY
    if len(body) < _SMALL:
        return 1, zlib.Z_DEFAULT_STRATEGY
    found = estimate(body)
    if not found.pays:
        return 0, zlib.Z_DEFAULT_STRATEGY
    part = sample(body)
    lz = len(zlib.compress(part, 1)) / max(part.size, 1)
    # Huffman coding spends at least a bit a byte: it cannot beat 1/8 (runs of zeros).
    if lz <= _LZ_GAIN * max(found.ratio, 1 / 8):
        return 1, zlib.Z_DEFAULT_STRATEGY
    return 1, zlib.Z_HUFFMAN_ONLY


def _encode(arr: np.ndarray, compression: str | int) -> bytes:
    header, body = _npy_parts(arr)
    level, strategy = _choose_level(body, compression)
    deflate = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    packed = b"".join((deflate.compress(header), deflate.compress(body), deflate.flush()))
    return pybase64.b64encode(packed)


def encode_array(arr: np.ndarray, compression: str | int = "auto") -> str:
    """Return the RuntimeEncoder ``ndarray`` value for ``arr``.

    Parameters
    ----------
    arr
        A numpy array without Python objects.
    compression
        ``"auto"`` (compress only where a sample says the array shrinks by 10% or
        more, with zlib level 1 or Huffman coding alone, whichever the sample says
        is as small and faster; store otherwise) or a zlib level 0-9. Every choice
        is plain zlib, read by ``RuntimeDecoder``.

    Raises
    ------
    ValueError
        If ``compression`` is neither.
    """
    check_compression(compression)
    return _encode(arr, compression).decode("ascii")


def encode_arrays(
    arrays: Sequence[np.ndarray], compression: str | int = "auto"
) -> Generator[bytes, None, None]:
    """Yield the ``ndarray`` value of each array as ASCII bytes (see :func:`encode_array`).

    Big totals are encoded in a few threads; values come in order as they are ready, so
    the caller can write one while the next ones are being encoded.
    """
    check_compression(compression)
    total = sum(a.nbytes for a in arrays)
    return _imap(lambda a: _encode(a, compression), arrays, total)


def decode_arrays(
    texts: Sequence[str | memoryview], max_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
    budget: ExpansionBudget | None = None,
) -> list[np.ndarray | QSerialError]:
    """Decode each text with :func:`decode_array`, in a few threads for big totals.

    An array that fails to decode gives its error in its place, so the caller can
    raise it where the array sits in the document.
    """

    def one(text: str | memoryview) -> np.ndarray | QSerialError:
        try:
            return decode_array(text, max_bytes, budget)
        except QSerialError as exc:
            return exc

    return list(_imap(one, texts, sum(len(t) for t in texts)))


@functools.cache
def _workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        n = os.cpu_count() or 1
    return min(n, 8)


def _imap(
    fn: Callable[[T], R], items: Sequence[T], total_bytes: int
) -> Generator[R, None, None]:
    """``map(fn, items)``, spread over threads when there is enough work."""
    workers = min(_workers(), len(items))
    if workers < 2 or total_bytes < _PARALLEL_FROM:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers)
    try:
        yield from pool.map(fn, items)
    finally:
        # Also when the caller stops early (a failed write): drop the work not started.
        pool.shutdown(wait=True, cancel_futures=True)


def decode_array(text: str | memoryview, max_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
                 budget: ExpansionBudget | None = None) -> np.ndarray:
    """Rebuild an array from a RuntimeEncoder ``ndarray`` value.

    Raises
    ------
    DecodeError
        On invalid base64, zlib or ``.npy`` data, or an object dtype.
    TruncatedError
        If the zlib stream ends early.
    LimitExceededError
        If the array would be larger than ``max_bytes``, or expand beyond ``budget``.
    """
    try:
        packed = pybase64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"ndarray: invalid base64 ({exc})") from None
    return _inflate_npy(packed, max_bytes, budget)


# A version 1.0 header exactly as numpy writes it for a plain dtype, e.g.
# "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" padded with spaces.
_PLAIN_HEADER = re.compile(
    r"\{'descr': '([<>|=][A-Za-z]\d+)', 'fortran_order': (True|False), "
    r"'shape': \((|\d+,|\d+(?:, \d+)+)\), \} *\n"
)


def _read_header(data: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and payload offset of ``.npy`` bytes."""
    # numpy's reader runs ast.literal_eval (tens of microseconds, most of the time to
    # read a small array); the usual header is matched here, anything else goes to numpy.
    if data[:8] == b"\x93NUMPY\x01\x00":
        end = 10 + int.from_bytes(data[8:10], "little")
        match = _PLAIN_HEADER.fullmatch(data[10:end].decode("latin1"))
        if match is not None:
            try:
                dtype = np.dtype(match[1])
            except TypeError:  # not a dtype: numpy's reader below says so
                pass
            else:
                shape = tuple(int(n) for n in match[3].split(",") if n)
                return shape, match[2] == "True", dtype, end
    stream = io.BytesIO(data)
    try:
        major, _minor = npy_format.read_magic(stream)
        if major == 1:
            shape, fortran, dtype = npy_format.read_array_header_1_0(stream, max_header_size=10000)
        elif major in (2, 3):
            shape, fortran, dtype = npy_format.read_array_header_2_0(stream, max_header_size=10000)
        else:
            raise ValueError(f"unsupported .npy version {major}")
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise DecodeError(f"ndarray: invalid .npy header ({exc})") from None
    return shape, fortran, dtype, stream.tell()


def _inflate_npy(packed: bytes, max_bytes: int, budget: ExpansionBudget | None) -> np.ndarray:
    """The array of a zlib-compressed ``.npy`` file, its declared size checked first.

    Only the header is inflated before the size it declares is checked against
    ``max_bytes`` and ``budget``; the payload is then inflated to at most that size,
    so memory stays bounded by what the limits allow, whatever the data claims.
    """
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(packed, _HEAD_BYTES)
        if not inflater.eof and len(head) < _HEAD_BYTES:
            raise TruncatedError("ndarray: zlib data ends early")
        shape, fortran, dtype, offset = _read_header(head)
        nbytes = _declared_bytes(shape, dtype, max_bytes)
        if budget is not None:
            budget.take(nbytes, "ndarray")
        rest = b""
        if not inflater.eof:
            # One byte more than declared shows a payload longer than its header says.
            rest = inflater.decompress(inflater.unconsumed_tail,
                                       max(offset + nbytes - len(head), 0) + 1)
    except zlib.error as exc:
        raise DecodeError(f"ndarray: invalid zlib data ({exc})") from None
    available = len(head) - offset + len(rest)
    if available > nbytes or inflater.unconsumed_tail:
        raise DecodeError(f"ndarray: header declares shape {shape} of {dtype} ({nbytes} "
                          "bytes) but more bytes follow")
    if not inflater.eof:
        raise TruncatedError("ndarray: zlib data ends early")
    if inflater.unused_data:
        raise DecodeError("ndarray: data follows the end of the zlib stream")
    if available != nbytes:
        raise DecodeError(f"ndarray: header declares shape {shape} of {dtype} ({nbytes} "
                          f"bytes) but {available} bytes follow")
    if not rest:
        return parse_npy(head, max_bytes)
    out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    # The file holds the array in its memory order; a Fortran array's transpose is C.
    dest = (out.T if fortran else out).reshape(-1).view(np.uint8)
    first = len(head) - offset
    dest[:first] = np.frombuffer(head, np.uint8, first, offset)
    dest[first:] = np.frombuffer(rest, np.uint8)
    return out


def _declared_bytes(shape: tuple[int, ...], dtype: np.dtype, max_bytes: int) -> int:
    """Bytes of the array a ``.npy`` header declares, once checked against ``max_bytes``."""
    if dtype.hasobject:
        raise DecodeError(f"ndarray: dtype {dtype} holds Python objects and is refused")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise LimitExceededError(f"ndarray: {nbytes} bytes exceed the limit of {max_bytes} "
                                 "(raise it with max_array_bytes=)")
    return nbytes


def inflate(packed: bytes, budget: ExpansionBudget | None, what: str) -> bytes:
    """Decompress a whole zlib stream, to no more than ``budget`` allows.

    Raises
    ------
    DecodeError
        On invalid zlib data or data after its end.
    TruncatedError
        If the stream ends early.
    LimitExceededError
        If it expands beyond ``budget``.
    """
    inflater = zlib.decompressobj()
    pieces = []
    data = packed
    try:
        # Piece by piece, so that a bomb is stopped once it has spent the budget.
        while not inflater.eof:
            piece = inflater.decompress(data, _HEAD_BYTES << 6)
            data = inflater.unconsumed_tail
            if budget is not None:
                budget.take(len(piece), what)
            pieces.append(piece)
            if not piece and not data:
                break
    except zlib.error as exc:
        raise DecodeError(f"{what}: invalid zlib data ({exc})") from None
    if not inflater.eof:
        raise TruncatedError(f"{what}: zlib data ends early")
    if inflater.unused_data:
        raise DecodeError(f"{what}: data follows the end of the zlib stream")
    return b"".join(pieces)


def parse_npy(data: bytes, max_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> np.ndarray:
    """Build an array from ``.npy`` bytes, checking the header against the payload."""
    shape, fortran, dtype, offset = _read_header(data)
    if dtype.hasobject:
        raise DecodeError(f"ndarray: dtype {dtype} holds Python objects and is refused")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise LimitExceededError(f"ndarray: {nbytes} bytes exceed the limit of {max_bytes}")
    if nbytes != len(data) - offset:
        raise DecodeError(
            f"ndarray: header declares shape {shape} of {dtype} ({nbytes} bytes) but "
            f"{len(data) - offset} bytes follow"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    # A copy gives a writable array that owns its memory, as np.load does.
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")
