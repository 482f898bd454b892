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
    "file_error",
    "FileProgress",
    "interactive",
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
    """``exc`` as the text of a one-line error.

    A location is kept for a problem inside the data (``(at $.pub_results[2]...)``)
    and left out for one with the whole file (``$``), where it says nothing.
    """
    from ..errors import QSerialError

    if isinstance(exc, QSerialError):
        return exc.message if exc.path == "$" else str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


def fail_line(path: str, exc: BaseException) -> str:
    """``path: reason`` on one line: every error names the file it concerns."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None \
            and os.fspath(exc.filename) == os.fspath(path):
        reason = exc.strerror  # the path is said once, in front
    else:
        reason = describe(exc)
    return f"{path}: {' '.join(reason.split())}"


def file_error(path: str, exc: BaseException) -> CommandError:
    """The :class:`CommandError` for ``exc`` while reading or writing ``path``."""
    return CommandError(fail_line(path, exc))


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


def line_console(stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr) for lines that must stay one line each."""
    from rich.console import Console

    # soft_wrap: one line stays one line in a pipe, where rich would wrap at 80 columns.
    return Console(highlight=False, soft_wrap=True, stderr=stderr)


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


def interactive() -> bool:
    """Whether a progress bar may be drawn by default: stdout and stderr on a terminal.

    The bar goes to stderr and the lines of done files to stdout, so both must be the
    terminal; ``qserial convert ... > log`` gets no bar.
    """
    return sys.stderr.isatty() and sys.stdout.isatty()


class FileProgress:
    """A progress bar over files, and the lines printed while it runs.

    On a terminal rich redraws the bar in place; a line written past it lands in the
    middle of the bar (``converting ━━━ 0/31 0:00:00run.json -> ...``). While the bar
    shows, :meth:`say` prints through the bar's console, which puts the line above
    the bar. Without a bar lines go to stdout (``err``: stderr) as usual.

    Parameters
    ----------
    description
        Text in front of the bar (``converting``).
    total
        How many files.
    show
        Whether to draw the bar (see :func:`interactive`).
    """

    def __init__(self, description: str, total: int, show: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.shown = bool(show)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        self._bar = Progress(*columns, console=Console(stderr=True, highlight=False),
                             disable=not self.shown)
        self._task = self._bar.add_task(description, total=total)
        self._consoles: dict[bool, Any] = {}

    def __enter__(self) -> FileProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def advance(self) -> None:
        """One more file done."""
        self._bar.advance(self._task)

    def say(self, line: str, *, err: bool = False, markup: str | None = None) -> None:
        """Print ``line`` (text, not markup) on a line of its own.

        ``markup`` is an optional rich-markup prefix (``[green]OK[/]    ``), coloured
        only on a terminal.
        """
        from rich.markup import escape

        # Through the bar's console only where the bar is drawn on the same terminal:
        # with ``2>/dev/null`` and a forced bar, stdout lines must not go there.
        if self.shown and self._bar.console.is_terminal and (err or sys.stdout.isatty()):
            self._bar.console.print((markup or "") + escape(line), soft_wrap=True)
        elif markup is None:
            click.echo(line, err=err)
        else:
            if err not in self._consoles:
                self._consoles[err] = line_console(stderr=err)
            self._consoles[err].print(markup + escape(line))
