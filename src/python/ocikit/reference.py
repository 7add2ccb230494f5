"""Image references `[registry[:port]/]repository[:tag][@sha256:...]` and registry addresses.

Parsed the way docker and go-containerregistry's pkg/name do: the first path component is a
registry only if it holds a '.' or a ':', is 'localhost', or has an uppercase letter; otherwise
the image lives on Docker Hub (`docker.io`, served by the API host `index.docker.io`) and a
single-component name gets the `library/` prefix.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Optional

from ocikit.digest import is_digest
from ocikit.errors import OcikitError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "index.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")
_MAX_NAME_LENGTH = 255

_REPOSITORY_RULE = (
    "lowercase components of letters and digits separated by '/', each component possibly "
    "joined by '.', '_', '__' or dashes (e.g. 'team/app-server')"
)
_TAG_RULE = "1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'"
_REFERENCE_FORM = "[REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:HEX]"


class InvalidReference(OcikitError, ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. `tag` and `digest` are both optional."""

    registry: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def api_host(self) -> str:
        """The host[:port] the registry API is served from (Docker Hub: index.docker.io)."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What the manifest endpoint takes: the digest if there is one, else the tag."""
        if self.digest:
            return self.digest
        if self.tag:
            return self.tag
        raise InvalidReference(f"reference {self} has neither a tag nor a digest")

    def with_digest(self, digest: str) -> Reference:
        if not is_digest(digest):
            raise InvalidReference(f"invalid digest {digest!r}: expected sha256: and 64 lowercase hex")
        return replace(self, digest=digest)

    def with_tag(self, tag: Optional[str]) -> Reference:
        if tag is not None:
            _check_tag(tag, str(tag))
        return replace(self, tag=tag)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(value: str, *, default_tag: Optional[str] = None) -> Reference:
    """Parse `[registry[:port]/]repository[:tag][@sha256:hex]`.

    `default_tag` fills in the tag when there is neither a tag nor a digest (docker uses
    "latest"); without it such a reference has no tag.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidReference(f"invalid image reference {value!r}: expected {_REFERENCE_FORM}")
    original = value
    if value != value.strip() or any(c.isspace() for c in value):
        raise InvalidReference(f"invalid image reference {original!r}: it must not contain whitespace")
    if "://" in value:
        raise InvalidReference(
            f"invalid image reference {original!r}: drop the scheme; expected {_REFERENCE_FORM}, "
            "e.g. 'registry.example.com/team/app:1.0'"
        )

    digest = None
    if "@" in value:
        value, digest = value.rsplit("@", 1)
        if not is_digest(digest):
            raise InvalidReference(
                f"invalid digest {digest!r} in image reference {original!r}: expected 'sha256:' "
                "followed by 64 lowercase hex characters"
            )

    tag = None
    colon, slash = value.rfind(":"), value.rfind("/")
    if colon > slash:
        value, tag = value[:colon], value[colon + 1 :]
        _check_tag(tag, original)

    registry, repository = _split_registry(value)
    if registry is None:
        registry = DOCKER_HUB
    else:
        registry = _parse_registry_host(registry, context=f"image reference {original!r}")
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    _check_repository(repository, original)
    if len(f"{registry}/{repository}") > _MAX_NAME_LENGTH:
        raise InvalidReference(
            f"invalid image reference {original!r}: the name is longer than {_MAX_NAME_LENGTH} characters"
        )
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, repository, tag, digest)


def parse_registry(value: str) -> str:
    """Parse a registry address `host[:port]` (no scheme, no path) into its canonical form."""
    if not isinstance(value, str) or not value:
        raise InvalidReference(f"invalid registry {value!r}: expected HOST[:PORT], e.g. 'localhost:5000'")
    if "://" in value:
        raise InvalidReference(
            f"invalid registry {value!r}: give HOST[:PORT] without a scheme such as 'https://' "
            f"(e.g. {value.split('://', 1)[1].split('/', 1)[0]!r})"
        )
    if "/" in value.rstrip("/"):
        raise InvalidReference(
            f"invalid registry {value!r}: give HOST[:PORT] without a path (e.g. {value.split('/', 1)[0]!r})"
        )
    return _parse_registry_host(value.rstrip("/"), context=f"registry {value!r}")


def split_host_port(registry: str) -> tuple[str, Optional[int]]:
    """'host:5000' -> ('host', 5000); '[::1]:5000' -> ('::1', 5000); 'host' -> ('host', None)."""
    if registry.startswith("["):
        end = registry.index("]")
        host, rest = registry[1:end], registry[end + 1 :]
        return host, int(rest[1:]) if rest.startswith(":") else None
    if registry.count(":") == 1:
        host, port = registry.split(":")
        return host, int(port)
    return registry, None


def is_loopback(registry: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    host, _ = split_host_port(registry)
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_valid_tag(tag: str) -> bool:
    return isinstance(tag, str) and bool(_TAG_RE.match(tag))


def is_valid_repository(repository: str) -> bool:
    """A repository path without registry: lowercase components joined by '/'."""
    return (
        isinstance(repository, str) and bool(repository) and all(_COMPONENT_RE.match(c) for c in repository.split("/"))
    )


def names_a_registry(value: str) -> bool:
    """Does `value` start with a registry host, by docker's rule (a first component holding '.',
    ':' or '[', or uppercase, or `localhost`)? `registry.example.com/app:1` does, `team/app:1`
    does not (it is a Docker Hub repository, or in a BUILD file a target address)."""
    return _split_registry(value)[0] is not None


def _split_registry(value: str) -> tuple[Optional[str], str]:
    first, sep, rest = value.partition("/")
    if not sep:
        return None, value
    if "." in first or ":" in first or first == "localhost" or first.lower() != first or first.startswith("["):
        return first, rest
    return None, value


def _parse_registry_host(value: str, *, context: str) -> str:
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InvalidReference(f"invalid registry host in {context}: unclosed '[' in {value!r}")
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidReference(f"invalid registry host in {context}: {host!r} is not an IPv6 address") from None
        if rest:
            if not rest.startswith(":"):
                raise InvalidReference(f"invalid registry {value!r} in {context}: expected [IPV6]:PORT")
            port = rest[1:]
        host = f"[{host}]"
    else:
        if value.count(":") > 1:
            raise InvalidReference(
                f"invalid registry {value!r} in {context}: put IPv6 addresses in brackets, e.g. '[::1]:5000'"
            )
        if ":" in value:
            host, port = value.split(":")
        if not _HOSTNAME_RE.match(host):
            raise InvalidReference(
                f"invalid registry host {host!r} in {context}: expected a hostname or IP address "
                "(letters, digits, '-' and '.'), optionally followed by ':PORT'"
            )
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidReference(f"invalid registry port {port!r} in {context}: expected a number in 1-65535")
        port = str(int(port))
    canonical = f"{host}:{port}" if port is not None else host
    if port is None and host.lower() in _DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    return canonical


def _check_tag(tag: str, original: str) -> None:
    if not is_valid_tag(tag):
        raise InvalidReference(f"invalid tag {tag!r} in image reference {original!r}: expected {_TAG_RULE}")


def _check_repository(repository: str, original: str) -> None:
    if not repository:
        raise InvalidReference(f"invalid image reference {original!r}: the repository is empty")
    for component in repository.split("/"):
        if not _COMPONENT_RE.match(component):
            reason = (
                "repository names must be lowercase"
                if component.lower() != component and _COMPONENT_RE.match(component.lower())
                else f"expected {_REPOSITORY_RULE}"
            )
            raise InvalidReference(
                f"invalid repository {repository!r} in image reference {original!r} (component {component!r}): {reason}"
            )
