"""The exceptions qserial raises.

Every error caused by bad input, an unknown format or type, an unsupported version or
corrupt data is a :class:`QSerialError`. Each one can carry ``path``, the location in
the document where it happened (``$.pub_results[2].data.fields.meas``), and the message names
it, so a user can find the bad part of a file without a debugger.
"""

from __future__ import annotations

__all__ = [
    "path_segment",
    "describe_exception",
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
    "FileChangedError",
    "UnsupportedVersionError",
    "LimitExceededError",
    "WriteError",
    "UnsupportedFeatureError",
    "PubIndexError",
]


def path_segment(key: object) -> str:
    """Path segment for a key: ``.name`` for identifiers, ``[...]`` otherwise.

    Examples
    --------
    >>> path_segment("meas"), path_segment(3), path_segment("two words")
    ('.meas', '[3]', "['two words']")
    """
    if type(key) is str and key.isidentifier():
        return "." + key
    try:
        return f"[{key!r}]"
    except Exception:  # a key whose __repr__ fails must not hide the error being reported
        return f"[<{type(key).__name__} key>]"


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` for an error message; never fails."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class QSerialError(Exception):
    """Base class of every error qserial raises for bad input.

    Parameters
    ----------
    message
        What went wrong.
    path
        Where in the document it went wrong, as a JSONPath-like string starting
        with ``$`` (``$.pub_results[2].data.fields.meas``), or ``None`` when the problem
        concerns the file as a whole.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._parts: list[str] = []
        self._base = path

    @property
    def path(self) -> str | None:
        """Location in the document, ``$``-rooted, or ``None``."""
        if self._base is None and not self._parts:
            return None
        base = self._base if self._base is not None else "$"
        return base + "".join(reversed(self._parts))

    def prepend_path(self, segment: str) -> None:
        """Add ``segment`` (``".name"`` or ``"[3]"``) in front of the error's path.

        Code that walks a document calls this while the exception unwinds, so the
        path grows from the leaf upwards and nothing is spent on paths while
        decoding succeeds. See :func:`path_segment`. Has no effect on an error
        created with an explicit ``path``.
        """
        if self._base is None:
            self._parts.append(segment)

    def __str__(self) -> str:
        path = self.path
        return self.message if path is None else f"{self.message} (at {path})"


class UnknownFormatError(QSerialError, ValueError):
    """The format was not given and cannot be told from the suffix or the content."""


class FormatNotInstalledError(UnknownFormatError):
    """The format is known, but the package that provides it is not installed."""


class FormatOptionError(QSerialError, ValueError):
    """A format option is unknown, has a value of the wrong type or out of range.

    The message lists the format's valid options with their types and defaults.
    """


class UnsupportedTypeError(QSerialError, TypeError):
    """An object of a type that no registered encoder handles was given to ``dump``."""


class UnknownTagError(QSerialError):
    """A document holds a type tag that no registered decoder handles."""


class ForbiddenTypeError(UnknownTagError):
    """A document asks to import or call something by name; qserial never does that."""


class DecodeError(QSerialError, ValueError):
    """The data is malformed: invalid syntax, inconsistent fields or wrong values."""


class TruncatedError(DecodeError):
    """The data ends before the document does."""


class IntegrityError(DecodeError):
    """The stored digest does not match the data: the file was altered or damaged."""


class FileChangedError(IntegrityError):
    """A file open with :func:`qserial.open` was replaced or modified while open."""


class UnsupportedVersionError(QSerialError):
    """The file was written by a newer, incompatible version of its format."""


class LimitExceededError(QSerialError):
    """Decoding would exceed a configured resource limit (size, nesting depth)."""


class PubIndexError(QSerialError, IndexError):
    """``pubs=`` names a pub index the file does not hold."""


class WriteError(QSerialError, OSError):
    """Writing failed; the target was left as it was."""


class UnsupportedFeatureError(QSerialError, NotImplementedError):
    """The format cannot do what was asked, e.g. store a manifest or read its header alone."""
