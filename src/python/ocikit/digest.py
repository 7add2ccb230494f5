"""Content digests: "sha256:<64 hex>" strings and the hashing of bytes."""

from __future__ import annotations

import hashlib
import re

from ocikit.errors import OcikitError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


class InvalidDigest(OcikitError, ValueError):
    pass


def validate_digest(value: str) -> str:
    """Return `value` if it is a well-formed sha256 digest, else raise InvalidDigest."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise InvalidDigest(f"invalid digest {value!r}: expected 'sha256:' followed by 64 lowercase hex characters")
    return value


def is_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_DIGEST_RE.match(value))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    return validate_digest(digest).split(":", 1)[1]
