"""The format contract: a configured :class:`Format`, its capabilities and header kit.

A format is an object configured with declared, typed options (numcodecs' codecs and
zarr's codecs are the model): ``get_format("parquet", compression="zstd")`` validates
the options once and the instance writes with them; :meth:`Format.get_config` and
:meth:`Format.from_config` round-trip the configuration as plain JSON data. What a
format can do beyond dump and load is declared in :attr:`Format.capabilities`. Every
format builds its file's header with :meth:`Format.new_header` and checks a file's
with :meth:`Format.check_header`, so all agree on the writer versions recorded and on
refusing a newer major layout version.
"""

from __future__ import annotations

import enum
import functools
import re
import types
from collections.abc import Mapping
from typing import IO, Any, ClassVar

from ..errors import (
    DecodeError,
    FormatOptionError,
    UnsupportedFeatureError,
    UnsupportedVersionError,
)
from ..limits import DEFAULT_LIMITS, Limits
from ._options import READ, WRITE, Option, describe_options, sweep_combinations

__all__ = ["Format", "Capability", "COMMON_OPTIONS", "check_version", "writer_versions"]


class Capability(str, enum.Enum):
    """What a format can do besides writing and reading a whole file.

    Declared by a format in :attr:`Format.capabilities`; qserial and the conformance
    kit rely on the declaration, never on which methods a class overrides.
    """

    #: ``load(..., pubs=[...])`` reads only those pubs' data (else qserial loads all
    #: and selects).
    PARTIAL = "partial"
    #: ``dump(..., manifest=...)`` stores a JSON-able dict in the header; needs HEADER.
    MANIFEST = "manifest"
    #: :meth:`Format.read_header` reads the header without the data.
    HEADER = "header"
    #: :meth:`Format.open_lazy` opens a file to read it pub by pub, for
    #: :func:`qserial.open`.
    LAZY = "lazy"


#: Read options every format takes: the digest check and the :class:`~qserial.Limits`.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("verify", bool, True, "check the file's digests; False only to rescue a "
           "damaged file", role=READ),
    Option("max_array_bytes", int, DEFAULT_LIMITS.max_array_bytes,
           "largest array once decompressed, in bytes", min=0, role=READ),
    Option("max_expansion", (int, float), DEFAULT_LIMITS.max_expansion,
           "compressed data may expand to this many times the file's size; None lifts "
           "the limit", min=0, nullable=True, role=READ),
    Option("max_bytes", int, DEFAULT_LIMITS.max_bytes,
           "largest shot data a load decodes, in bytes", min=0, role=READ),
)
_LIMIT_KEYS = ("max_array_bytes", "max_expansion", "max_bytes")
_VERSION = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,9}))?")
_BASE_DISTRIBUTIONS = ("qserial", "qiskit", "qiskit-ibm-runtime", "numpy")


def writer_versions(fmt: Format | type[Format] | None = None) -> dict[str, str | None]:
    """Versions of the packages writing a file, for its header.

    Always qserial, qiskit, qiskit-ibm-runtime and numpy; with ``fmt``, also the
    format's :attr:`~Format.distribution` and :attr:`~Format.backends`. Read from
    package metadata, so nothing is imported; None for a package not installed.
    """
    extra: tuple[str, ...] = ()
    if fmt is not None:
        extra = ((fmt.distribution,) if fmt.distribution else ()) + tuple(fmt.backends)
    return dict(_versions(tuple(dict.fromkeys(_BASE_DISTRIBUTIONS + extra))))


