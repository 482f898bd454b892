"""Compressed chunks: chosen from a sample, written and read by qserial itself.

A compressed array is a dataset of one chunk. qserial compresses the chunk (in
Python's zlib or zstandard, so it picks the strategy HDF5's filter cannot: zlib level
1 or Huffman coding alone, as the JSON format does) and hands HDF5 the finished chunk
(``H5Dwrite_chunk``); on reading, it reads the chunk's bytes at their offset and
inflates them itself. The chunk is what HDF5's own filter would have written, so any
HDF5 reader decodes it: ``deflate`` (gzip) with no extra package, ``zstd`` (filter
32015) after ``import hdf5plugin``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from qserial import DecodeError, WriteError
from qserial.compression import estimate, sample

__all__ = ["COMPRESSIONS", "COMPRESS_FROM", "compress", "inflate"]

#: Values of the ``compression`` option.
COMPRESSIONS = ("auto", "gzip", "zstd", "none")
#: Arrays smaller than this stay contiguous and uncompressed.
COMPRESS_FROM = 4096
#: HDF5 chunks hold less than 4 GiB.
_MAX_CHUNK = (1 << 32) - 1
#: A compressed chunk is kept only if it is at most this fraction of the raw bytes.
_KEEP_BELOW = 0.95
#: zlib level 1 is used over Huffman coding alone when on the sample it reaches this
#: fraction of the order-0 entropy estimate or less (repeated shots, GHZ-like data).
_LZ_GAIN = 0.8


def compress(data: np.ndarray, compression: str, level: int | None) -> tuple[str, bytes] | None:
    """The codec and chunk for ``data``, or None to store it contiguous and raw."""
    nbytes = data.nbytes
    if compression == "none" or data.ndim == 0 or not COMPRESS_FROM <= nbytes <= _MAX_CHUNK:
        return None
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    found = estimate(view)
    if not found.pays and compression != "gzip":
        return None  # random bits: contiguous, written and read as fast as raw I/O
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise WriteError("compression='zstd' needs the zstandard package: pip install "
                             "zstandard") from None
        codec, packed = "zstd", zstandard.ZstdCompressor(
            level=1 if level is None else level).compress(view)
    else:
        codec, packed = "deflate", _deflate(view, found.ratio, level)
    if len(packed) > _KEEP_BELOW * nbytes:
        return None
    return codec, packed


def _deflate(view: memoryview, ratio: float, level: int | None) -> bytes:
    if level is not None:
        return zlib.compress(view, level)
    part = sample(view)
    strategy = zlib.Z_DEFAULT_STRATEGY
    # Huffman coding spends at least a bit a byte: it cannot beat 1/8.
    if len(zlib.compress(part, 1)) / max(part.size, 1) > _LZ_GAIN * max(ratio, 1 / 8):
        strategy = zlib.Z_HUFFMAN_ONLY  # as small on independent bits, and faster
    deflate = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    return deflate.compress(view) + deflate.flush()


def inflate(packed: Any, codec: str, out: np.ndarray, where: str) -> None:
    """Inflate the chunk ``packed`` into ``out`` (uint8), which it must fill exactly."""
    nbytes = out.size
    if codec == "zstd":
        try:
            import zstandard
        except ImportError:
            raise DecodeError(f"{where}: the dataset is zstd-compressed, which needs the "
                              "zstandard package: pip install zstandard") from None
        try:
            declared = zstandard.frame_content_size(packed)
            if declared != nbytes:
                raise DecodeError(f"{where}: the zstd chunk holds {declared} bytes, the "
                                  f"array {nbytes}")
            dobj = zstandard.ZstdDecompressor().decompressobj()
            data = dobj.decompress(packed)
            ok = dobj.eof and not dobj.unused_data
        except zstandard.ZstdError as exc:
            raise DecodeError(f"{where}: damaged zstd chunk ({exc})") from None
    else:
        try:
            dobj = zlib.decompressobj()
            data = dobj.decompress(packed, nbytes)
            ok = dobj.eof and not dobj.unconsumed_tail and not dobj.unused_data
        except zlib.error as exc:
            raise DecodeError(f"{where}: damaged deflate chunk ({exc})") from None
    if not ok or len(data) != nbytes:
        raise DecodeError(f"{where}: the compressed chunk does not inflate to exactly the "
                          f"array's {nbytes} bytes")
    out[:] = np.frombuffer(data, np.uint8)
