"""The type registry: which class is stored under which tag, and how.

Lookup follows a class's MRO, so a subclass is found through its nearest registered
base (``SamplerPubResult`` before ``PubResult``) without a hand-ordered chain of
``isinstance`` checks.

Registration is lazy. The Qiskit and qiskit-ibm-runtime entries live in modules that
are imported only when an object from those packages is met while encoding, or one of
their tags while decoding; third-party type packs are found through the
``qserial.types`` entry-point group when nothing built in matches. Decoding resolves a
tag only through this closed table: nothing named by a file is ever imported.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["TypeEntry", "TypeRegistry", "REGISTRY", "register_type"]

ENTRY_POINT_GROUP = "qserial.types"

# Built-in providers, imported on demand. Keys of the first table are top-level
# package names of classes met while encoding; keys of the second are tags met while
# decoding. Neither imports anything named by a file: a tag selects one of these
# fixed modules or nothing.
_PROVIDERS_BY_ROOT: dict[str, tuple[str, ...]] = {
    "qiskit": ("qserial.types.qiskit",),
    "qiskit_ibm_runtime": ("qserial.types.qiskit", "qserial.types.runtime"),
}
_QISKIT_TAGS = (
    "PrimitiveResult", "PubResult", "SamplerPubResult", "DataBin", "BitArray",
    "QuantumCircuit", "PauliList",
)
_RUNTIME_TAGS = (
    "EstimatorPubResult", "ExecutionSpans", "ExecutionSpanCollection", "ExecutionSpan",
    "DoubleSliceSpan", "TwirledSliceSpan", "TwirledSliceSpanV2", "NoiseLearnerResult",
    "LayerError", "PauliLindbladError",
)
_PROVIDERS_BY_TAG: dict[str, str] = {
    **dict.fromkeys(_QISKIT_TAGS, "qserial.types.qiskit"),
    **dict.fromkeys(_RUNTIME_TAGS, "qserial.types.runtime"),
}


@dataclass(frozen=True)
class TypeEntry:
    """How one class is stored.

    Attributes
    ----------
    cls
        The class (subclasses are found through it, unless they have their own entry).
    tag
        The stable name written to files.
    encode
        ``encode(obj) -> fields``: plain values, containers and other encodable
        objects; they are encoded in turn.
    decode
        ``decode(fields) -> obj``: receives the fields already decoded.
    aliases
        Older tags that are read as this type but never written.
    """

    cls: type
    tag: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    aliases: tuple[str, ...] = ()


class TypeRegistry:
    """A closed table of classes, tags and their field functions."""

    def __init__(self) -> None:
        self._by_class: dict[type, TypeEntry] = {}
        self._by_tag: dict[str, TypeEntry] = {}
        self._type_cache: dict[type, TypeEntry | None] = {}
        self._loaded_providers: set[str] = set()
        self._entry_points_loaded = False
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------

    def register(
        self,
        cls: type,
        tag: str,
        *,
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
        aliases: Iterable[str] = (),
        replace: bool = False,
    ) -> TypeEntry:
        """Register ``cls`` under ``tag``; see :func:`register_type`."""
        if not isinstance(cls, type):
            raise TypeError(f"cls must be a class, not {type(cls).__name__}")
        if not isinstance(tag, str) or not tag:
            raise TypeError("tag must be a non-empty string")
        entry = TypeEntry(cls, tag, encode, decode, tuple(aliases))
        with self._lock:
            for name in (tag, *entry.aliases):
                old = self._by_tag.get(name)
                if old is not None and old.cls is not cls and not replace:
                    raise ValueError(
                        f"tag {name!r} is already registered for {_qualname(old.cls)}; "
                        "pass replace=True to override it"
                    )
            old = self._by_class.get(cls)
            if old is not None and old.tag != tag and not replace:
                raise ValueError(
                    f"{_qualname(cls)} is already registered as {old.tag!r}; "
                    "pass replace=True to override it"
                )
            self._by_class[cls] = entry
            for name in (tag, *entry.aliases):
                self._by_tag[name] = entry
            self._type_cache.clear()
        return entry

    # -- lookup -------------------------------------------------------------------

    def for_type(self, cls: type) -> TypeEntry | None:
        """Return the entry used to encode instances of ``cls``, or ``None``."""
        try:
            return self._type_cache[cls]
        except KeyError:
            pass
        entry = self._mro_lookup(cls)
        # A base-class match is not final until every provider that could register
        # the class itself has run: EstimatorPubResult must not be found as PubResult
        # just because the qiskit entries were loaded before the runtime ones.
        if entry is None or entry.cls is not cls:
            roots = {c.__module__.partition(".")[0] for c in cls.__mro__}
            if self._load_providers(p for r in roots for p in _PROVIDERS_BY_ROOT.get(r, ())):
                entry = self._mro_lookup(cls)
        if (entry is None or entry.cls is not cls) and self._load_entry_points():
            entry = self._mro_lookup(cls)
        self._type_cache[cls] = entry
        return entry

    def for_tag(self, tag: str) -> TypeEntry | None:
        """Return the entry that decodes ``tag``, or ``None``."""
        entry = self._by_tag.get(tag)
        if entry is not None:
            return entry
        provider = _PROVIDERS_BY_TAG.get(tag)
        if provider is not None and self._load_providers((provider,)):
            entry = self._by_tag.get(tag)
        if entry is None and self._load_entry_points():
            entry = self._by_tag.get(tag)
        return entry

    def _mro_lookup(self, cls: type) -> TypeEntry | None:
        by_class = self._by_class
        for base in cls.__mro__:
            entry = by_class.get(base)
            if entry is not None:
                return entry
        return None

    # -- lazy loading -------------------------------------------------------------

    def _load_providers(self, modules: Iterable[str]) -> bool:
        loaded = False
        with self._lock:
            for module in modules:
                if module in self._loaded_providers:
                    continue
                self._loaded_providers.add(module)
                importlib.import_module(module)
                loaded = True
        return loaded

    def load_all(self) -> None:
        """Import every built-in provider and type pack (for listings and tests)."""
        self._load_providers(sorted(set(_PROVIDERS_BY_TAG.values())))
        self._load_entry_points()

    def _load_entry_points(self) -> bool:
        with self._lock:
            if self._entry_points_loaded:
                return False
            self._entry_points_loaded = True
            # importlib.metadata costs ~30 ms to import: only when a type is unknown.
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    target = ep.load()
                    if callable(target):
                        target()
                except Exception as exc:  # a broken type pack must not break the others
                    warnings.warn(
                        f"qserial: type pack {ep.name!r} ({ep.value}) failed to load: {exc!r}",
                        RuntimeWarning,
                        stacklevel=3,
                    )
            self._type_cache.clear()
            return True

    # -- views --------------------------------------------------------------------

    @property
    def tags(self) -> Mapping[str, TypeEntry]:
        """Read-only view of the entries loaded so far, by tag (aliases included)."""
        return MappingProxyType(self._by_tag)

    def __iter__(self) -> Iterator[TypeEntry]:
        return iter(list(self._by_class.values()))


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


#: The process-wide registry used by :func:`qserial.dump` and :func:`qserial.load`.
REGISTRY = TypeRegistry()


def register_type(
    cls: type,
    tag: str,
    *,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
    aliases: Iterable[str] = (),
    replace: bool = False,
) -> TypeEntry:
    """Teach qserial to store instances of ``cls``.

    Parameters
    ----------
    cls
        The class. Its subclasses are stored the same way unless registered themselves.
    tag
        Stable name written to files; keep it forever once files exist.
    encode
        ``encode(obj)`` returns the object's fields: plain values, lists, dicts,
        numpy arrays or other encodable objects.
    decode
        ``decode(fields)`` rebuilds the object from its decoded fields.
    aliases
        Older tags still read as this type.
    replace
        Allow replacing an existing registration of ``cls`` or ``tag``.

    Returns
    -------
    TypeEntry
        The new entry.

    Examples
    --------
    >>> import qserial
    >>> class Point:
    ...     def __init__(self, x, y):
    ...         self.x, self.y = x, y
    >>> _ = qserial.register_type(
    ...     Point, "example.Point",
    ...     encode=lambda p: {"x": p.x, "y": p.y},
    ...     decode=lambda f: Point(f["x"], f["y"]),
    ... )
    >>> qserial.loads(qserial.dumps(Point(1, 2))).y
    2
    """
    return REGISTRY.register(
        cls, tag, encode=encode, decode=decode, aliases=aliases, replace=replace
    )
