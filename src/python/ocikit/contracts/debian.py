"""`python -m ocikit deb-lock | deb-fetch | deb-layer`: Debian packages into images.

deb-lock resolves targets' packages against an archive into the lockfile (its --request is a
DebLockRequest); deb-fetch downloads one .deb the lockfile pins and checks it; deb-layer turns
fetched .debs into one layer (its --spec is a DebLayerSpec; it writes a LayerDescriptor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class DebTargetRequest(Contract):
    """One `oci_debian_packages` target to resolve: its packages, suite and architectures."""

    KIND = "deb-target-request"

    target: str
    suite: str
    packages: Tuple[str, ...]
    architectures: Tuple[str, ...]


@dataclass(frozen=True)
class DebLockRequest(Contract):
    KIND = "deb-lock-request"

    archive: str  # the archive's root URL (`[oci].debian_archive`)
    targets: Tuple[DebTargetRequest, ...]


@dataclass(frozen=True)
class DebLockCommand(CommandLine):
    COMMAND = "deb-lock"

    request: str = option("--request", "the targets to resolve: a DebLockRequest as JSON", metavar="FILE")
    out: str = option("--out", "where to write the lockfile", metavar="FILE")
    regenerate_command: str = option("--regenerate-command", "the command the lockfile's header names", metavar="CMD")


@dataclass(frozen=True)
class DebFetchCommand(CommandLine):
    """Download one .deb and check its size and SHA-256; nothing is written unless it matches."""

    COMMAND = "deb-fetch"

    url: str = option("--url", "the .deb's URL", metavar="URL")
    sha256: str = option("--sha256", "its SHA-256 (hex), from the lockfile", metavar="HEX")
    size: int = option("--size", "its size in bytes, from the lockfile", metavar="BYTES")
    out: str = option("--out", "where to write it", metavar="FILE")
    package: str = option("--package", "the package's name and version, for messages", metavar="NAME")


@dataclass(frozen=True)
class DebInput(Contract):
    """A fetched .deb in the layer process's sandbox and what the lockfile says it is."""

    KIND = "deb-input"

    package: str
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DebLayerSpec(Contract):
    """The packages of one layer; the compression fields are a LayerSpec's."""

    KIND = "deb-layer-spec"

    debs: Tuple[DebInput, ...]
    compression: str = "gzip"
    level: Optional[int] = None
    mtime: int = 0
    threads: Optional[int] = None


@dataclass(frozen=True)
class DebLayerCommand(CommandLine):
    COMMAND = "deb-layer"

    spec: str = option("--spec", "the layer's packages: a DebLayerSpec as JSON", metavar="SPEC.json")
    out: str = option("--out", "where to write the layer blob", metavar="BLOB")
    descriptor: str = option("--descriptor", "where to write the LayerDescriptor JSON", metavar="DESC.json")
