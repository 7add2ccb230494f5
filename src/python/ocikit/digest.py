"""Content digests: "sha256:<64 hex>" strings, hashing of bytes and files."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_CHUNK = 1 << 20


class InvalidDigest(ValueError):
    pass


def validate_digest(value: str) -> str:
    """Return `value` if it is a well-formed sha256 digest, else raise InvalidDigest."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise InvalidDigest(
            f"invalid digest {value!r}: expected 'sha256:' followed by 64 lowercase hex characters"
        )
    return value


def is_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_DIGEST_RE.match(value))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    return validate_digest(digest).split(":", 1)[1]


def sha256_file(path: str) -> tuple[str, int]:
    """Digest and size of a file, read in chunks (flat memory)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        size = _feed(h, f)
    return "sha256:" + h.hexdigest(), size


def _feed(h, f: BinaryIO) -> int:
    size = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return size
        h.update(chunk)
        size += len(chunk)
