"""The root of ocikit's own errors: a caller can catch `OcikitError` for any failure ocikit
explains in its message (as opposed to a bug)."""

from __future__ import annotations


class OcikitError(Exception):
    """A failure ocikit describes in one line: the message is what the user reads."""


def error_line(e: BaseException) -> str:
    """How a worker command reports a failure on its one stderr line: an OSError as its reason
    and the file it names, anything else as its message, newlines folded."""
    if isinstance(e, OSError):
        message = f"{e.strerror or e}" + (f": {e.filename!r}" if e.filename else "")
    else:
        message = str(e)
    return " ".join(message.splitlines())
