"""The :class:`ParquetFormat` plugin class; kept light, pyarrow is imported on use."""

from __future__ import annotations

from typing import IO, Any

import qserial
from qserial.formats import Capability, Option

__all__ = ["ParquetFormat", "FORMAT_VERSION"]

FORMAT_VERSION = "2.2"


class ParquetFormat(qserial.Format):
    """Results as a Parquet table with one row per shot (see docs/formats/parquet.md).

    Notes
    -----
    Write options (declared in :attr:`options`; ``qserial.dump(..., **options)`` or
    ``qserial.get_format("parquet", **options)``):

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

    ``manifest=`` is kept in the header, covered by the digest.

    Read options: ``pubs`` reads only these pubs of a ``PrimitiveResult`` (only their
    row groups); ``verify`` checks the stored xxh3-128 digests; ``max_bytes`` and
    ``max_expansion`` bound what the registers decode to (see :class:`qserial.Limits`).
    """

    name = "parquet"
    suffixes = (".parquet", ".pq")
    version = FORMAT_VERSION
    distribution = "qserial-parquet"
    backends = ("pyarrow",)
    capabilities = frozenset({Capability.PARTIAL, Capability.MANIFEST, Capability.HEADER,
                              Capability.LAZY})
    options = (
        Option("compression", str, "auto", "codec of the register columns; 'auto' "
               "chooses per column from a sample",
               choices=("auto", "none", "zstd", "lz4", "snappy", "gzip", "brotli"),
               sweep=("none", "zstd", "lz4", "snappy", "gzip")),
        Option("compression_level", int, None, "level for codecs that take one",
               min=-7, max=22, nullable=True, sweep=(1, 3, 9),
               when={"compression": ("zstd",)}),
        Option("dictionary", (str, bool), "auto", "dictionary-encode register columns; "
               "'auto' where outcomes repeat", choices=("auto", True, False), sweep=(False,),
               when={"compression": ("auto", "none")}),
        Option("shot_column", bool, False, "also write a 'shot' index column"),
    )

    def sniff(self, head: bytes) -> bool:
        """Parquet files start with ``PAR1``."""
        return head[:4] == b"PAR1"

    def dump(self, tree: Any, stream: IO[bytes], *, manifest: dict | None = None,
             **options: Any) -> None:
        """Write ``tree`` to the binary ``stream``."""
        from ._layout import write

        opts = self.write_options(options)
        write(tree, stream, header=self.new_header(opts, manifest), **opts)

    def dump_path(self, tree: Any, path: str, *, manifest: dict | None = None,
                  **options: Any) -> None:
        """Write ``tree`` to a new file at ``path``."""
        from ._layout import write

        opts = self.write_options(options)
        write(tree, path, header=self.new_header(opts, manifest), **opts)

    def load(self, stream: IO[bytes], *, pubs: list[int] | None = None, **options: Any) -> Any:
        """Read a tree from the binary ``stream``."""
        from ._reader import read

        opts = self.read_options(options)
        try:
            data = stream.read()
        except OSError as exc:
            raise qserial.DecodeError(f"cannot read the stream: {exc}") from None
        return read(data, pubs=pubs, verify=opts["verify"], limits=opts["limits"])

    def read_header(self, stream: IO[bytes]) -> dict:
        """Return the file's header (format, version, writer, options, manifest, columns,
        pubs).

        Reads only the Parquet footer; the digest is not checked.
        """
        from ._reader import read_header

        return read_header(stream)

    def read_header_path(self, path: str) -> dict:
        """Return the header of the file at ``path`` (see :meth:`read_header`)."""
        from ._reader import read_header

        return read_header(path)

    def open_lazy(self, path: str, **options: Any) -> Any:
        """Open the file at ``path`` for :func:`qserial.open`: only its footer is read."""
        from ._lazy import ParquetPubReader

        opts = self.read_options(options)
        return ParquetPubReader(path, verify=opts["verify"], limits=opts["limits"])

    def load_path(self, path: str, *, pubs: list[int] | None = None, **options: Any) -> Any:
        """Read a tree from the file at ``path``, only the row groups needed."""
        from ._reader import read

        opts = self.read_options(options)
        return read(path, pubs=pubs, verify=opts["verify"], limits=opts["limits"])
