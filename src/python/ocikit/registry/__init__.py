"""The registry client (OCI distribution API): push a layout, pull by digest, inspect.

    from ocikit.registry import push_layout, pull_image
    summary = push_layout("dist/app.oci", ["registry.example.com/team/app:1.0"])
    result = pull_image("docker.io/library/alpine@sha256:...", ["linux/amd64"], "base.oci")

Auth, retries and transport live in transport.py; one function in errors.py turns registry
answers into typed errors; auth.py finds credentials the way docker, crane and skopeo do.
"""

from __future__ import annotations

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
from ocikit.registry.layout_source import LayoutError
from ocikit.registry.progress import Progress, StderrProgress
from ocikit.registry.pull import PlatformError, PullResult, PulledManifest, TagNotPinnedError, pull_image
from ocikit.registry.push import PushedImage, PushStats, PushSummary, push_layout
from ocikit.registry.transport import RetryPolicy, Transport

__all__ = [
    "ANONYMOUS", "AccessDeniedError", "AuthenticationError", "Credential", "CredentialError",
    "DefaultKeychain", "DigestMismatchError", "Keychain", "LayoutError", "NotFoundError",
    "PlatformError", "Progress", "PullResult", "PulledManifest", "PushStats", "PushSummary",
    "PushedImage", "RateLimitedError", "RegistryConnectionError", "RegistryError", "RetryPolicy",
    "StaticKeychain", "StderrProgress", "TagNotPinnedError", "Transport", "inspect_image",
    "pull_image", "push_layout",
]
