"""The type registry: which class is stored under which tag, and how.

Lookup follows a class's MRO, so a subclass is found through its nearest registered
base (``SamplerPubResult`` before ``PubResult``) without a hand-ordered chain of
``isinstance`` checks.

Registration is lazy. :data:`BUILTIN_TYPES` is the one list of the tags qserial
ships: for each tag, the provider module that registers it and the class it stores.
A provider is imported only when one of its tags is met while decoding, or an object
whose class (or a base) comes from the same top-level package as one of its classes
is met while encoding; ``qserial.types.builtin`` (Python and numpy values) is loaded
when a registry is created. Third-party type packs are found through the
``qserial.types`` entry-point group when nothing built in matches. Decoding resolves
a tag only through this closed table: nothing named by a file is ever imported.

A provider whose import fails (a missing or broken optional dependency) is tried
again the next time it is needed; until then its tags are unknown, and the error
says why.

Declaring a new built-in type
-----------------------------
1. Register it in the provider module's ``register(registry)`` function (a module
   of :mod:`qserial.types`, new or existing) with ``registry.register(cls, tag, ...)``.
2. Add one line to :data:`BUILTIN_TYPES`: ``tag: Builtin(provider, "package.Class")``,
   and one for each alias. The class path is where users import the class from; its
   top-level package decides which providers an object of that package loads.
3. Add a strategy (``qserial.testing.strategies``) and a golden value
   (``tests/golden_gen.py``), then run ``python tests/golden_gen.py``.

Loading a provider that registers a tag not declared for it in :data:`BUILTIN_TYPES`
raises, and ``tests/test_registry.py`` checks every declared tag in a fresh
interpreter, so the table and the providers cannot drift apart.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = ["TypeEntry", "TypeRegistry", "REGISTRY", "register_type", "Builtin",
           "BUILTIN_TYPES"]

ENTRY_POINT_GROUP = "qserial.types"


class Builtin(NamedTuple):
    """Where a built-in tag comes from.

    Attributes
    ----------
    provider
        The module whose ``register(registry)`` function registers the tag.
    cls
        Dotted path of the class stored under the tag, as users import it.
    """

    provider: str
    cls: str


_BUILTIN = "qserial.types.builtin"
_QISKIT = "qserial.types.qiskit"
_RUNTIME = "qserial.types.runtime"
_INPUTS = "qserial.types.qiskit_inputs"
_PROGRAM = "qserial.types.quantum_program"
_AER = "qserial.types.aer"
_QI = "qiskit.quantum_info."
_CONTAINERS = "qiskit.primitives.containers."
_RESULTS = "qiskit_ibm_runtime.results."

#: Every tag (aliases included) of the types shipped with qserial. Nothing else
#: lists them: the lookups by tag and by class below derive from this table.
BUILTIN_TYPES: Mapping[str, Builtin] = MappingProxyType({
    # Python and numpy values (registered when a registry is created)
    "tuple": Builtin(_BUILTIN, "builtins.tuple"),
    "set": Builtin(_BUILTIN, "builtins.set"),
    "frozenset": Builtin(_BUILTIN, "builtins.frozenset"),
    "complex": Builtin(_BUILTIN, "builtins.complex"),
    "datetime": Builtin(_BUILTIN, "datetime.datetime"),
    "date": Builtin(_BUILTIN, "datetime.date"),
    "dict": Builtin(_BUILTIN, "builtins.dict"),
    "npscalar": Builtin(_BUILTIN, "numpy.generic"),
    "objarray": Builtin(_BUILTIN, "numpy.ndarray"),  # object dtype only: others are leaves
    # Qiskit
    "PrimitiveResult": Builtin(_QISKIT, "qiskit.primitives.containers.PrimitiveResult"),
    "PubResult": Builtin(_QISKIT, "qiskit.primitives.containers.PubResult"),
    "SamplerPubResult": Builtin(_QISKIT, "qiskit.primitives.containers.SamplerPubResult"),
    "DataBin": Builtin(_QISKIT, "qiskit.primitives.containers.DataBin"),
    "BitArray": Builtin(_QISKIT, "qiskit.primitives.containers.BitArray"),
    "QuantumCircuit": Builtin(_QISKIT, "qiskit.circuit.QuantumCircuit"),
    "PauliList": Builtin(_QISKIT, "qiskit.quantum_info.PauliList"),
    # qiskit-ibm-runtime
    "EstimatorPubResult": Builtin(_RUNTIME, "qiskit_ibm_runtime.results.EstimatorPubResult"),
    "ExecutionSpans": Builtin(_RUNTIME, "qiskit_ibm_runtime.execution_span.ExecutionSpans"),
    "ExecutionSpanCollection": Builtin(  # alias: ExecutionSpans' older tag
        _RUNTIME, "qiskit_ibm_runtime.execution_span.ExecutionSpans"),
    # RuntimeEncoder writes a SliceSpan under the tag of its base class.
    "ExecutionSpan": Builtin(_RUNTIME, "qiskit_ibm_runtime.execution_span.SliceSpan"),
    "DoubleSliceSpan": Builtin(_RUNTIME, "qiskit_ibm_runtime.execution_span.DoubleSliceSpan"),
    "TwirledSliceSpan": Builtin(_RUNTIME, "qiskit_ibm_runtime.execution_span.TwirledSliceSpan"),
    "TwirledSliceSpanV2": Builtin(
        _RUNTIME, "qiskit_ibm_runtime.execution_span.TwirledSliceSpanV2"),
    "NoiseLearnerResult": Builtin(_RUNTIME, "qiskit_ibm_runtime.results.NoiseLearnerResult"),
    "LayerError": Builtin(_RUNTIME, "qiskit_ibm_runtime.results.LayerError"),
    "PauliLindbladError": Builtin(_RUNTIME, "qiskit_ibm_runtime.results.PauliLindbladError"),
    # What RuntimeEncoder writes besides results, under its tags ...
    "Parameter": Builtin(_INPUTS, "qiskit.circuit.Parameter"),
    "Instruction": Builtin(_INPUTS, "qiskit.circuit.Instruction"),
    "Pauli": Builtin(_INPUTS, _QI + "Pauli"),
    **{name: Builtin(_INPUTS, _QI + name) for name in (
        "Operator", "Chi", "Choi", "Kraus", "PTM", "Stinespring", "SuperOp")},
    "SparsePauliOp": Builtin(_INPUTS, _QI + "SparsePauliOp"),
    "PauliLindbladMap": Builtin(_INPUTS, _QI + "PauliLindbladMap"),
    "ObservablesArray": Builtin(_INPUTS, _CONTAINERS + "ObservablesArray"),
    "BindingsArray": Builtin(_INPUTS, _CONTAINERS + "BindingsArray"),
    "Result": Builtin(_INPUTS, "qiskit.result.Result"),
    "NoiseModel": Builtin(_AER, "qiskit_aer.noise.NoiseModel"),
    # ... and, under qserial's own tags, what it has no tag for (or writes lossily).
    "qserial.qiskit.EstimatorPub": Builtin(_INPUTS, _CONTAINERS + "EstimatorPub"),
    "qserial.qiskit.SamplerPub": Builtin(_INPUTS, _CONTAINERS + "SamplerPub"),
    "qserial.qiskit.ParameterVectorElement": Builtin(
        _INPUTS, "qiskit.circuit.ParameterVectorElement"),
    "qserial.qiskit.QubitSparsePauliList": Builtin(_INPUTS, _QI + "QubitSparsePauliList"),
    "qserial.qiskit.CouplingMap": Builtin(_INPUTS, "qiskit.transpiler.CouplingMap"),
    "qserial.qiskit.ParameterView": Builtin(_INPUTS, "qiskit.circuit.parametertable.ParameterView"),
    # The executor's results (ChunkPart, ChunkSpan, ChunkTiming are samplomatic's,
    # re-exported by qiskit-ibm-runtime).
    "qserial.runtime.ChunkPart": Builtin(_PROGRAM, _RESULTS + "ChunkPart"),
    "qserial.runtime.ChunkSpan": Builtin(_PROGRAM, _RESULTS + "ChunkSpan"),
    "qserial.runtime.ChunkTiming": Builtin(_PROGRAM, _RESULTS + "ChunkTiming"),
    "qserial.runtime.SchedulerTiming": Builtin(_PROGRAM, _RESULTS + "SchedulerTiming"),
    "qserial.runtime.StretchValues": Builtin(_PROGRAM, _RESULTS + "StretchValues"),
    "qserial.runtime.ItemMetadata": Builtin(_PROGRAM, _RESULTS + "ItemMetadata"),
    "qserial.runtime.Metadata": Builtin(_PROGRAM, _RESULTS + "Metadata"),
    "qserial.runtime.QuantumProgramItemResult": Builtin(
        _PROGRAM, _RESULTS + "QuantumProgramItemResult"),
    "qserial.runtime.QuantumProgramResult": Builtin(_PROGRAM, _RESULTS + "QuantumProgramResult"),
    "qserial.runtime.CalibratorResult": Builtin(_PROGRAM, _RESULTS + "CalibratorResult"),
    "qserial.runtime.NoiseLearnerV3Result": Builtin(_PROGRAM, _RESULTS + "NoiseLearnerV3Result"),
    "qserial.runtime.NoiseLearnerV3Results": Builtin(
        _PROGRAM, _RESULTS + "NoiseLearnerV3Results"),
    "qserial.samplomatic.QuantumProgramItemResult": Builtin(
        _PROGRAM, "samplomatic.quantum_program.QuantumProgramItemResult"),
    "qserial.samplomatic.QuantumProgramResult": Builtin(
        _PROGRAM, "samplomatic.quantum_program.QuantumProgramResult"),
})



def _providers_by_root() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for builtin in BUILTIN_TYPES.values():
        root = builtin.cls.partition(".")[0]
        if builtin.provider not in out.get(root, ()):
            out[root] = (*out.get(root, ()), builtin.provider)
    return out


# Derived from BUILTIN_TYPES: the providers an object's top-level package may need.
_PROVIDERS_BY_ROOT = _providers_by_root()
# Loaded when a registry is created, so that users' registrations come after them.
_EAGER_PROVIDERS = (_BUILTIN,)


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
    plain_json
        ``plain_json(obj) -> list | tuple`` for a type that ``RuntimeEncoder`` writes as a
        plain list rather than a tagged value (pubs, coupling maps): the JSON format
        writes that list, a documented loss. None for every other type.
    """

    cls: type
    tag: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    aliases: tuple[str, ...] = ()
    plain_json: Callable[[Any], Any] | None = None


