"""qserial's msgpack format: compact, self-describing, with zero-copy arrays.

Install it next to qserial and ``.msgpack``/``.mpk`` files are written in this format;
any file in it is recognised from its first 16 bytes, whatever its name::

    import qserial
    qserial.dump(result, "run.msgpack")
    result = qserial.load("run.msgpack")

The layout (docs/formats/msgpack.md) is a stream of plain msgpack objects: a magic
string, a header map, the document, then one ``bin`` per array and an xxh3-128
digest. This module stays light because every installed format class is loaded to
sniff files; msgpack and xxhash are imported on first dump or load.
"""

from __future__ import annotations

from typing import IO, Any

from qserial import Format

__all__ = ["MsgpackFormat", "FORMAT_VERSION", "MAGIC", "__version__"]

__version__ = "1.1.0"

#: Version of the on-disk layout this package writes ("major.minor").
FORMAT_VERSION = "1.1"

#: The first 16 bytes of every file: the msgpack string "qserial-msgpack".
MAGIC = b"\xafqserial-msgpack"


class MsgpackFormat(Format):
    """The ``msgpack`` format.

    Dump options
    ------------
    manifest : dict or None
        JSON-able data (e.g. a job's provenance) stored in the header, given back by
        :meth:`read_header` without reading the rest of the file.
    compression : {"auto", "zstd", "none"}
        ``"auto"`` (default): each array of 4 KiB or more is compressed with zstd
        where a sample of it says compression pays (measurement bits of low entropy);
        random bits are stored as they are, as fast as before. ``"zstd"``: every such
        array; ``"none"``: none.
    level : int
        zstd level, -7 to 22 (default 1: fast, within a few percent of level 3).

    Load options
    ------------
    verify : bool
        Check the file's xxh3-128 digest before decoding (default true). Only turn
        it off for data you trust: without it, damage that keeps the structure valid
        goes unnoticed.
    copy : bool
        Give every array its own memory (default false). By default arrays are
        writable views into the one buffer the file was read into, which stays alive
        as long as any of them does (compressed arrays always have their own).
    max_expansion : float or None
        Refuse a file whose compressed arrays would expand to more than this many
        times its size (and 32 MiB); default 32, ``None`` for trusted files.
    """

    name = "msgpack"
    suffixes = (".msgpack", ".mpk")
    version = FORMAT_VERSION
    supports_partial = False
    supports_manifest = True

    def sniff(self, head: bytes) -> bool:
        """Return whether ``head`` starts with the msgpack format's magic bytes."""
        return bytes(head[: len(MAGIC)]) == MAGIC

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        """Write ``tree`` to the binary ``stream`` (options ``manifest``, ``compression``,
        ``level``)."""
        from ._codec import dump

        dump(tree, stream, **options)

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        """Read a tree from the binary ``stream`` (options ``verify``, ``copy``,
        ``max_expansion``)."""
        from ._codec import load

        return load(stream, **options)

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """Return the header of the file in ``stream`` without reading the rest.

        The header holds ``format`` ("msgpack"), ``version`` (of the layout),
        ``writer`` (versions of qserial, qiskit, qiskit-ibm-runtime, numpy,
        qserial-msgpack and msgpack that wrote it), ``digest``, ``doc_size``,
        ``data_size`` and, if one was given to ``dump``, ``manifest``.
        """
        from ._codec import read_header

        return read_header(stream)

    def read_header_path(self, path: str) -> dict[str, Any]:
        """Return the header of the file at ``path`` (see :meth:`read_header`)."""
        from ._codec import read_header_path

        return read_header_path(path)

    def load_path(self, path: str, **options: Any) -> Any:
        """Read a tree from the file at ``path`` into one newly allocated buffer."""
        from ._codec import load_path

        return load_path(path, **options)
