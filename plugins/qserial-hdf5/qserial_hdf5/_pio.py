"""Positioned reads and writes on a file descriptor or a binary stream.

The datasets' bytes go through these, not through HDF5: a contiguous dataset's bytes
are the array's bytes, and HDF5's own write and read paths cost several times more
per byte.
"""

from __future__ import annotations

import os
from typing import IO

from qserial import WriteError


def write_at(dst: int | IO[bytes], offset: int, view: memoryview) -> None:
    if isinstance(dst, int):
        while view:
            n = os.pwrite(dst, view, offset)
            view, offset = view[n:], offset + n
        return
    dst.seek(offset)
    while view:  # raw (unbuffered) streams may write less than asked
        n = dst.write(view)
        if not n:
            raise WriteError("the stream took no more bytes")
        view = view[n:]


def read_into(src: int | IO[bytes], offset: int, view: memoryview) -> int:
    """Fill ``view`` from ``offset``; the number of bytes read (fewer at the file's end)."""
    done, n = 0, len(view)
    if isinstance(src, int):
        while done < n:
            got = os.preadv(src, [view[done:]], offset + done)
            if not got:
                break
            done += got
    else:
        src.seek(offset)
        while done < n:
            got = src.readinto(view[done:])
            if not got:
                break
            done += got
    return done


def read_bytes(src: int | IO[bytes], offset: int, n: int) -> bytes:
    """``n`` bytes from ``offset`` (fewer at the file's end), copied once."""
    if isinstance(src, int):
        data = os.pread(src, n, offset)
        if len(data) == n or not data:
            return data
        parts = [data]
        got = len(data)
        while got < n:  # a short read before the end: not on regular files, but allowed
            more = os.pread(src, n - got, offset + got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)
    buf = bytearray(n)
    got = read_into(src, offset, memoryview(buf))
    return bytes(buf) if got == n else bytes(buf[:got])


def file_size_of(stream: IO[bytes]) -> int:
    pos = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(pos)
    return end - pos
