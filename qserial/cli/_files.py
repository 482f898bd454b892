"""Files named on the command line: folders and quoted globs expanded, formats told apart.

Shared by the commands over many files (info, validate, convert) and by counts.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["GLOB_CHARS", "digest_of", "expand", "header_of", "read_format", "stem",
           "suffix_owner", "suffixes"]

GLOB_CHARS = frozenset("*?[")


def suffixes() -> list[str]:
    """Every suffix a format claims, installed or known, longest first."""
    from ..formats import KNOWN_FORMATS, get_format, list_formats

    found = {s.lower() for name in list_formats() for s in get_format(name).suffixes}
    found |= {s.lower() for _, claimed in KNOWN_FORMATS.values() for s in claimed}
    return sorted(found, key=len, reverse=True)


def suffix_owner(name: str) -> str | None:
    """The format whose suffix ``name`` ends with (the longest that matches), or None."""
    from ..formats import KNOWN_FORMATS, get_format, list_formats

    owners = {s.lower(): fmt for fmt, (_, claimed) in KNOWN_FORMATS.items() for s in claimed}
    owners |= {s.lower(): fmt for fmt in list_formats() for s in get_format(fmt).suffixes}
    matches = [s for s in owners if name.lower().endswith(s) and len(name) > len(s)]
    return owners[max(matches, key=len)] if matches else None


def stem(name: str, known: list[str]) -> str:
    """``name`` without its format suffix (the longest that matches: ``.json.gz``)."""
    for suffix in known:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0] or name


def expand(args: tuple[str, ...], recursive: bool) -> list[tuple[str, str, str | None]]:
    """The files named by ``args`` (files, folders, quoted globs), in the order given.

    Each item is ``(path, name relative to the folder or glob it came from, None)``, a
    file appearing once, or ``(arg, "", reason)`` for an argument that names no file.
    In a folder only files with a format's suffix count (not an archive's index, not
    hidden temporary files).
    """
    import glob

    known = suffixes()
    files: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()

    def add(path: str, rel: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append((path, rel, None))

    def missing(arg: str, reason: str) -> None:
        files.append((arg, "", reason))

    for arg in args:
        if os.path.isdir(arg):
            found = []
            for folder, subdirs, names in os.walk(arg):
                # Sorted, for a stable order; emptied without -r, so the walk stops here.
                subdirs[:] = sorted(d for d in subdirs if recursive and not d.startswith("."))
                found += [os.path.join(folder, n) for n in sorted(names)
                          if not n.startswith(".") and n.lower().endswith(tuple(known))]
            for path in found:
                add(path, os.path.relpath(path, arg))
            if not found:
                where = " or below it" if recursive else " (add -r for subfolders)"
                missing(arg, f"no file with a format's suffix in this folder{where}")
        elif os.path.exists(arg):
            add(arg, os.path.basename(arg))
        elif GLOB_CHARS & set(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m))
            for path in matches:
                add(path, os.path.basename(path))
            if not matches:
                missing(arg, "no file matches")
        else:
            missing(arg, "No such file or directory")
    return files


def read_format(path: str) -> Any:
    """The format of the file at ``path``, told from its content as :func:`qserial.load` does."""
    from .._source import detect_format

    return detect_format(path)


def header_of(fmt: Any, path: str) -> dict[str, Any] | None:
    """The file's header, or None for a format that cannot read it alone."""
    from ..errors import UnsupportedFeatureError
    from ..formats import Capability

    if not fmt.supports(Capability.HEADER):
        return None
    try:
        header = fmt.read_header_path(path)
    except UnsupportedFeatureError:
        return None
    return header if isinstance(header, dict) else None


def digest_of(header: dict[str, Any] | None) -> str | None:
    """The name of the digest a file stores, which loading it checks, or None.

    Formats name it in the file's header (``"digest": "xxh3_128"``); a file without
    one (e.g. RuntimeEncoder's JSON) cannot be checked.
    """
    digest = (header or {}).get("digest")
    return str(digest) if digest else None
