"""What an `oci_debian_packages` target puts in an image, for its SBOM: each locked package
with its purl, the SHA-256 of its .deb and where it was fetched from."""

from __future__ import annotations

from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import Target
from pants.engine.unions import UnionRule

from ocikit.debian.archive import join, shown
from ocikit.sbom.model import SbomPackage
from ocikit.sbom.purl import deb_purl
from pants_oci.debian.lockfile import DebianLockfile, DebianLockfileRequest
from pants_oci.debian.target_types import OciDebianPackagesTarget
from pants_oci.extensions import OciSbomContents, OciSbomContentsRequest
from pants_oci.subsystem import OciSubsystem


class OciDebianSbomRequest(OciSbomContentsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return isinstance(target, OciDebianPackagesTarget)


@rule(desc="List the Debian packages of an oci_debian_packages target for the SBOM")
async def debian_sbom_contents(request: OciDebianSbomRequest, oci: OciSubsystem) -> OciSbomContents:
    lockfile = await Get(DebianLockfile, DebianLockfileRequest())
    entry = lockfile.lock.get(str(request.target.address))
    archive = shown(oci.debian_archive or "")
    packages = {
        SbomPackage(
            ecosystem="deb",
            name=deb.name,
            version=deb.version,
            purl=deb_purl("debian", deb.name, deb.version, deb.architecture),
            sha256=deb.sha256,
            download_location=join(archive, deb.path) if archive.startswith(("http://", "https://")) else "NOASSERTION",
            comment=f"Installed by oci_debian_packages {request.target.address} (architecture {deb.architecture}).",
        )
        for _, debs in (entry.architectures if entry else ())
        for deb in debs
    }
    return OciSbomContents(packages=tuple(sorted(packages)))


def rules():
    return [*collect_rules(), UnionRule(OciSbomContentsRequest, OciDebianSbomRequest)]
