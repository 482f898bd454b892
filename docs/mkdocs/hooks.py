"""MkDocs hook: show the Sphinx roles of qserial's docstrings as plain code.

The docstrings use Sphinx roles (``:class:`~qserial.Format```), which mkdocstrings
renders literally (":class:" followed by the code). This drops the role and, as
Sphinx does for a leading ``~``, keeps only the last part of the name.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>"
)


def _plain(match: re.Match[str]) -> str:
    name = match.group(2)
    if match.group(1):
        name = name.rsplit(".", 1)[-1]
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles in a page's HTML once it is rendered."""
    return _ROLE.sub(_plain, html)
