"""Where an archive's files live: a local folder, or any fsspec URL (``s3://bucket/prefix``).

Files are always written whole and then made visible in one step, so a reader or a
crash never meets half a file: locally a temporary file in the same folder, fsync'd and
renamed (:func:`qserial.dump`'s way); on an object store one PUT, which the store makes
visible atomically; on other fsspec file systems an upload under a temporary name
followed by a move.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import IO, Any

from .._atomic import atomic_write, remove_stale_temps

__all__ = ["LocalStorage", "RemoteStorage", "open_storage", "is_url", "cache_dir"]

# Object stores: a PUT is visible whole or not at all, so no temporary name is needed.
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az", "adl", "memory"})


def is_url(root: str) -> bool:
    """Whether ``root`` names an fsspec file system other than the local one."""
    protocol, sep, _ = root.partition("://")
    return bool(sep) and protocol not in ("file", "local")


def cache_dir() -> str:
    """qserial's cache folder: ``$QSERIAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/qserial``."""
    found = os.environ.get("QSERIAL_CACHE_DIR")
    if found:
        return found
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "qserial")


def url_cache_dir(url: str) -> str:
    """A local folder for what is kept about the remote ``url`` (its index)."""
    key = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:24]
    return os.path.join(cache_dir(), "archives", key)


class LocalStorage:
    """Files under a local folder."""

    is_local = True

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root.removeprefix("file://"))
        os.makedirs(self.root, exist_ok=True)

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.full(rel))

    def size(self, rel: str) -> int:
        return os.path.getsize(self.full(rel))

    def write(self, rel: str, write: Callable[[str], None]) -> int:
        """Run ``write(path)`` on a temporary file and put it at ``rel`` atomically."""
        path = self.full(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, write)
        return os.path.getsize(path)

    def open(self, rel: str) -> IO[bytes]:
        return open(self.full(rel), "rb")

    def local_path(self, rel: str) -> str | None:
        return self.full(rel)

    def list_files(self, prefix: str) -> list[str]:
        """Relative paths of the files under ``prefix``, temporary files left out."""
        top = self.full(prefix)
        out = []
        for folder, _dirs, files in os.walk(top):
            rel_folder = os.path.relpath(folder, self.root).replace(os.sep, "/")
            out.extend(f"{rel_folder}/{name}" for name in files if not name.startswith("."))
        return sorted(out)

    def remove_stale_temps(self, prefix: str) -> int:
        """Delete temporary files left by killed writers on this host; return how many."""
        return sum(remove_stale_temps(folder) for folder, _, _ in os.walk(self.full(prefix)))

    def url(self, rel: str) -> str:
        return self.full(rel)


class RemoteStorage:
    """Files under an fsspec URL (needs ``pip install qserial[archive]``, s3fs for S3)."""

    is_local = False

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError:
            raise ImportError(
                f"an archive at {url} needs fsspec: pip install 'qserial[archive]' "
                "(with s3fs for s3:// URLs: pip install 'qserial[s3]')") from None
        self.url_root = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url_root, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.atomic_put = bool(_ATOMIC_PUT.intersection(protocols))

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.full(rel)))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.full(rel)))

    def write(self, rel: str, write: Callable[[str], None]) -> int:
        """Run ``write(path)`` on a local temporary file, then upload it whole."""
        folder = tempfile.mkdtemp(prefix="qserial-upload-")
        try:
            local = os.path.join(folder, rel.rpartition("/")[2])
            write(local)
            size = os.path.getsize(local)
            target = self.full(rel)
            parent = target.rpartition("/")[0]
            if not self.atomic_put:
                self.fs.makedirs(parent, exist_ok=True)
                temp = f"{parent}/.{rel.rpartition('/')[2]}.{os.urandom(4).hex()}.tmp"
                self.fs.put_file(local, temp)
                self.fs.mv(temp, target)
            else:
                self.fs.put_file(local, target)
            return size
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def open(self, rel: str) -> IO[bytes]:
        return self.fs.open(self.full(rel), "rb")

    def local_path(self, rel: str) -> str | None:
        return None

    def list_files(self, prefix: str) -> list[str]:
        top = self.full(prefix)
        self.fs.invalidate_cache(top)  # other machines may have written since
        try:
            found = self.fs.find(top)
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        out = []
        for path in found:
            path = path.rstrip("/")
            rel = path[start:] if path.startswith(self.root + "/") else path
            if not rel.rpartition("/")[2].startswith("."):
                out.append(rel)
        return sorted(out)

    def remove_stale_temps(self, prefix: str) -> int:
        return 0  # object stores have no half-written objects

    def url(self, rel: str) -> str:
        return f"{self.url_root}/{rel}"


def open_storage(root: str, storage_options: dict[str, Any] | None = None
                 ) -> LocalStorage | RemoteStorage:
    """The storage for a local folder or an fsspec URL."""
    if is_url(root):
        return RemoteStorage(root, storage_options)
    return LocalStorage(root)
