"""What every command shares: exit statuses, the one-line error, consoles, option checks.

Imports nothing from the other command modules, so any of them may import it; heavy
libraries (rich, the formats) are imported inside the functions that use them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "check_formats",
    "debug_enabled",
    "describe",
    "fail_line",
    "line_console",
    "ms_text",
    "plural",
    "size_text",
    "table_console",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # click's own status for usage errors


class CommandError(click.ClickException):
    """A failure reported as one line on stderr with exit status 1."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        # One line whatever the message holds, so logs and cron mails stay readable.
        super().__init__(" ".join(message.split()))


def describe(exc: BaseException) -> str:
    """``exc`` as the text of a one-line error."""
    from ..errors import QSerialError

    if isinstance(exc, QSerialError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


def fail_line(what: str, exc: BaseException) -> str:
    """``what: reason`` on one line, for a file that failed among many."""
    return f"{what}: {' '.join(describe(exc).split())}"


def debug_enabled() -> bool:
    """Whether ``--debug`` (or ``QSERIAL_DEBUG``) asks for tracebacks."""
    return bool(click.get_current_context().find_root().params.get("debug"))


def check_formats(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                  ) -> list[str] | None:
    """Click callback: the format names given, lower-cased, each one installed."""
    if not value:
        return None
    from ..formats import list_formats

    installed = list_formats()
    for name in value:
        if name.lower() not in installed:
            raise click.BadParameter(
                f"{name!r} is not installed; installed formats: {', '.join(installed)}"
            )
    return [name.lower() for name in value]


def table_console(pipe_width: int | None = None) -> Any:
    """A rich console on stdout for tables."""
    from rich.console import Console

    # Rich colours only a terminal and honours NO_COLOR; highlight=False keeps
    # numbers and paths in plain output from being restyled. In a pipe rich assumes
    # 80 columns: ``pipe_width`` gives wide tables room there (COLUMNS still wins).
    width = None
    if pipe_width and not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        width = pipe_width
    return Console(highlight=False, width=width)


def line_console() -> Any:
    """A rich console on stdout for lines that must stay one line each."""
    from rich.console import Console

    # soft_wrap: one line stays one line in a pipe, where rich would wrap at 80 columns.
    return Console(highlight=False, soft_wrap=True)


def size_text(n: int | None) -> str:
    """``n`` bytes as ``812 B``, ``1.2 kB`` or ``3.4 MB``; ``-`` for None."""
    if n is None:
        return "-"
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def ms_text(seconds: float | None) -> str:
    """``seconds`` in milliseconds, two decimals; ``-`` for None."""
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def plural(n: int, word: str) -> str:
    """``1 shot``, ``2 shots``."""
    return f"{n} {word}{'s' * (n != 1)}"
