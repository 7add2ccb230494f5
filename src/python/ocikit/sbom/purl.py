"""Package URLs (github.com/package-url/purl-spec) for the packages an SBOM names."""

from __future__ import annotations

import re
from typing import Mapping, Optional
from urllib.parse import quote

# Characters a purl segment keeps as they are; everything else is percent-encoded.
_SAFE = ".-_~"


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def _qualifiers(qualifiers: Optional[Mapping[str, str]]) -> str:
    items = sorted((k, v) for k, v in (qualifiers or {}).items() if v)
    if not items:
        return ""
    return "?" + "&".join(f"{k}={quote(v, safe=_SAFE + '/:')}" for k, v in items)


def pypi_name(name: str) -> str:
    """PEP 503's normalized name, which the pypi purl type asks for: lowercase, runs of
    `-`, `_` and `.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_purl(name: str, version: str) -> str:
    return f"pkg:pypi/{_encode(pypi_name(name))}@{_encode(version)}"


def deb_purl(namespace: str, name: str, version: str, arch: str) -> str:
    return f"pkg:deb/{_encode(namespace)}/{_encode(name)}@{_encode(version)}" + _qualifiers({"arch": arch})


def oci_purl(repository: str, digest: str, repository_url: str = "", arch: str = "") -> str:
    """`pkg:oci/<name>@sha256%3A<hex>`: the name is the repository's last segment, and the
    repository itself (with its registry) goes in `repository_url`."""
    name = repository.rstrip("/").rsplit("/", 1)[-1].lower()
    return f"pkg:oci/{_encode(name)}@{_encode(digest)}" + _qualifiers({"arch": arch, "repository_url": repository_url})
