"""qserial: keep Qiskit primitive results on disk, exactly.

>>> import qserial
>>> qserial.loads(qserial.dumps({"counts": {"00": 510, "11": 514}}))
{'counts': {'00': 510, '11': 514}}
"""

from __future__ import annotations

from ._provenance import provenance
from ._source import detect_format, read_header
from ._version import __version__
from .api import dump, dump_tree, dumps, load, load_tree, loads
from .codec import from_tree, to_tree
from .errors import (
    DecodeError,
    FileChangedError,
    ForbiddenTypeError,
    FormatNotInstalledError,
    FormatOptionError,
    IntegrityError,
    LimitExceededError,
    PubIndexError,
    QSerialError,
    TruncatedError,
    UnknownFormatError,
    UnknownTagError,
    UnsupportedFeatureError,
    UnsupportedTypeError,
    UnsupportedVersionError,
    WriteError,
    path_segment,
)
from .formats import Capability, Format, Option, get_format, list_formats
from .lazy import LazyResult, open
from .limits import Limits
from .registry import REGISTRY, TypeEntry, register_type
from .tree import Node, UnknownObject


def __getattr__(name: str) -> object:
    # The archive (SQLite, rich, pathlib) loads only when it is used.
    if name in ("Archive", "ArchivedJob"):
        from . import archive

        return getattr(archive, name)
    # qserial.testing is reachable after a plain ``import qserial`` (as the README shows);
    # importing it on first use keeps hypothesis and pytest out until their parts are used.
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module 'qserial' has no attribute {name!r}")

__all__ = [
    "__version__",
    "dump",
    "load",
    "dumps",
    "loads",
    "open",
    "LazyResult",
    "FileChangedError",
    "list_formats",
    "detect_format",
    "dump_tree",
    "load_tree",
    "read_header",
    "provenance",
    "Archive",
    "ArchivedJob",
    "to_tree",
    "from_tree",
    "register_type",
    "REGISTRY",
    "TypeEntry",
    "Format",
    "Option",
    "Capability",
    "get_format",
    "Limits",
    "Node",
    "UnknownObject",
    "QSerialError",
    "UnknownFormatError",
    "FormatNotInstalledError",
    "FormatOptionError",
    "UnsupportedTypeError",
    "UnknownTagError",
    "ForbiddenTypeError",
    "DecodeError",
    "TruncatedError",
    "IntegrityError",
    "UnsupportedVersionError",
    "LimitExceededError",
    "WriteError",
    "PubIndexError",
    "path_segment",
    "UnsupportedFeatureError",
]
