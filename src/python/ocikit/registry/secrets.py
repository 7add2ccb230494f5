"""The secret registry, a last line of defence: every credential and token the client handles
is registered (`register_secret`), and every error text and log line is scrubbed of them
(`scrub`) before anyone sees it."""

from __future__ import annotations

import threading
from typing import Optional

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: Optional[str]) -> None:
    """Remember a credential or token so that `scrub` removes it from any text."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text
