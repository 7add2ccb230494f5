"""The root of ocikit's own errors: a caller can catch `OcikitError` for any failure ocikit
explains in its message (as opposed to a bug)."""

from __future__ import annotations


class OcikitError(Exception):
    """A failure ocikit describes in one line: the message is what the user reads."""
