"""Storage formats: the plugin interface and its discovery.

A format maps the neutral tree (:mod:`qserial.tree`) to bytes and back. JSON ships
with qserial; other formats are separate distributions that register a
:class:`Format` subclass in the ``qserial.formats`` entry-point group. Discovery
happens on first use and is cached; a plugin that fails to load warns and leaves the
others working.
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import IO, Any, ClassVar

from ..errors import FormatNotInstalledError, UnknownFormatError, UnsupportedFeatureError
from ._digest import HEADER_DIGEST_KEY, header_digest  # noqa: F401 (re-exported)

__all__ = [
    "Format",
    "get_format",
    "list_formats",
    "format_for_suffix",
    "sniff_format",
    "refresh_formats",
    "writer_versions",
    "header_digest",
]

ENTRY_POINT_GROUP = "qserial.formats"

#: Number of leading bytes handed to :meth:`Format.sniff`.
SNIFF_BYTES = 64


class Format:
    """Base class of a storage format.

    Subclass it, set the class attributes, implement :meth:`dump` and :meth:`load`,
    and register the class in the ``qserial.formats`` entry-point group. Keep the
    module that defines it light: import heavy libraries inside the methods, since the
    class is loaded to sniff any file.

    Attributes
    ----------
    name
        Format name users pass as ``format=`` (lower case).
    suffixes
        File suffixes, with the dot, that select this format on write (``(".h5",)``).
    version
        Version of the on-disk layout this plugin writes, ``"major.minor"``.
        Readers refuse files of a newer major version.
    supports_partial
        True when :meth:`load` accepts ``pubs=`` and reads only those pubs' data.
    supports_manifest
        True when :meth:`dump` stores ``manifest=`` in the file's header and
        :meth:`read_header` gives it back.
    supports_lazy
        True when :meth:`open_lazy` returns a :class:`qserial.lazy.PubReader` that
        reads one pub at a time, for :func:`qserial.open`.
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1.0"
    supports_partial: ClassVar[bool] = False
    supports_manifest: ClassVar[bool] = False
    supports_lazy: ClassVar[bool] = False

    def sniff(self, head: bytes) -> bool:
        """Return whether a file starting with ``head`` is in this format.

        ``head`` holds the first :data:`SNIFF_BYTES` bytes (fewer for a short file).
        """
        return False

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        """Write ``tree`` to the binary ``stream``.

        A format with ``supports_manifest`` takes ``manifest=`` (a JSON-able dict, or
        None for none) among the options and stores it in the file's header; qserial
        passes ``manifest`` only to such formats.
        """
        raise NotImplementedError

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        """Read a tree from the binary ``stream``.

        Must raise :class:`qserial.QSerialError` subclasses on bad input. With
        ``supports_partial``, ``pubs`` (a list of pub indices) may be among the
        options and the returned tree holds only those pubs.
        """
        raise NotImplementedError

    def dump_path(self, tree: Any, path: str, **options: Any) -> None:
        """Write ``tree`` to a new file at ``path``; override when paths are faster."""
        with open(path, "wb") as stream:
            self.dump(tree, stream, **options)

    def load_path(self, path: str, **options: Any) -> Any:
        """Read a tree from the file at ``path``; override when paths are faster."""
        with open(path, "rb") as stream:
            return self.load(stream, **options)

    def open_lazy(self, path: str, **options: Any) -> Any:
        """Open the file at ``path`` to read it pub by pub (see ``supports_lazy``).

        Returns a :class:`qserial.lazy.PubReader` holding the file open; opening reads
        only the file's structure. ``options`` are the load options.
        """
        raise UnsupportedFeatureError(f"format {self.name!r} cannot read pubs one at a time")

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """Return the header of the file in ``stream`` without reading its data.

        What it returns must be verified (e.g. against :func:`header_digest` stored in
        the header): damage to the header raises :class:`~qserial.IntegrityError`,
        never gives a wrong value.

        Returns
        -------
        dict
            At least ``{"format": name, "version": layout version, "writer": {...}}``,
            and ``"manifest"`` when the file holds one.

        Raises
        ------
        UnsupportedFeatureError
            In this base implementation: the format cannot read its header alone.
        """
        raise UnsupportedFeatureError(f"format {self.name!r} cannot read a file's header alone")

    def read_header_path(self, path: str) -> dict[str, Any]:
        """Return the header of the file at ``path``; override when paths are faster."""
        with open(path, "rb") as stream:
            return self.read_header(stream)

    def __repr__(self) -> str:
        return f"<qserial format {self.name!r}>"


