"""Shared checks for the fault tests."""

from __future__ import annotations

import hashlib

from registry_fixtures import skopeo

from ocikit.registry import RetryPolicy


def served_digest(registry, ref: str) -> str:
    """The digest of the manifest skopeo reads straight from the registry (no proxy)."""
    creds = ["--creds", registry.creds] if registry.creds else []
    raw = skopeo("inspect", "--tls-verify=false", *creds, "--raw", f"docker://{registry.host}/{ref}").stdout
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


# Small backoff so that tests are quick; 4 attempts as a bound to count against.
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
