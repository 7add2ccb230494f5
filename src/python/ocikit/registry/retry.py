"""When to retry, and how long to wait: bounded exponential backoff with jitter.

Temporary failures (429, 408, 5xx, connection errors) are retried; Retry-After is honoured.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import dataclass
from typing import Optional

import requests

from ocikit.registry.errors import scrub

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for temporary failures."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return backoff / 2 + random.uniform(0, backoff / 2)


def retry_after(response: requests.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_name_resolution_failure(exc: BaseException) -> bool:
    return "NameResolutionError" in repr(exc) or "Failed to resolve" in str(exc)


def reason(exc: Optional[BaseException]) -> str:
    """A short cause for a connection failure, without the URL repeated (nor any header)."""
    if exc is None:
        return "unknown error"
    if is_name_resolution_failure(exc):
        return "the host name does not resolve"
    text = str(exc)
    for marker in ("Caused by ", "Connection aborted.", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = re.sub(r"<urllib3[^>]*>:?\s*", "", text).strip(" ()'\",")
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    return scrub(text)[:200] or type(exc).__name__
