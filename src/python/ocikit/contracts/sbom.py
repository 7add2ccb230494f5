"""`python -m ocikit sbom-dpkg|sbom-sha1|sbom-document`: what an image's SBOM reads and
writes in a process, because the blobs and files it reads, and the document it writes, can be
large (`ocikit.sbom.worker`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

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


@dataclass(frozen=True)
class SbomFileList(Contract):
    """The first-party files one layer puts in an image (`ocikit.sbom.model.SbomFile`), sorted
    by path: each [path in the image, SHA-256, SHA1, the Pants target that put it there]."""

    KIND = "sbom-file-list"

    files: Tuple[Tuple[str, str, str, str], ...]


@dataclass(frozen=True)
class SbomImage(Contract):
    """`ocikit.sbom.model.ImageRef`."""

    KIND = "sbom-image"

    name: str
    digest: str
    purls: Tuple[str, ...] = ()
    platform: str = ""
    comment: str = ""


@dataclass(frozen=True)
class SbomPackageFacts(Contract):
    """`ocikit.sbom.model.SbomPackage`."""

    KIND = "sbom-package"

    ecosystem: str
    name: str
    package_version: str  # not `version`: a contract's JSON keeps that key for its own
    purl: str
    license_declared: str
    license_comment: str = ""
    sha256: str = ""
    download_location: str = ""
    comment: str = ""


@dataclass(frozen=True)
class SbomPlatform(Contract):
    """`ocikit.sbom.model.PlatformFacts`."""

    KIND = "sbom-platform"

    image: SbomImage
    base: Optional[SbomImage] = None
    base_packages: Tuple[SbomPackageFacts, ...] = ()


@dataclass(frozen=True)
class SbomDocumentRequest(Contract):
    """One image's SBOM documents: its facts (`ocikit.sbom.model.ImageSbomFacts`) but its files,
    which come as one SbomFileList per layer, in the image's layer order (a path two layers
    hold is the later layer's, as in the image's filesystem)."""

    KIND = "sbom-document-request"

    top: SbomImage
    platforms: Tuple[SbomPlatform, ...]
    packages: Tuple[SbomPackageFacts, ...]
    created: str
    tool: str
    notes: Tuple[str, ...]
    file_lists: Tuple[str, ...]  # SbomFileList files
    outputs: Dict[str, str]  # format (`ocikit.sbom.formats.FORMATS`) -> where its document goes


@dataclass(frozen=True)
class SbomDocumentCommand(CommandLine):
    """Write an image's SBOM documents (`SbomDocumentRequest`)."""

    COMMAND = "sbom-document"

    request: str = option("--request", "a SbomDocumentRequest (JSON)", metavar="FILE")
