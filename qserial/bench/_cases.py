"""What a benchmark runs on: a built-in scenario or a user's result file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["BenchSetupError", "Case", "scenario_case", "file_case", "parse_scenario",
           "default_cases", "QUICK_KWARGS"]

#: Smaller versions of the big scenarios for ``--quick``.
QUICK_KWARGS: dict[str, dict[str, Any]] = {
    "big_sampler": {"shots": 10_000},
    "sweep": {"pubs": 5},
    "ghz": {"shots": 10_000},
}


class BenchSetupError(ValueError):
    """A benchmark case that cannot be built (unknown scenario, bad parameter)."""


@dataclass(frozen=True)
class Case:
    """One object to benchmark, rebuilt identically in any process.

    Attributes
    ----------
    name
        Label in reports (``"sweep"``, ``"sweep(pubs=25)"``, ``"my_result.json"``).
    scenario
        Name of a builder in :data:`qserial.scenarios.SCENARIOS`, or None for a file.
    kwargs
        The builder's keyword arguments, as sorted ``(name, value)`` pairs.
    path
        The user's file (any format qserial reads), or None for a scenario.
    """

    name: str
    scenario: str | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()
    path: str | None = None

    def build(self) -> Any:
        """Build the scenario's result, or load the file."""
        if self.path is not None:
            from ..api import load

            return load(self.path)
        from ..scenarios import SCENARIOS

        try:
            return SCENARIOS[str(self.scenario)](**dict(self.kwargs))
        except TypeError as exc:
            raise BenchSetupError(f"scenario {self.name}: {exc}") from None

    @property
    def source(self) -> str:
        """How the object is made: ``"qserial.scenarios.sweep(pubs=25)"`` or the path."""
        if self.path is not None:
            return self.path
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"qserial.scenarios.{self.scenario}({args})"


def scenario_case(name: str, **kwargs: Any) -> Case:
    """The built-in scenario ``name`` with builder arguments ``kwargs``.

    Raises
    ------
    BenchSetupError
        For an unknown scenario name (the message lists the known ones).
    """
    from ..scenarios import SCENARIOS

    if name not in SCENARIOS:
        raise BenchSetupError(
            f"unknown scenario {name!r}; built-in scenarios: {', '.join(SCENARIOS)}")
    items = tuple(sorted(kwargs.items()))
    label = name + (f"({', '.join(f'{k}={v}' for k, v in items)})" if items else "")
    return Case(label, name, items)


def file_case(path: str | os.PathLike[str]) -> Case:
    """A user's result file; it is loaded with :func:`qserial.load`."""
    path = os.fspath(path)
    return Case(os.path.basename(path) or path, path=os.path.abspath(path))


def parse_scenario(spec: str) -> Case:
    """A case from ``"name"`` or ``"name:key=value,key=value"`` (numbers as numbers).

    Examples
    --------
    >>> parse_scenario("sweep:pubs=25,shots=1024").name
    'sweep(pubs=25, shots=1024)'
    """
    name, _, rest = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise BenchSetupError(f"scenario parameter {item!r} is not key=value (in {spec!r})")
        kwargs[key.strip()] = _number(value.strip())
    return scenario_case(name.strip(), **kwargs)


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def default_cases(quick: bool = False) -> list[Case]:
    """Every built-in scenario at its full size, or (``quick``) at a smaller one."""
    from ..scenarios import SCENARIOS

    if quick:
        return [scenario_case(name, **QUICK_KWARGS.get(name, {}))
                for name in ("small_sampler", "estimator", "sweep")]
    return [scenario_case(name) for name in SCENARIOS]
