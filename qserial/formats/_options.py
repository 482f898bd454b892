"""Declared, typed format options: what a format accepts, checked once.

A format lists its options as :class:`Option` objects (name, type, default, allowed
values); :class:`~qserial.formats.Format` validates every value given to it against
them and reports a mistake as :class:`~qserial.FormatOptionError` listing every valid
option. The same declarations drive ``qserial convert -o KEY=VALUE`` (values parsed
from text), ``qserial bench --sweep`` (the values worth trying) and the docs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import FormatOptionError

__all__ = ["Option", "WRITE", "READ", "describe_options", "sweep_combinations"]

#: The role of an option read by ``dump`` (and recorded in the file's header).
WRITE = "write"
#: The role of an option read by ``load``.
READ = "read"

_TYPES = (bool, int, float, str)
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}
_NONE_WORDS = frozenset({"none", "null"})
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a format: its name, type, default and allowed values.

    Parameters
    ----------
    name
        The keyword users pass (``compression``).
    type
        ``bool``, ``int``, ``float`` or ``str``, or a tuple of them (``(str, int)``
        for ``"auto"`` or a level). An ``int`` is accepted where ``float`` is.
    default
        The value when none is given; must itself be valid.
    doc
        One line saying what the option does.
    choices
        The allowed values, if they are a closed set.
    min, max
        Bounds of a number, inclusive.
    nullable
        Whether ``None`` is allowed.
    role
        :data:`WRITE` for an option of ``dump`` (recorded in the file's header) or
        :data:`READ` for one of ``load``.
    sweep
        Values ``qserial bench --sweep`` tries besides the default.
    when
        ``{other option: allowed values}``: the benchmark sweep varies the option only
        where the other options have one of those values (a level only with a codec
        that takes one), and leaves it at its default elsewhere.

    Examples
    --------
    >>> from qserial.formats import Option
    >>> level = Option("level", int, 3, "zstd level", min=1, max=22)
    >>> level.validate(5, "parquet")
    5
    >>> level.parse("7", "parquet")
    7
    >>> level.describe()
    'level: int 1..22, default 3 -- zstd level'
    """

    name: str
    type: type | tuple[type, ...]
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    role: str = WRITE
    sweep: tuple[Any, ...] = ()
    when: Mapping[str, tuple[Any, ...]] | None = None

    def __post_init__(self) -> None:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if not self.name.isidentifier() or not types or not all(t in _TYPES for t in types):
            raise TypeError(f"option {self.name!r}: the type must be bool, int, float, str "
                            f"or a tuple of them, not {self.type!r}")
        if self.role not in (WRITE, READ):
            raise TypeError(f"option {self.name!r}: role must be {WRITE!r} or {READ!r}")
        object.__setattr__(self, "type", types)
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "sweep", tuple(self.sweep))
        if self.when is not None:
            object.__setattr__(self, "when", {k: tuple(v) for k, v in self.when.items()})
        try:
            for value in (self.default, *self.sweep):
                self.validate(value, "this format")
        except FormatOptionError as exc:
            raise TypeError(f"option {self.name!r} declares an invalid value: {exc}") from None

    @property
    def types(self) -> tuple[type, ...]:
        """The accepted types, as a tuple."""
        return self.type  # type: ignore[return-value]  # a tuple after __post_init__

    def type_name(self) -> str:
        """``"int"``, ``"str or int"``, ``"int or None"``."""
        names = [_TYPE_NAMES[t] for t in self.types]
        if self.nullable:
            names.append("None")
        return " or ".join(names)

    def describe(self) -> str:
        """One line: name, type, allowed values, default and what it does."""
        text = f"{self.name}: {self.type_name()}"
        if self.choices is not None:
            text += " in {" + ", ".join(map(repr, self.choices)) + "}"
        elif self.min is not None or self.max is not None:
            lo = "" if self.min is None else _number_text(self.min)
            hi = "" if self.max is None else _number_text(self.max)
            text += f" {lo}..{hi}"
        text += f", default {self.default!r}"
        return f"{text} -- {self.doc}" if self.doc else text

    def validate(self, value: Any, owner: str) -> Any:
        """Return ``value`` as the option keeps it, or raise :class:`FormatOptionError`.

        Integral numpy scalars become ``int`` and real ones ``float``, so that a
        configuration stays plain JSON data.
        """
        if value is None:
            if self.nullable:
                return None
            raise self._bad(value, owner)
        plain = self._plain(value)
        if plain is None:
            raise self._bad(value, owner)
        value = plain
        if self.choices is not None:
            if not any((type(value) is type(c) and value == c)
                       or (type(c) is float and type(value) is int and value == c)
                       for c in self.choices):
                raise self._bad(value, owner)
            return value
        if type(value) in (int, float) and (
                (self.min is not None and value < self.min)
                or (self.max is not None and value > self.max)
                or (type(value) is float and math.isnan(value))):
            raise self._bad(value, owner)
        return value

    def _plain(self, value: Any) -> Any:
        """``value`` as one of the option's types, or None if it is of none of them."""
        types = self.types
        if isinstance(value, bool) or (type(value).__module__ == "numpy"
                                       and type(value).__name__ in ("bool", "bool_")):
            return bool(value) if bool in types else None
        if isinstance(value, numbers.Integral):
            if int in types:
                return int(value)
            return float(value) if float in types else None
        if isinstance(value, numbers.Real):
            return float(value) if float in types else None
        if isinstance(value, str):
            return value if str in types else None
        return None

    def parse(self, text: str, owner: str) -> Any:
        """The value written as ``text`` (a command line's ``KEY=VALUE``), validated.

        ``none``/``null`` is None for a nullable option; ``true``/``false`` (also
        ``yes``/``no``, ``on``/``off``, ``1``/``0``) a bool; then an int, a float, and
        last the text itself, as far as the option takes these types.
        """
        word = text.strip()
        if self.nullable and word.lower() in _NONE_WORDS:
            return None
        for t in sorted(self.types, key=_TYPES.index):
            value: Any = None
            if t is bool and word.lower() in _TRUE_WORDS | _FALSE_WORDS:
                value = word.lower() in _TRUE_WORDS
            elif t in (int, float):
                try:
                    value = t(word)
                except ValueError:
                    continue
            elif t is str:
                value = text
            if value is not None:
                return self.validate(value, owner)
        raise self._bad(text, owner)

    def _bad(self, value: Any, owner: str) -> FormatOptionError:
        return FormatOptionError(
            f"invalid value {value!r} for option {self.name!r} of {owner}: expected "
            f"{self.describe().partition(': ')[2].partition(', default ')[0]}")


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1 << 53 else repr(x)


