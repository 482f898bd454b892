"""The :class:`ParquetFormat` plugin class; kept light, pyarrow is imported on use."""

from __future__ import annotations

from typing import IO, Any

import qserial

__all__ = ["ParquetFormat", "FORMAT_VERSION"]

FORMAT_VERSION = "1.1"


class ParquetFormat(qserial.Format):
    """Results as a Parquet table with one row per shot (see docs/formats/parquet.md).

    Notes
    -----
    Write options (``qserial.dump(..., **options)``):

    compression : str
        Codec of the register columns. ``"auto"`` (default) decides per column from a
        sample of its shots: zstd (level 1) where the shots' entropy promises a 10%
        gain or the column is dictionary encoded, none where shots are random (they
        do not compress). Or one codec for every register column: ``"none"``,
        ``"zstd"``, ``"lz4"``, ``"snappy"``, ``"gzip"``, ``"brotli"``.
    compression_level : int or None
        Level for codecs that take one (zstd, gzip, brotli).
    dictionary : "auto", True or False
        Dictionary-encode register columns: ``"auto"`` (default) where the sample
        repeats each distinct outcome at least 16 times on average (few outcomes, as
        a GHZ state or a small mid-circuit register gives).
    shot_column : bool
        Also write a ``shot`` index column (default false; it costs about as much
        time as a 32-bit register).
    manifest : dict or None
        JSON-able provenance kept in the header (covered by the digest).

    Read options (``qserial.load(..., **options)``):

    pubs : list of int
        Read only these pubs of a ``PrimitiveResult`` (only their row groups).
    verify : bool
        Check the stored xxh3-128 digests (default true).
    max_bytes : int
        Refuse files whose registers would decode to more bytes than this
        (default 16 GiB).
    max_expansion : float or None
        Refuse files whose registers would decode to more than this many times the
        file's size (and 32 MiB); default 32, ``None`` for trusted files.
    """

    name = "parquet"
    suffixes = (".parquet", ".pq")
    version = FORMAT_VERSION
    supports_partial = True
    supports_manifest = True
    supports_lazy = True

    def sniff(self, head: bytes) -> bool:
        """Parquet files start with ``PAR1``."""
        return head[:4] == b"PAR1"

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        """Write ``tree`` to the binary ``stream``."""
        from ._layout import write

        write(tree, stream, **options)

    def dump_path(self, tree: Any, path: str, **options: Any) -> None:
        """Write ``tree`` to a new file at ``path``."""
        from ._layout import write

        write(tree, path, **options)

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        """Read a tree from the binary ``stream``."""
        from ._layout import read

        try:
            data = stream.read()
        except OSError as exc:
            raise qserial.DecodeError(f"cannot read the stream: {exc}") from None
        return read(data, **options)

    def read_header(self, stream: IO[bytes]) -> dict:
        """Return the file's header (format, version, writer, manifest, columns, pubs).

        Reads only the Parquet footer; the digest is not checked.
        """
        from ._layout import read_header

        return read_header(stream)

    def read_header_path(self, path: str) -> dict:
        """Return the header of the file at ``path`` (see :meth:`read_header`)."""
        from ._layout import read_header

        return read_header(path)

    def open_lazy(self, path: str, **options: Any) -> Any:
        """Open the file at ``path`` for :func:`qserial.open`: only its footer is read."""
        from ._lazy import ParquetPubReader

        return ParquetPubReader(path, **options)

    def load_path(self, path: str, **options: Any) -> Any:
        """Read a tree from the file at ``path``, only the row groups needed."""
        from ._layout import read

        return read(path, **options)
