"""How much memory a file may make qserial allocate: one object for every format.

A small file must not become a huge allocation (a zlib bomb, a shape declared larger
than the bytes behind it). Every format reads its limits from :class:`Limits`; a load
takes them as options (``qserial.load(path, max_expansion=None)``) or as a whole
(``qserial.load(path, limits=qserial.Limits(max_bytes=64 << 30))``).
This module imports nothing heavy: formats import it to sniff files.
"""

from __future__ import annotations

import dataclasses
import threading

from .errors import LimitExceededError

__all__ = ["Limits", "ExpansionBudget", "DEFAULT_LIMITS"]


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of a load.

    Parameters
    ----------
    max_array_bytes
        Largest size of one array once decompressed (JSON; 4 GiB).
    max_expansion
        All compressed data of a document together may expand to at most this many
        times the document's size (and always to ``free_bytes``); ``None`` lifts the
        limit, for trusted files (default 32).
    max_bytes
        Largest size of the shot data a load decodes, in bytes (Parquet; 16 GiB).
    free_bytes
        Expansion every document is allowed whatever its size (32 MiB), so that a
        small, well compressed file is never refused.

    Examples
    --------
    >>> import qserial
    >>> qserial.Limits().expansion_bytes(1 << 30)
    34359738368
    >>> qserial.Limits(max_expansion=None).expansion_bytes(1 << 30) is None
    True
    """

    max_array_bytes: int = 4 << 30
    max_expansion: float | None = 32
    max_bytes: int = 16 << 30
    free_bytes: int = 32 << 20

    def expansion_bytes(self, doc_bytes: int) -> int | None:
        """Bytes the compressed data of a ``doc_bytes`` document may expand to, or None."""
        if self.max_expansion is None:
            return None
        return max(self.free_bytes, int(self.max_expansion * doc_bytes))

    def budget(self, doc_bytes: int) -> ExpansionBudget:
        """A fresh :class:`ExpansionBudget` for a document of ``doc_bytes``."""
        return ExpansionBudget(doc_bytes, self.max_expansion, self.free_bytes)

    def replace(self, **changes: object) -> Limits:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


#: The limits a load uses unless told otherwise.
DEFAULT_LIMITS = Limits()


class ExpansionBudget:
    """What the compressed data of one document may still expand to, in bytes.

    Parameters
    ----------
    doc_bytes
        Size of the document.
    max_expansion
        The document's compressed data may expand to ``max_expansion`` times
        ``doc_bytes`` in all (and always to ``free_bytes``); ``None`` sets no such limit.
    free_bytes
        The allowance of every document (:attr:`Limits.free_bytes`).
    """

    def __init__(self, doc_bytes: int,
                 max_expansion: float | None = DEFAULT_LIMITS.max_expansion,
                 free_bytes: int = DEFAULT_LIMITS.free_bytes) -> None:
        self.ratio = max_expansion
        self.limit = (None if max_expansion is None
                      else max(free_bytes, int(max_expansion * doc_bytes)))
        self.left = self.limit
        self.lock = threading.Lock()  # arrays of big documents are decoded in threads

    def take(self, nbytes: int, what: str) -> None:
        """Spend ``nbytes``, or raise :class:`LimitExceededError` if they are not left."""
        if self.limit is None:
            return
        with self.lock:
            if nbytes > self.left:
                raise LimitExceededError(
                    f"{what}: compressed data would expand beyond {self.limit} bytes, "
                    f"{self.ratio} times the document's size (raise or lift the limit "
                    "with max_expansion=)")
            self.left -= nbytes
