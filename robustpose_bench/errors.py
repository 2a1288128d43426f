"""The one exception type for user mistakes.

The CLI prints a ``UserError`` as a single line on stderr and exits with status 2: never a
traceback for bad input. Library code raises it (or ValueError) with a message that names
the file or field and what was expected.
"""


class UserError(Exception):
    """Bad input from the user: a missing file, a malformed field, a bad argument."""


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about a bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ReportedElsewhere(UserError):
    """A UserError that another process prints (torchrun's rank 0, which fails alike): exit 2, silently."""
