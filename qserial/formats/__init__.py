"""Storage formats: the format contract and the discovery of plugins.

A format maps the neutral tree (:mod:`qserial.tree`) to bytes and back. JSON ships
with qserial; other formats are separate distributions that register a
:class:`Format` subclass in the ``qserial.formats`` entry-point group. Discovery
happens on first use and is cached; a plugin that fails to load warns and leaves the
others working. A format is configured with declared options
(``get_format("parquet", compression="zstd")``); see :mod:`qserial.formats._base`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import FormatNotInstalledError, FormatOptionError, UnknownFormatError
from ._base import COMMON_OPTIONS, Capability, Format, check_version, writer_versions
from ._digest import HEADER_DIGEST_KEY, header_digest  # noqa: F401 (re-exported)
from ._options import READ, WRITE, Option

__all__ = [
    "Format",
    "Option",
    "Capability",
    "COMMON_OPTIONS",
    "READ",
    "WRITE",
    "check_version",
    "from_config",
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


def get_format(fmt: str | Format | type[Format] | Mapping[str, Any], **options: Any
               ) -> Format:
    """Return a format, configured with ``options``.

    Parameters
    ----------
    fmt
        An installed format's name, a :class:`Format` class, a format (whose
        configuration ``options`` then change), or a configuration as
        :meth:`Format.get_config` gives it (see :func:`from_config`).
    **options
        Values of the format's declared options; the others keep their defaults
        (or, for a configured format, its values).

    Raises
    ------
    FormatNotInstalledError
        For a format qserial knows of whose package is not installed.
    UnknownFormatError
        For any other unknown name.
    FormatOptionError
        For an unknown option or an invalid value; the message lists the valid ones.

    Examples
    --------
    >>> import qserial
    >>> qserial.get_format("json", compression=1)
    <qserial format 'json' compression=1>
    """
    if isinstance(fmt, Format):
        return fmt.with_options(**options)
    if isinstance(fmt, type) and issubclass(fmt, Format):
        return fmt(**options)
    if isinstance(fmt, Mapping):
        return from_config(fmt).with_options(**options)
    return _named(fmt).with_options(**options)


def from_config(config: Mapping[str, Any]) -> Format:
    """The format a configuration describes (see :meth:`Format.get_config`).

    Raises
    ------
    FormatOptionError
        If ``config`` names no format, or an unknown option or an invalid value.
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("format"), str):
        raise FormatOptionError(f"a format configuration is a dict naming its 'format', "
                                f"not {config!r:.80}")
    return type(_named(config["format"])).from_config(config)


def _named(fmt: Any) -> Format:
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
