"""Shared checks for the fault tests."""

from __future__ import annotations

import hashlib

from registry_fixtures import served_manifest

from ocikit.registry import RetryPolicy


def served_digest(registry, ref: str) -> str:
    """The digest of the manifest skopeo reads straight from the registry (no proxy)."""
    return "sha256:" + hashlib.sha256(served_manifest(registry, ref)).hexdigest()


# Small backoff so that tests are quick; 4 attempts as a bound to count against.
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