@functools.cache
def _versions(dists: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    import importlib.metadata

    out = []
    for dist in dists:
        try:
            out.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            out.append((dist, None))
    return tuple(out)


def check_version(version: Any, fmt: Format | type[Format], where: str | None = "$",
                  what: str = "the header") -> tuple[int, int]:
    """Parse a file's layout version and refuse one this reader cannot read.

    Parameters
    ----------
    version
        The version the file records, ``"major.minor"``.
    fmt
        The format reading it: its :attr:`~Format.version` is the newest it reads.
    where
        The error's path.
    what
        Where the version is written, for messages (``"the __qserial__ header"``).

    Returns
    -------
    tuple of int
        ``(major, minor)``.

    Raises
    ------
    UnsupportedVersionError
        For a newer major version than ``fmt`` reads, naming both versions.
    DecodeError
        For a version that is no ``"major.minor"`` string, or major version 0.
    """
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise DecodeError(f"invalid format version {version!r:.40} in {what} of this "
                          f"{fmt.name} file", where)
    if int(match[1]) < 1:
        raise DecodeError(f"unknown {fmt.name} format version {version!r}", where)
    major, minor = int(match[1]), int(match[2] or 0)
    mine = int(fmt.version.partition(".")[0])
    if major > mine:
        dist = fmt.distribution or "qserial"
        installed = dict(_versions((dist,))).get(dist)
        raise UnsupportedVersionError(
            f"the file is in {fmt.name} format version {version}; {dist}"
            f"{' ' + installed if installed else ''} reads versions up to {mine}.x (it "
            f"writes {fmt.version}): upgrade {dist}", where)
    return major, minor


class Format:
    """Base class of a storage format: a configured object with declared options.

    A format class declares its name, suffixes, layout version, options and
    capabilities as class attributes, and implements :meth:`dump` and :meth:`load`.
    An instance holds one configuration, validated when it is made::

        fmt = qserial.get_format("parquet", compression="zstd")
        qserial.dump(result, "r.parquet", format=fmt)

    Keep the module defining a format light: import heavy libraries inside the
    methods, since every installed format class is loaded to sniff any file.

    Parameters
    ----------
    **options
        Values for the declared options (:attr:`options` and :data:`COMMON_OPTIONS`);
        the others keep their defaults.

    Raises
    ------
    FormatOptionError
        For an unknown option or an invalid value; the message lists the valid options.

    Attributes
    ----------
    name
        Format name users pass as ``format=`` (lower case).
    suffixes
        File suffixes, with the dot, that select this format on write (``(".h5",)``).
    version
        Version of the on-disk layout this format writes, ``"major.minor"``. Readers
        refuse files of a newer major version (:func:`check_version`).
    options
        The format's own :class:`Option` declarations; :data:`COMMON_OPTIONS` (the
        digest check and the limits) are added to every format.
    capabilities
        The :class:`Capability` values the format has.
    distribution
        The distribution (pip name) providing the format, recorded with its version
        in every file's header; None for qserial's own.
    backends
        Distributions of the libraries the format writes with (``("h5py",)``), also
        recorded in the header.
    header_name
        What the header's ``"format"`` entry says (default: :attr:`name`).
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1.0"
    options: ClassVar[tuple[Option, ...]] = ()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    distribution: ClassVar[str | None] = None
    backends: ClassVar[tuple[str, ...]] = ()
    header_name: ClassVar[str | None] = None

    _table: ClassVar[dict[str, Option]] = {o.name: o for o in COMMON_OPTIONS}
    _defaults: ClassVar[dict[str, Any]] = {o.name: o.default for o in COMMON_OPTIONS}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        caps = set(cls.__dict__.get("capabilities", cls.capabilities))
        # The boolean attributes of the first contract still declare a capability.
        for attr, cap in (("supports_partial", Capability.PARTIAL),
                          ("supports_manifest", Capability.MANIFEST),
                          ("supports_lazy", Capability.LAZY)):
            if attr in cls.__dict__:
                if cls.__dict__[attr]:
                    caps.add(cap)
                delattr(cls, attr)
        try:
            cls.capabilities = frozenset(Capability(c) for c in caps)
        except ValueError as exc:
            raise TypeError(f"{cls.__qualname__}.capabilities: {exc}") from None
        if Capability.MANIFEST in cls.capabilities:
            cls.capabilities |= {Capability.HEADER}  # the manifest is read from the header
        # The format's own options first: they are what users look for in a listing.
        table: dict[str, Option] = {}
        reserved = {o.name for o in COMMON_OPTIONS} | {"format", "manifest", "pubs", "limits"}
        for option in cls.options:
            if not isinstance(option, Option):
                raise TypeError(f"{cls.__qualname__}.options must hold Option objects")
            if option.name in table or option.name in reserved:
                raise TypeError(f"{cls.__qualname__} declares option {option.name!r} twice "
                                "or under a reserved name")
            table[option.name] = option
        table.update((o.name, o) for o in COMMON_OPTIONS)
        for option in table.values():
            for other in option.when or {}:
                if other not in table:
                    raise TypeError(f"option {option.name!r} depends on unknown {other!r}")
        cls._table = table
        cls._defaults = {o.name: o.default for o in table.values()}

    def __init__(self, **options: Any) -> None:
        self._config = self._resolve(self._defaults, options, None)

    # -- configuration ------------------------------------------------------------------

    @property
    def config(self) -> Mapping[str, Any]:
        """Every option's value (read-only)."""
        # A subclass whose __init__ does not call this one has the defaults.
        return types.MappingProxyType(self.__dict__.get("_config", self._defaults))

    @classmethod
    def option_table(cls) -> dict[str, Option]:
        """Every option the format takes, its own and :data:`COMMON_OPTIONS`, by name."""
        return dict(cls._table)

    @classmethod
    def describe_options(cls, role: str | None = None) -> str:
        """The options (of ``role``, ``"write"`` or ``"read"``, if given), one a line."""
        return describe_options(cls._table.values(), role)

    @classmethod
    def sweep_configs(cls) -> list[dict[str, Any]]:
        """Write options worth benchmarking, as dicts of the options that differ from
        the defaults (from the options' ``sweep`` values; see :class:`Option`)."""
        return sweep_combinations(cls._table.values())

    def get_config(self) -> dict[str, Any]:
        """The configuration as plain JSON data: ``{"format": name, option: value, ...}``.

        Examples
        --------
        >>> import qserial
        >>> config = qserial.get_format("json", indent=2).get_config()
        >>> config["format"], config["indent"]
        ('json', 2)
        >>> qserial.get_format(config) == qserial.get_format("json", indent=2)
        True
        """
        return {"format": self.name, **self.config}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Format:
        """A format of this class configured by ``config`` (see :meth:`get_config`).

        Raises
        ------
        FormatOptionError
            If ``config`` names another format, an unknown option or an invalid value.
        """
        options = dict(config)
        named = options.pop("format", cls.name)
        if named != cls.name:
            raise FormatOptionError(f"the configuration is for format {named!r}, "
                                    f"not {cls.name!r}")
        return cls(**options)

    def with_options(self, **options: Any) -> Format:
        """A copy of this format with some options changed (validated), or itself."""
        if not options:
            return self
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._config = self._resolve(self.config, options, None)
        return new

    def write_options(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The write options to use: the configuration, changed by ``overrides``.

        A format's :meth:`dump` passes its ``**options`` here and writes with what
        comes back, so that a configured format and keyword options agree.
        """
        config = self._resolve(self.config, overrides, WRITE) if overrides else self.config
        return {name: config[name] for name, o in self._table.items() if o.role == WRITE}

    def read_options(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The read options to use: the configuration, changed by ``overrides``.

        The three limits come back as one :class:`~qserial.Limits` under ``"limits"``;
        ``overrides`` may give them one by one or as ``limits=``.
        """
        overrides = dict(overrides or {})
        limits = overrides.pop("limits", None)
        if limits is not None:
            if not isinstance(limits, Limits):
                raise FormatOptionError(f"limits must be a qserial.Limits, not {limits!r}")
            overrides = {**{k: getattr(limits, k) for k in _LIMIT_KEYS}, **overrides}
        config = self._resolve(self.config, overrides, READ) if overrides else self.config
        out = {name: config[name] for name, o in self._table.items()
               if o.role == READ and name not in _LIMIT_KEYS}
        out["limits"] = Limits(**{k: config[k] for k in _LIMIT_KEYS})
        if limits is not None and limits.free_bytes != DEFAULT_LIMITS.free_bytes:
            out["limits"] = out["limits"].replace(free_bytes=limits.free_bytes)
        return out

    def options_listing(self, role: str | None = None) -> str:
        """The text that error messages end with: the options, with types and defaults.

        With ``role`` (``"write"`` or ``"read"``), those options in full and the
        others by name.
        """
        if role is None:
            return f"the options of format {self.name!r} are:\n{self.describe_options()}"
        other = READ if role == WRITE else WRITE
        names = [name for name, o in self._table.items() if o.role == other]
        text = f"the {role} options of format {self.name!r} are:\n{self.describe_options(role)}"
        return text + (f"\nand its {other} options: {', '.join(names)}" if names else "")

    def _resolve(self, base: Mapping[str, Any], options: Mapping[str, Any] | None,
                 role: str | None) -> dict[str, Any]:
        config = dict(base)
        owner = f"format {self.name!r}"
        for key, value in (options or {}).items():
            option = self._table.get(key)
            if option is None:
                raise FormatOptionError(f"format {self.name!r} has no option {key!r}; "
                                        f"{self.options_listing(role)}")
            if role is not None and option.role != role:
                raise FormatOptionError(
                    f"{key!r} is a {option.role} option of format {self.name!r}, not a "
                    f"{role} option; {self.options_listing(role)}")
            try:
                config[key] = option.validate(value, owner)
            except FormatOptionError as exc:
                raise FormatOptionError(f"{exc.message}; {self.options_listing(role)}") from None
        self.check_options(config)
        return config

    def check_options(self, config: Mapping[str, Any]) -> None:
        """Check options that depend on each other; raise :class:`FormatOptionError`.

        Called with the whole configuration each time options are set. Does nothing
        here; a format whose option values constrain each other overrides it (and
        ends its message with :meth:`options_listing`).
        """

    def parse_options(self, pairs: Mapping[str, str], role: str | None = None
                      ) -> dict[str, Any]:
        """Options given as text (``-o level=3`` on the command line), typed and checked.

        With ``role`` (``"write"`` for ``qserial convert -o``), only options of that
        role are accepted.

        Raises
        ------
        FormatOptionError
            For an unknown option, one of the other role, or a text that is no valid
            value; the message lists the options.
        """
        out = {}
        for key, text in pairs.items():
            option = self._table.get(key)
            if option is None:
                raise FormatOptionError(f"format {self.name!r} has no option {key!r}; "
                                        f"{self.options_listing(role)}")
            try:
                out[key] = option.parse(text, f"format {self.name!r}")
            except FormatOptionError as exc:
                raise FormatOptionError(f"{exc.message}; {self.options_listing(role)}") from None
        self._resolve(self.config, out, role)
        return out

    # -- capabilities -------------------------------------------------------------------

    def supports(self, capability: Capability | str) -> bool:
        """Whether the format declares ``capability``."""
        return Capability(capability) in self.capabilities

    @property
    def supports_partial(self) -> bool:
        """Whether :attr:`Capability.PARTIAL` is declared."""
        return Capability.PARTIAL in self.capabilities

    @property
    def supports_manifest(self) -> bool:
        """Whether :attr:`Capability.MANIFEST` is declared."""
        return Capability.MANIFEST in self.capabilities

    @property
    def supports_lazy(self) -> bool:
        """Whether :attr:`Capability.LAZY` is declared."""
        return Capability.LAZY in self.capabilities

    # -- the header kit -----------------------------------------------------------------

    def new_header(self, options: Mapping[str, Any] | None = None,
                   manifest: dict | None = None) -> dict[str, Any]:
        """The header of a new file: what every format records, in this order.

        ``{"format", "version", "writer", "options", "manifest"}`` (the manifest only
        when given): the header name, this layout :attr:`version`, the
        :func:`writer_versions` of this format, and the write ``options`` the file is
        written with (by default this format's). A format adds its own entries and
        its digest, and stores the header where its layout says.
        """
        header: dict[str, Any] = {
            "format": self.header_name or self.name,
            "version": self.version,
            "writer": writer_versions(self),
            "options": dict(self.write_options() if options is None else options),
        }
        if manifest is not None:
            header["manifest"] = manifest
        return header

    def check_version(self, version: Any, where: str | None = "$", what: str = "the header"
                      ) -> tuple[int, int]:
        """:func:`check_version` for this format."""
        return check_version(version, self, where, what)

    def check_header(self, header: Any, where: str | None = "$", what: str = "the header"
                     ) -> dict[str, Any]:
        """Check a file's header: a dict of this format, of a version this reader reads.

        Checks the version first: a newer major version may differ in all else.

        Raises
        ------
        UnsupportedVersionError
            For a newer major version.
        DecodeError
            For anything else that is no valid header.
        """
        if not isinstance(header, dict):
            raise DecodeError(f"invalid {what}: not a map", where)
        self.check_version(header.get("version"), where, what)
        named = header.get("format", self.header_name or self.name)
        if named not in (self.name, self.header_name):
            raise DecodeError(f"{what} names format {named!r}, not {self.name!r}", where)
        for key in ("writer", "options"):
            if key in header and not isinstance(header[key], dict):
                raise DecodeError(f"invalid {what}: its {key!r} entry is not a map", where)
        return header

    # -- reading and writing ------------------------------------------------------------

    def sniff(self, head: bytes) -> bool:
        """Return whether a file starting with ``head`` is in this format.

        ``head`` holds the first :data:`~qserial.formats.SNIFF_BYTES` bytes (fewer for
        a short file).
        """
        return False

    def dump(self, tree: Any, stream: IO[bytes], **options: Any) -> None:
        """Write ``tree`` to the binary ``stream``.

        Write with ``self.write_options(options)``: the configuration, changed by any
        keyword options. A format with :attr:`Capability.MANIFEST` also takes
        ``manifest=`` (a JSON-able dict, or None) and stores it in the header;
        qserial passes ``manifest`` only to such formats.
        """
        raise NotImplementedError

    def load(self, stream: IO[bytes], **options: Any) -> Any:
        """Read a tree from the binary ``stream``.

        Read with ``self.read_options(options)``. Must raise
        :class:`qserial.QSerialError` subclasses on bad input. With
        :attr:`Capability.PARTIAL`, ``pubs`` (a list of pub indices) may be among the
        options and the returned tree holds only those pubs.
        """
        raise NotImplementedError

    def dump_path(self, tree: Any, path: str, **options: Any) -> None:
        """Write ``tree`` to a new file at ``path``; override when paths are faster."""
        with open(path, "wb") as stream:
            self.dump(tree, stream, **options)

    def load_path(self, path: str, **options: Any) -> Any:
        """Read a tree from the file at ``path``; override when paths are faster."""
        with open(path, "rb") as stream:
            return self.load(stream, **options)

    def open_lazy(self, path: str, **options: Any) -> Any:
        """Open the file at ``path`` to read it pub by pub (:attr:`Capability.LAZY`).

        Returns a :class:`qserial.lazy.PubReader` holding the file open; opening reads
        only the file's structure. ``options`` are the load options.
        """
        raise UnsupportedFeatureError(f"format {self.name!r} cannot read pubs one at a time")

    def read_header(self, stream: IO[bytes]) -> dict[str, Any]:
        """Return the header of the file in ``stream`` without reading its data.

        Needs :attr:`Capability.HEADER`. What it returns must be verified (e.g. against
        :func:`~qserial.formats.header_digest` stored in the header): damage to the
        header raises :class:`~qserial.IntegrityError`, never gives a wrong value.

        Returns
        -------
        dict
            At least ``{"format": name, "version": layout version, "writer": {...}}``,
            ``"options"`` for files that record them and ``"manifest"`` when the file
            holds one.

        Raises
        ------
        UnsupportedFeatureError
            In this base implementation: the format cannot read its header alone.
        """
        raise UnsupportedFeatureError(f"format {self.name!r} cannot read a file's header alone")

    def read_header_path(self, path: str) -> dict[str, Any]:
        """Return the header of the file at ``path``; override when paths are faster."""
        with open(path, "rb") as stream:
            return self.read_header(stream)

    # -- identity -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Format):
            return NotImplemented
        return type(self) is type(other) and dict(self.config) == dict(other.config)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.config.items()))))

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.config.items() if v != self._defaults[k]]
        return f"<qserial format {self.name!r}{''.join(' ' + c for c in changed)}>"
