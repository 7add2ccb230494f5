"""`python -m ocikit sbom-dpkg|sbom-sha1`: what an image's SBOM reads in a process, because
the blobs and files it reads can be large (`ocikit.sbom.worker`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class DebPackage(Contract):
    KIND = "sbom-deb-package"

    name: str
    package_version: str  # not `version`: a contract's JSON keeps that key for its own
    architecture: str
    source: str = ""


@dataclass(frozen=True)
class DpkgScanRequest(Contract):
    """Scan one layer blob (a file in the worker's sandbox) for what records Debian packages."""

    KIND = "sbom-dpkg-scan-request"

    blob: str
    media_type: str


@dataclass(frozen=True)
class DpkgLayerScan(Contract):
    """What one layer holds: the packages of each status file it writes, the os-release files it
    writes, and what its whiteouts delete from the layers below it."""

    KIND = "sbom-dpkg-layer-scan"

    packages: Dict[str, Tuple[DebPackage, ...]]  # status file path -> its installed packages
    os_release: Dict[str, str]  # os-release path -> its ID ("debian")
    deleted: Tuple[str, ...] = ()  # paths a whiteout removes (with everything below them)
    opaque: Tuple[str, ...] = ()  # directories whose lower contents are hidden


@dataclass(frozen=True)
class FileSha1s(Contract):
    """The SHA1 of each regular file of a tree, by its path relative to the tree's root. SPDX
    2.3 requires one for every file; Pants' own digests are SHA-256 only."""

    KIND = "sbom-file-sha1s"

    sha1: Dict[str, str]


@dataclass(frozen=True)
class SbomDpkgCommand(CommandLine):
    """Read the Debian packages one layer blob records (`ocikit.sbom.dpkg`)."""

    COMMAND = "sbom-dpkg"

    request: str = option("--request", "a DpkgScanRequest (JSON)", metavar="FILE")
    out: str = option("--out", "where the DpkgLayerScan (JSON) goes", metavar="FILE")


@dataclass(frozen=True)
class SbomSha1Command(CommandLine):
    """The SHA1 of every regular file below a directory (symlinks are not followed)."""

    COMMAND = "sbom-sha1"

    root: str = option("--root", "the tree", metavar="DIR")
    out: str = option("--out", "where the FileSha1s (JSON) goes", metavar="FILE")