def describe_options(options: Iterable[Option], role: str | None = None) -> str:
    """Lines describing ``options`` (those of ``role`` only, if given), one per option."""
    return "\n".join("  " + o.describe() for o in options if role in (None, o.role))


def sweep_combinations(options: Iterable[Option]) -> list[dict[str, Any]]:
    """The combinations of the options' ``sweep`` values worth benchmarking.

    Every combination of each swept option's default and sweep values, leaving out
    those that set an option whose ``when`` does not hold (a level without a codec)
    and the all-default one. Each combination lists only the options it changes.
    """
    table = {o.name: o for o in options if o.role == WRITE}
    swept = [o for o in table.values() if o.sweep]
    combos: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for values in itertools.product(*([o.default, *o.sweep] for o in swept)):
        config = {o.name: o.default for o in table.values()}
        config.update({o.name: v for o, v in zip(swept, values, strict=True)})
        changed = {k: v for k, v in config.items() if v != table[k].default}
        if not changed or any(not _applies(table[k], config) for k in changed):
            continue
        key = tuple(sorted((k, repr(v)) for k, v in changed.items()))
        if key not in seen:
            seen.add(key)
            combos.append(changed)
    return combos


def _applies(option: Option, config: Mapping[str, Any]) -> bool:
    return option.when is None or all(config.get(k) in allowed
                                       for k, allowed in option.when.items())
