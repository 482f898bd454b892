"""A digest of a file's header alone, so that reading a header verifies it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["header_digest", "HEADER_DIGEST_KEY"]

#: The header entry holding :func:`header_digest` of the header's other entries.
HEADER_DIGEST_KEY = "header_digest"


def header_digest(header: dict[str, Any], *, exclude: tuple[str, ...] = ()) -> str:
    """Return the xxh3-128 (hex) of ``header`` as canonical JSON.

    The header is the JSON-able dict a format keeps before its data (format, version,
    writer, manifest, ...). Its digest is taken over its value, not its bytes, so any
    format can store and check it: sorted keys, no spaces, ASCII, after a round trip
    through JSON (so tuples and lists, or int and string keys, digest alike). The
    entry :data:`HEADER_DIGEST_KEY` and the keys in ``exclude`` (e.g. a value filled
    in after the header is written) are left out.

    Examples
    --------
    >>> from qserial.formats import header_digest
    >>> header_digest({"format": "x", "version": "1.0"}) == header_digest(
    ...     {"version": "1.0", "format": "x", "header_digest": "ignored"})
    True
    """
    import xxhash

    skip = {HEADER_DIGEST_KEY, *exclude}
    plain = json.loads(json.dumps({k: v for k, v in header.items() if k not in skip},
                                  allow_nan=False))
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return xxhash.xxh3_128_hexdigest(text.encode("ascii"))