# Formats the project publishes separately: a ready install hint when they are missing.
KNOWN_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "msgpack": ("qserial-msgpack", (".msgpack", ".mpk")),
    "hdf5": ("qserial-hdf5", (".h5", ".hdf5")),
    "parquet": ("qserial-parquet", (".parquet", ".pq")),
}

_lock = threading.Lock()
_formats: dict[str, Format] | None = None


def _discover() -> dict[str, Format]:
    from .json import JSONFormat

    found: dict[str, Format] = {"json": JSONFormat()}
    import importlib.metadata  # ~30 ms: only when formats are first needed

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            cls = ep.load()
            fmt = cls() if isinstance(cls, type) else cls
            if not isinstance(fmt, Format):
                raise TypeError(f"{ep.value} is not a qserial.formats.Format")
        except Exception as exc:  # a broken plugin must not take the others down
            warnings.warn(
                f"qserial: format plugin {ep.name!r} ({ep.value}) failed to load and is "
                f"skipped: {exc!r}",
                RuntimeWarning,
                stacklevel=4,
            )
            continue
        found[ep.name] = fmt
    return found


def _all() -> dict[str, Format]:
    global _formats
    if _formats is None:
        with _lock:
            if _formats is None:
                _formats = _discover()
    return _formats


def refresh_formats() -> None:
    """Forget discovered plugins; the next use scans the entry points again."""
    global _formats
    with _lock:
        _formats = None


def list_formats() -> list[str]:
    """Return the names of the installed formats, ``"json"`` first.

    Examples
    --------
    >>> import qserial
    >>> "json" in qserial.list_formats()
    True
    """
    return list(_all())


def get_format(fmt: str | Format | type[Format]) -> Format:
    """Return the installed format for a name, a :class:`Format` class or instance.

    Raises
    ------
    FormatNotInstalledError
        For a format qserial knows of whose package is not installed.
    UnknownFormatError
        For any other unknown name.
    """
    if isinstance(fmt, Format):
        return fmt
    if isinstance(fmt, type) and issubclass(fmt, Format):
        return fmt()
    if not isinstance(fmt, str):
        raise UnknownFormatError(f"format must be a name or a Format class, not {fmt!r}")
    formats = _all()
    found = formats.get(fmt.lower())
    if found is not None:
        return found
    if fmt.lower() in KNOWN_FORMATS:
        package = KNOWN_FORMATS[fmt.lower()][0]
        raise FormatNotInstalledError(
            f"format {fmt!r} needs the {package} package: pip install {package} "
            f"(installed formats: {', '.join(formats)})"
        )
    raise UnknownFormatError(f"unknown format {fmt!r}; installed formats: {', '.join(formats)}")


def format_for_suffix(filename: str) -> Format:
    """Return the installed format that writes files named like ``filename``.

    ``filename`` may be a whole name or just its suffix; the longest matching suffix
    wins, so a plugin may claim ``.json.gz`` beside JSON's ``.json``.
    """
    name = filename.lower()
    candidates = [(s, fmt) for fmt in _all().values() for s in fmt.suffixes]
    candidates += [(s, fmt_name) for fmt_name, (_, sfx) in KNOWN_FORMATS.items() for s in sfx]
    matches = [(len(s), fmt) for s, fmt in candidates if name.endswith(s.lower())]
    if matches:
        best = max(matches, key=lambda m: m[0])[1]
        # A known format without its package raises FormatNotInstalledError with the hint.
        return best if isinstance(best, Format) else get_format(best)
    known = sorted(s for f in _all().values() for s in f.suffixes)
    raise UnknownFormatError(
        f"cannot tell the format of {filename or '(no name)'!r} from its suffix; pass format= "
        f"(installed formats: {', '.join(_all())}; known suffixes: {', '.join(known)})"
    )


def sniff_format(head: bytes) -> Format | None:
    """Return the installed format whose :meth:`Format.sniff` accepts ``head``.

    Binary formats are asked before JSON, whose test (a leading ``{`` or ``[``) is
    the loosest.
    """
    formats = _all()
    for name, fmt in formats.items():
        if name != "json" and _safe_sniff(fmt, head):
            return fmt
    json_fmt = formats["json"]
    return json_fmt if json_fmt.sniff(head) else None


def _safe_sniff(fmt: Format, head: bytes) -> bool:
    try:
        return bool(fmt.sniff(head))
    except Exception:
        return False


def writer_versions() -> dict[str, str | None]:
    """Versions of qserial, qiskit, qiskit-ibm-runtime and numpy, for a file's header.

    Read from package metadata, so nothing is imported.
    """
    return dict(_writer_versions())


@functools.cache
def _writer_versions() -> dict[str, str | None]:
    import importlib.metadata

    out: dict[str, str | None] = {}
    for dist in ("qserial", "qiskit", "qiskit-ibm-runtime", "numpy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out
