"""Reading an archived file, local or remote: its result, or only its header."""

from __future__ import annotations

from typing import Any

from ..api import load
from ..formats import Format, get_format
from ._storage import LocalStorage, RemoteStorage

__all__ = ["load_file", "read_file_header"]


def load_file(storage: LocalStorage | RemoteStorage, rel: str, fmt: str, *,
              pubs: list[int] | None, strict: bool) -> Any:
    """Load the result in the file ``rel`` of ``storage`` (see :func:`qserial.load`)."""
    local = storage.local_path(rel)
    if local is not None:
        return load(local, format=fmt, pubs=pubs, strict=strict)
    with storage.open(rel) as stream:
        return load(stream, format=fmt, pubs=pubs, strict=strict)


def read_file_header(storage: LocalStorage | RemoteStorage, rel: str,
                     fmt: str | Format) -> dict[str, Any]:
    """The header of the file ``rel`` of ``storage``, read without its data."""
    fmt = get_format(fmt)
    local = storage.local_path(rel)
    if local is not None:
        return fmt.read_header_path(local)
    with storage.open(rel) as stream:
        return fmt.read_header(stream)