class TypeRegistry:
    """A closed table of classes, tags and their field functions.

    A new registry knows the Python and numpy values at once and loads the other
    built-in types (:data:`BUILTIN_TYPES`) when they are first needed.
    """

    def __init__(self) -> None:
        self._by_class: dict[type, TypeEntry] = {}
        self._by_tag: dict[str, TypeEntry] = {}
        self._type_cache: dict[type, TypeEntry | None] = {}
        self._loaded_providers: set[str] = set()
        self._provider_errors: dict[str, str] = {}
        self._entry_points_loaded = False
        self._lock = threading.RLock()
        for module in _EAGER_PROVIDERS:
            self._load_provider(module, eager=True)

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
        plain_json: Callable[[Any], Any] | None = None,
    ) -> TypeEntry:
        """Register ``cls`` under ``tag``; see :func:`register_type` and :class:`TypeEntry`."""
        if not isinstance(cls, type):
            raise TypeError(f"cls must be a class, not {type(cls).__name__}")
        if not isinstance(tag, str) or not tag:
            raise TypeError("tag must be a non-empty string")
        entry = TypeEntry(cls, tag, encode, decode, tuple(aliases), plain_json)
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
        failed = False
        # A base-class match is not final until every provider that could register
        # the class itself has run: EstimatorPubResult must not be found as PubResult
        # just because the qiskit entries were loaded before the runtime ones.
        if entry is None or entry.cls is not cls:
            providers = [p for c in cls.__mro__ for p in _PROVIDERS_BY_ROOT.get(_root(c), ())]
            loaded, failed = self._load_providers(providers)
            if loaded:
                entry = self._mro_lookup(cls)
        if (entry is None or entry.cls is not cls) and self._load_entry_points():
            entry = self._mro_lookup(cls)
        if not failed:  # else the provider is tried again next time
            self._type_cache[cls] = entry
        return entry

    def for_tag(self, tag: str) -> TypeEntry | None:
        """Return the entry that decodes ``tag``, or ``None``."""
        entry = self._by_tag.get(tag)
        if entry is not None:
            return entry
        builtin = BUILTIN_TYPES.get(tag)
        if builtin is not None and self._load_providers((builtin.provider,))[0]:
            entry = self._by_tag.get(tag)
        if entry is None and self._load_entry_points():
            entry = self._by_tag.get(tag)
        return entry

    def why_missing(self, *, tag: str | None = None, cls: type | None = None) -> str | None:
        """Why ``tag`` or ``cls`` has no entry, when a built-in provider failed to load.

        Returns
        -------
        str or None
            The provider and its import error, or ``None`` if no provider of the tag
            (or of the class's packages) failed.
        """
        if tag is not None:
            builtin = BUILTIN_TYPES.get(tag)
            providers = [builtin.provider] if builtin is not None else []
        else:
            providers = [p for c in getattr(cls, "__mro__", ())
                         for p in _PROVIDERS_BY_ROOT.get(_root(c), ())]
        for provider in providers:
            error = self._provider_errors.get(provider)
            if error is not None:
                return f"{provider} failed to load: {error}"
        return None

    def _mro_lookup(self, cls: type) -> TypeEntry | None:
        by_class = self._by_class
        for base in cls.__mro__:
            entry = by_class.get(base)
            if entry is not None:
                return entry
        return None

    # -- lazy loading -------------------------------------------------------------

    def _load_providers(self, modules: Iterable[str]) -> tuple[bool, bool]:
        """Load the providers not loaded yet: (whether any loaded, whether any failed)."""
        loaded = failed = False
        with self._lock:
            for module in dict.fromkeys(modules):
                if module in self._loaded_providers:
                    continue
                if self._load_provider(module):
                    loaded = True
                else:
                    failed = True
        return loaded, failed

    def _load_provider(self, module: str, *, eager: bool = False) -> bool:
        try:
            register = importlib.import_module(module).register
            before = dict(self._by_tag)
            register(self)
        except Exception as exc:
            if eager:
                raise
            # Not remembered as loaded: a dependency installed later is found then.
            self._provider_errors[module] = f"{type(exc).__name__}: {exc}"
            return False
        self._loaded_providers.add(module)
        self._provider_errors.pop(module, None)
        undeclared = sorted(
            tag for tag in self._by_tag.keys() - before.keys()
            if BUILTIN_TYPES.get(tag, Builtin("", "")).provider != module
        )
        if undeclared:  # a mistake in qserial itself, caught by any test that loads it
            raise RuntimeError(
                f"{module} registers tag(s) {undeclared} not declared for it in "
                "qserial.registry.BUILTIN_TYPES")
        return True

    def load_all(self) -> None:
        """Import every built-in provider and type pack (for listings and tests)."""
        self._load_providers(sorted({b.provider for b in BUILTIN_TYPES.values()}))
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


def _root(cls: type) -> str:
    """The top-level package of ``cls``; ``""`` when it has no module name.

    Qiskit's singleton gate classes have ``__module__ = None``, and a metaclass may
    make reading it fail: neither may stop a lookup.
    """
    try:
        module = cls.__module__
    except Exception:
        return ""
    return module.partition(".")[0] if type(module) is str else ""


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
