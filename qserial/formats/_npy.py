"""numpy arrays as RuntimeEncoder stores them: base64 of a zlib-compressed ``.npy`` file.

Reading parses the ``.npy`` header with numpy's own reader, refuses object dtypes
(``allow_pickle`` is never needed) and checks the declared shape against the payload
before building the array, so a hostile header cannot make us allocate.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pybase64
from numpy.lib import format as npy_format

from ..errors import DecodeError, LimitExceededError, TruncatedError

__all__ = ["encode_array", "decode_array", "DEFAULT_MAX_ARRAY_BYTES"]

#: Default cap on one array's decompressed size (configurable per load).
DEFAULT_MAX_ARRAY_BYTES = 4 << 30

# Arrays at least this big are tested for compressibility on a sample first: random
# measurement bits do not compress, and zlib level 6 on them costs 80-90% of
# RuntimeEncoder's time for a 1-3% gain.
_SAMPLE_FROM = 1 << 16
_SAMPLE_SIZE = 1 << 16
_WORTH_COMPRESSING = 0.9


def _npy_bytes(arr: np.ndarray) -> memoryview:
    buf = io.BytesIO()
    npy_format.write_array(buf, arr, allow_pickle=False)
    return buf.getbuffer()


def _choose_level(data: memoryview, compression: str | int) -> int:
    if compression != "auto":
        return int(compression)
    if len(data) < _SAMPLE_FROM:
        return 6
    sample = data[len(data) // 2 : len(data) // 2 + _SAMPLE_SIZE]
    ratio = len(zlib.compress(sample, 1)) / len(sample)
    return 6 if ratio < _WORTH_COMPRESSING else 0


def encode_array(arr: np.ndarray, compression: str | int = "auto") -> str:
    """Return the RuntimeEncoder ``ndarray`` value for ``arr``.

    Parameters
    ----------
    arr
        A numpy array without Python objects.
    compression
        ``"auto"`` (compress at zlib level 6 only where a sample compresses by 10%
        or more, store otherwise) or a zlib level 0-9. Every level is read by
        ``RuntimeDecoder``.
    """
    data = _npy_bytes(arr)
    packed = zlib.compress(data, _choose_level(data, compression))
    return pybase64.b64encode(packed).decode("ascii")


def decode_array(text: str, max_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> np.ndarray:
    """Rebuild an array from a RuntimeEncoder ``ndarray`` value.

    Raises
    ------
    DecodeError
        On invalid base64, zlib or ``.npy`` data, or an object dtype.
    TruncatedError
        If the zlib stream ends early.
    LimitExceededError
        If the array would be larger than ``max_bytes``.
    """
    try:
        packed = pybase64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"ndarray: invalid base64 ({exc})") from None
    inflater = zlib.decompressobj()
    try:
        # The cap bounds memory whatever the compressed size claims to expand to.
        data = inflater.decompress(packed, max_bytes + 4096)
    except zlib.error as exc:
        raise DecodeError(f"ndarray: invalid zlib data ({exc})") from None
    if inflater.unconsumed_tail:
        raise LimitExceededError(
            f"ndarray: expands beyond the limit of {max_bytes} bytes "
            "(raise it with max_array_bytes=)"
        )
    if not inflater.eof:
        raise TruncatedError("ndarray: zlib data ends early")
    if inflater.unused_data:
        raise DecodeError("ndarray: data follows the end of the zlib stream")
    return parse_npy(data, max_bytes)


def parse_npy(data: bytes, max_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> np.ndarray:
    """Build an array from ``.npy`` bytes, checking the header against the payload."""
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
    if dtype.hasobject:
        raise DecodeError(f"ndarray: dtype {dtype} holds Python objects and is refused")
    offset = stream.tell()
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
