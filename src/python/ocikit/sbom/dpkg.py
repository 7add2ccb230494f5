"""The Debian packages an image records: read from its layers, as scanners read them.

`scan_layer` streams one layer blob (gzip, zstd or plain tar) and keeps what decides the
packages: `/var/lib/dpkg/status` (Debian), the `/var/lib/dpkg/status.d/*` files (distroless,
one control paragraph each), `os-release` (the distribution, the purl's namespace) and the
whiteouts that delete them. `merge_layers` applies the layers in order, as a runtime would
stack them, and lists the packages of the result. Pure but for reading the blob.
"""

from __future__ import annotations

import gzip
import posixpath
import tarfile
from dataclasses import dataclass
from typing import IO, Dict, Iterator, List, Sequence, Tuple, cast

from ocikit import media_types
from ocikit.contracts.sbom import DebPackage, DpkgLayerScan, DpkgScanRequest
from ocikit.sbom.model import SbomPackage
from ocikit.sbom.purl import deb_purl

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_FILE = 64 << 20  # a status file larger than this is not one


def control_paragraphs(text: str) -> List[Dict[str, str]]:
    """RFC 822-style paragraphs (dpkg's status format): `Field: value`, continuation lines start
    with a space or tab, a blank line ends a paragraph. Field names are case-insensitive: kept
    as the first spelling, looked up by `field`."""
    paragraphs: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, last = {}, ""
        elif line[0] in " \t":
            if last:
                current[last] += "\n" + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            last = name.strip().lower()
            current[last] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def installed_packages(text: str) -> Tuple[DebPackage, ...]:
    """The installed packages of a status file. A paragraph without `Status` (a distroless
    `status.d` file) is installed; with one, its third word must say so."""
    found = []
    for paragraph in control_paragraphs(text):
        status = paragraph.get("status", "install ok installed").split()
        if len(status) != 3 or status[2] != "installed" or not paragraph.get("package"):
            continue
        source = paragraph.get("source", "").split(" ", 1)[0]
        found.append(
            DebPackage(paragraph["package"], paragraph.get("version", ""), paragraph.get("architecture", ""), source)
        )
    return tuple(sorted(set(found), key=lambda p: (p.name, p.architecture, p.package_version)))


def os_release_id(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("ID="):
            return line[3:].strip().strip("\"'")
    return ""


def _normalize(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _is_status_file(path: str) -> bool:
    if path == STATUS:
        return True
    parent, base = posixpath.split(path)
    # Distroless keeps `<name>.md5sums` lists beside the control files: not paragraphs.
    return parent == STATUS_D and not base.endswith(".md5sums") and not base.startswith(".")


def _decompressed(raw: IO[bytes], media_type: str) -> IO[bytes]:
    if media_type.endswith("+zstd") or media_type.endswith(".zstd"):
        import zstandard  # a worker dependency; only zstd layers need it

        return zstandard.ZstdDecompressor().stream_reader(raw)
    if media_type == media_types.OCI_LAYER_TAR or media_type.endswith(".tar"):
        return raw
    return cast(
        IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")
    )  # OCI and Docker gzip layers (typeshed: BufferedIOBase)


def _members(stream: IO[bytes]) -> Iterator[Tuple[tarfile.TarInfo, tarfile.TarFile]]:
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            yield member, tar


def scan_layer(request: DpkgScanRequest) -> DpkgLayerScan:
    packages: Dict[str, Tuple[DebPackage, ...]] = {}
    os_release: Dict[str, str] = {}
    deleted: List[str] = []
    opaque: List[str] = []
    with open(request.blob, "rb") as raw, _decompressed(raw, request.media_type) as stream:
        for member, tar in _members(stream):
            path = _normalize(member.name)
            parent, base = posixpath.split(path)
            if base == _OPAQUE:
                opaque.append(parent)
            elif base.startswith(_WHITEOUT):
                deleted.append(posixpath.join(parent, base[len(_WHITEOUT) :]))
            elif member.isfile() and member.size <= _MAX_FILE and (_is_status_file(path) or path in OS_RELEASE):
                extracted = tar.extractfile(member)
                text = extracted.read().decode("utf-8", "replace") if extracted else ""
                if path in OS_RELEASE:
                    os_release[path] = os_release_id(text)
                else:
                    packages[path] = installed_packages(text)
    return DpkgLayerScan(packages, os_release, tuple(sorted(set(deleted))), tuple(sorted(set(opaque))))


def _under(path: str, directory: str) -> bool:
    return directory in ("", ".") or path == directory or path.startswith(directory + "/")


def _apply(view: Dict[str, object], layer: DpkgLayerScan, found: Dict[str, object]) -> None:
    """A layer over the ones below it: whiteouts remove lower paths first, then its files land."""
    for directory in layer.opaque:
        for path in [p for p in view if _under(p, directory) and p != directory]:
            del view[path]
    for gone in layer.deleted:
        for path in [p for p in view if _under(p, gone)]:
            del view[path]
    view.update(found)


@dataclass(frozen=True)
class DpkgView:
    """What the stacked layers record: the packages, and the distribution they come from."""

    packages: Tuple[DebPackage, ...]
    distribution: str  # os-release's ID, "" when no layer has one


def merge_layers(layers: Sequence[DpkgLayerScan]) -> DpkgView:
    statuses: Dict[str, object] = {}
    releases: Dict[str, object] = {}
    for layer in layers:
        _apply(statuses, layer, dict(layer.packages))
        _apply(releases, layer, dict(layer.os_release))
    packages = {p for found in statuses.values() for p in found}  # type: ignore[attr-defined]
    distribution = next((str(releases[p]) for p in OS_RELEASE if releases.get(p)), "")
    return DpkgView(tuple(sorted(packages, key=lambda p: (p.name, p.architecture, p.package_version))), distribution)


# Distributions whose package manager is dpkg and whose purl namespace is their os-release ID.
_DEB_NAMESPACES = ("debian", "ubuntu")


def sbom_packages(view: DpkgView, where: str) -> Tuple[SbomPackage, ...]:
    """The view's packages as SBOM packages; `where` says where they were read from."""
    namespace = view.distribution if view.distribution in _DEB_NAMESPACES else "debian"
    return tuple(
        SbomPackage(
            ecosystem="deb",
            name=p.name,
            version=p.package_version,
            purl=deb_purl(namespace, p.name, p.package_version, p.architecture),
            comment=f"Architecture {p.architecture or 'unknown'}"
            + (f", source package {p.source}" if p.source else "")
            + f"; recorded in {where}.",
        )
        for p in view.packages
    )
