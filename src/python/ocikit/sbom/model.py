"""The facts an SBOM is made of: small immutable values the plugin gathers from the build graph
and the format writers (`ocikit.sbom.spdx`) turn into a document. No format lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

NOASSERTION = "NOASSERTION"


@dataclass(frozen=True, order=True)
class SbomFile:
    """A first-party file of the image, as its build placed it."""

    path: str  # absolute, in the image: "/app/run.sh"
    sha256: str  # lowercase hex (Pants' own file digest)
    sha1: str  # lowercase hex (SPDX 2.3 requires a SHA1 for every file)
    contributor: str  # the Pants address(es) that put it there, e.g. "examples/hello:files"


@dataclass(frozen=True, order=True)
class SbomPackage:
    """A third-party package the image holds: a Python distribution, a Debian package."""

    ecosystem: str  # "pypi", "deb": the purl type
    name: str
    version: str
    purl: str
    license_declared: str = NOASSERTION  # a valid SPDX expression, or NOASSERTION
    license_comment: str = ""  # what the package declared when it is no SPDX expression
    sha256: str = ""  # lowercase hex of the artifact it was installed from, when known
    download_location: str = NOASSERTION  # an http(s) URL, when known
    comment: str = ""  # where it came from: "installed by oci_python_app //app:app"


@dataclass(frozen=True, order=True)
class ImageRef:
    """An image (a manifest or an index) by digest."""

    name: str  # how its build names it: "examples/hello", "registry.example.com/debian:12"
    digest: str  # "sha256:<hex>"
    purls: Tuple[str, ...] = ()  # pkg:oci/... purls, one per repository it is known in
    platform: str = ""  # "linux/amd64"; empty for an index
    comment: str = ""


@dataclass(frozen=True)
class PlatformFacts:
    """One platform of the image: its manifest, its base's and the packages read from the base."""

    image: ImageRef
    base: Optional[ImageRef] = None  # None: built on scratch
    base_packages: Tuple[SbomPackage, ...] = ()


@dataclass(frozen=True)
class ImageSbomFacts:
    """Everything one document says about one image (an index or a single manifest)."""

    top: ImageRef  # what the layout's index.json names
    platforms: Tuple[PlatformFacts, ...]
    packages: Tuple[SbomPackage, ...] = ()  # installed by the image's own layers (every platform)
    files: Tuple[SbomFile, ...] = ()  # first-party files of the image's own layers
    created: str = "1970-01-01T00:00:00Z"  # RFC 3339, the image's `created` time
    tool: str = "pants-oci"  # "pants-oci-0.1.0"
    notes: Tuple[str, ...] = field(default=())  # what the document leaves out, said once
