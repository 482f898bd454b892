"""HDF5 format for qserial: plain HDF5 files that h5py and HDFView open directly.

Install the distribution and the format is available to :func:`qserial.dump` and
:func:`qserial.load` as ``format="hdf5"`` or through the ``.h5``/``.hdf5`` suffixes.
The layout is described in docs/formats/hdf5.md. h5py is imported on first use only,
since every installed format class is loaded to recognise files.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any

from qserial import Format, FormatOptionError
from qserial.formats import Capability, Option

__all__ = ["HDF5Format"]
__version__ = "1.0.0"

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class HDF5Format(Format):
    """qserial's HDF5 format: a group per pub, arrays as contiguous datasets.

    Write options (declared in :attr:`options`): ``compression``: ``"auto"``
    (default: each array of 4 KiB or more whose sample says it shrinks by 10% becomes
    one deflate (gzip) chunk, which plain h5py and HDFView read; random bits stay
    contiguous, as fast as before), ``"gzip"`` (every such array), ``"zstd"`` (zstd
    chunks where they pay: faster; other HDF5 readers need ``import hdf5plugin``,
    qserial does not) or ``"none"``; ``level`` (zlib 0-9 or zstd -7 to 22; default:
    zlib level 1 or Huffman coding alone, as the sample says, or zstd level 1).
    ``manifest=`` (a JSON-able dict) is stored in the header.

    Read options: ``verify`` (default True: check the xxh3 digests of every part read;
    False skips them for trusted data), ``pubs`` (read only these pubs of a stored
    ``PrimitiveResult``) and ``max_expansion`` (see :class:`qserial.Limits`: refuse
    files whose arrays would take more than this many times the file's size, and
    32 MiB; None for trusted files).
    """

    name = "hdf5"
    suffixes = (".h5", ".hdf5")
    version = "2.0"
    distribution = "qserial-hdf5"
    backends = ("h5py",)
    capabilities = frozenset({Capability.PARTIAL, Capability.MANIFEST, Capability.HEADER,
                              Capability.LAZY})
    options = (
        Option("compression", str, "auto", "deflate or zstd chunks for arrays: 'auto' "
               "(gzip where a sample says it pays), 'gzip', 'zstd' (readers other than "
               "qserial need hdf5plugin) or 'none'", choices=("auto", "gzip", "zstd", "none"),
               sweep=("none", "gzip", "zstd")),
        Option("level", int, None, "zlib level 0-9, or zstd level -7 to 22; None: chosen "
               "by the sample", min=-7, max=22, nullable=True, sweep=(1, 6),
               when={"compression": ("gzip",)}),
    )

    def check_options(self, config: Any) -> None:
        """zlib levels run 0-9; only zstd takes -7 to 22."""
        level = config["level"]
        if level is not None and config["compression"] != "zstd" and not 0 <= level <= 9:
            raise FormatOptionError(
                f"level {level} is no zlib level (0-9) for compression="
                f"{config['compression']!r}; zstd takes -7 to 22; {self.options_listing()}")

    def sniff(self, head: bytes) -> bool:
        """HDF5's signature at offset 0 (the position qserial writes it at)."""
        return head[:8] == _SIGNATURE

    def dump(self, tree: Any, stream: IO[bytes], *, manifest: dict | None = None,
             **options: Any) -> None:
        """Write ``tree`` to a binary stream, with an optional JSON ``manifest``."""
        from ._writer import dump_stream

        opts = self.write_options(options)
        dump_stream(tree, stream, self.new_header(opts, manifest), **opts)

    def dump_path(self, tree: Any, path: str, *, manifest: dict | None = None,
                  **options: Any) -> None:
        """Write ``tree`` to a new file at ``path``."""
        from ._writer import write_checked

        opts = self.write_options(options)
        write_checked(tree, os.fspath(path), self.new_header(opts, manifest), **opts)

    def load(self, stream: IO[bytes], *, pubs: list[int] | None = None,
             **options: Any) -> Any:
        """Read a tree from a binary stream (see the class docstring for the options)."""
        from ._reader import read

        opts = self.read_options(options)
        return read(*_checked_stream(stream), verify=opts["verify"], pubs=pubs,
                    max_expansion=opts["limits"].max_expansion)

    def load_path(self, path: str, *, pubs: list[int] | None = None,
                  **options: Any) -> Any:
        """Read a tree from the file at ``path``."""
        from ._reader import read

        opts = self.read_options(options)
        path = os.fspath(path)
        return read(path, _checked_path(path), verify=opts["verify"], pubs=pubs,
                    max_expansion=opts["limits"].max_expansion)

    def open_lazy(self, path: str, **options: Any) -> Any:
        """Open the file at ``path`` for :func:`qserial.open`: no dataset is read."""
        from ._lazy import HDF5PubReader

        verify = self.read_options(options)["verify"]
        path = os.fspath(path)
        return HDF5PubReader(path, _checked_path(path), verify=verify)

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """The file's format, layout version, writer versions and manifest (if any).

        Only the root attributes (or their copy in the file's index) are read, and
        checked against their digest.

        Returns
        -------
        dict
            ``{"format": "hdf5", "version": "2.0", "writer": {"qserial": ..., ...},
            "options": {...}}`` and ``"manifest"`` when the file holds one.
        """
        from ._reader import read_header

        return read_header(*_checked_stream(stream))

    def read_header_path(self, path: str) -> dict[str, Any]:
        """:meth:`read_header` of the file at ``path``."""
        from ._reader import read_header

        path = os.fspath(path)
        return read_header(path, _checked_path(path))


def _checked_stream(stream: IO[bytes]) -> tuple[IO[bytes], Any]:
    """A seekable stream at the file's start, and its :class:`._layout.Probe`."""
    from ._layout import HEAD_BYTES, Probe, check_superblock
    from ._pio import file_size_of, read_bytes

    seekable = False
    try:
        seekable = stream.seekable() and stream.tell() == 0
    except (AttributeError, OSError, ValueError):
        pass
    if not seekable:
        stream = io.BytesIO(stream.read())
    size = file_size_of(stream)
    head = read_bytes(stream, 0, min(size, HEAD_BYTES))
    stream.seek(0)
    return stream, Probe(size, check_superblock(head, size), head)


def _checked_path(path: str) -> Any:
    """The file opened once: its :class:`._layout.Probe`, with the descriptor."""
    from ._layout import HEAD_BYTES, Probe, check_superblock
    from ._pio import read_bytes

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        head = read_bytes(fd, 0, min(size, HEAD_BYTES))
        return Probe(size, check_superblock(head, size), head, fd)
    except BaseException:
        os.close(fd)
        raise
