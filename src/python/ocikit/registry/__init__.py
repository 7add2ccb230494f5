"""The registry client (OCI distribution API): push a layout, pull by digest, inspect.

    from ocikit.registry import push_layout, pull_image
    summary = push_layout("dist/app.oci", ["registry.example.com/team/app:1.0"])
    result = pull_image("docker.io/library/alpine@sha256:...", ["linux/amd64"], "base.oci")

Auth, retries and transport live in transport.py; one function in errors.py turns registry
answers into typed errors; auth.py finds credentials the way docker, crane and skopeo do.

The names below are imported on first use (PEP 562), so that `python -m ocikit push` loads
only what a push needs (not pull's and inspect's modules): every process start pays for what
it imports, compiled afresh, as Pants runs it with PYTHONDONTWRITEBYTECODE.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ocikit.image": ("PlatformError",),
    "ocikit.layout": ("LayoutError",),
    "ocikit.registry.auth": (
        "ANONYMOUS",
        "Credential",
        "CredentialError",
        "DefaultKeychain",
        "Keychain",
        "StaticKeychain",
    ),
    "ocikit.registry.errors": (
        "AccessDeniedError",
        "AuthenticationError",
        "DigestMismatchError",
        "NotFoundError",
        "RateLimitedError",
        "RegistryConnectionError",
        "RegistryError",
    ),
    "ocikit.registry.inspect": ("inspect_image",),
    "ocikit.registry.progress": ("Progress", "StderrProgress"),
    "ocikit.registry.pull": ("PullResult", "PulledManifest", "TagNotPinnedError", "pull_image"),
    "ocikit.registry.push": ("PushedImage", "PushStats", "PushSummary", "push_layout"),
    "ocikit.registry.transport": ("RetryPolicy", "Transport"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ANONYMOUS",
    "AccessDeniedError",
    "AuthenticationError",
    "Credential",
    "CredentialError",
    "DefaultKeychain",
    "DigestMismatchError",
    "Keychain",
    "LayoutError",
    "NotFoundError",
    "PlatformError",
    "Progress",
    "PullResult",
    "PulledManifest",
    "PushStats",
    "PushSummary",
    "PushedImage",
    "RateLimitedError",
    "RegistryConnectionError",
    "RegistryError",
    "RetryPolicy",
    "StaticKeychain",
    "StderrProgress",
    "TagNotPinnedError",
    "Transport",
    "inspect_image",
    "pull_image",
    "push_layout",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from ocikit.image import PlatformError
    from ocikit.layout import LayoutError
    from ocikit.registry.auth import (
        ANONYMOUS,
        Credential,
        CredentialError,
        DefaultKeychain,
        Keychain,
        StaticKeychain,
    )
    from ocikit.registry.errors import (
        AccessDeniedError,
        AuthenticationError,
        DigestMismatchError,
        NotFoundError,
        RateLimitedError,
        RegistryConnectionError,
        RegistryError,
    )
    from ocikit.registry.inspect import inspect_image
    from ocikit.registry.progress import Progress, StderrProgress
    from ocikit.registry.pull import PulledManifest, PullResult, TagNotPinnedError, pull_image
    from ocikit.registry.push import PushedImage, PushStats, PushSummary, push_layout
    from ocikit.registry.transport import RetryPolicy, Transport
