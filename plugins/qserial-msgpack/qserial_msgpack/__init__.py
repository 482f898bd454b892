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
from qserial.formats import READ, Capability, Option

__all__ = ["MsgpackFormat", "FORMAT_VERSION", "MAGIC", "__version__"]

__version__ = "1.1.0"

#: Version of the on-disk layout this package writes ("major.minor").
FORMAT_VERSION = "1.2"

#: The first 16 bytes of every file: the msgpack string "qserial-msgpack".
MAGIC = b"\xafqserial-msgpack"


class MsgpackFormat(Format):
    """The ``msgpack`` format.

    Write options (declared in :attr:`options`): ``compression``, ``"auto"``
    (default: each array of 4 KiB or more is compressed with zstd where a sample of it
    says compression pays, as measurement bits of low entropy do; random bits are
    stored as they are, as fast as before), ``"zstd"`` (every such array) or
    ``"none"``; ``level``, the zstd level, -7 to 22 (default 1: fast, within a few
    percent of level 3). ``manifest=`` (JSON-able data, e.g. a job's provenance) is
    stored in the header and given back by :meth:`read_header` without reading the
    rest of the file.

    Read options: ``verify`` checks the file's xxh3-128 digest before decoding (only
    turn it off for data you trust: without it, damage that keeps the structure valid
    goes unnoticed); ``copy`` gives every array its own memory (by default arrays are
    writable views into the one buffer the file was read into, which stays alive as
    long as any of them does; compressed arrays always have their own);
    ``max_expansion`` bounds what compressed arrays expand to (see
    :class:`qserial.Limits`).
    """

    name = "msgpack"
    suffixes = (".msgpack", ".mpk")
    version = FORMAT_VERSION
    distribution = "qserial-msgpack"
    backends = ("msgpack",)
    capabilities = frozenset({Capability.MANIFEST, Capability.HEADER})
    options = (
        Option("compression", str, "auto", "zstd for arrays: 'auto' where a sample says "
               "it pays, 'zstd' always, 'none' never", choices=("auto", "zstd", "none"),
               sweep=("none", "zstd")),
        Option("level", int, 1, "zstd level", min=-7, max=22, sweep=(3,),
               when={"compression": ("zstd",)}),
        Option("copy", bool, False, "give every array its own memory instead of a view "
               "into the file's buffer", role=READ),
    )

    def sniff(self, head: bytes) -> bool:
        """Return whether ``head`` starts with the msgpack format's magic bytes."""
        return bytes(head[: len(MAGIC)]) == MAGIC

    def dump(self, tree: Any, stream: IO[bytes], *, manifest: dict | None = None,
             **options: Any) -> None:
        """Write ``tree`` to the binary ``stream`` (and ``manifest`` to its header)."""
        from ._codec import dump

        opts = self.write_options(options)
        dump(tree, stream, header=self.new_header(opts, manifest),
             compression=opts["compression"], level=opts["level"])

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        """Read a tree from the binary ``stream`` (options ``verify``, ``copy``, limits)."""
        from ._codec import load

        opts = self.read_options(options)
        return load(stream, verify=opts["verify"], copy=opts["copy"], limits=opts["limits"])

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """Return the header of the file in ``stream`` without reading the rest.

        The header holds ``format`` ("msgpack"), ``version`` (of the layout),
        ``writer`` (versions of qserial, qiskit, qiskit-ibm-runtime, numpy,
        qserial-msgpack and msgpack that wrote it), ``options`` (those it was written
        with), ``digest``, ``doc_size``, ``data_size``, ``header_digest`` and, if one
        was given to ``dump``, ``manifest``.
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

        opts = self.read_options(options)
        return load_path(path, verify=opts["verify"], copy=opts["copy"],
                         limits=opts["limits"])
