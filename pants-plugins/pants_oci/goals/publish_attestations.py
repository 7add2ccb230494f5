"""What `publish` attests about an image when it signs: SLSA provenance from the build graph
(pants_oci/provenance.py) and the SBOMs `package` wrote beside the layout, as predicates
the push wraps in signed in-toto statements."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, DigestEntries, DigestSubset, FileEntry, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.option.global_options import GlobMatchErrorBehavior
from pants.util.logging import LogLevel
from pants.version import VERSION as PANTS_VERSION

from ocikit.sbom.formats import FORMATS
from ocikit.signing.dsse import SLSA_PROVENANCE_V1
from pants_oci.provenance import ProvenanceFacts, layer_facts, provenance_predicate
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.settings import OciBuildSettings


@dataclass(frozen=True)
class OciAttestationsRequest:
    address: Address
    package: Digest  # the packaged image, with what was written beside its layout
    layout: str  # the layout's path in it


@dataclass(frozen=True)
class OciAttestations:
    predicates: tuple[tuple[str, str], ...]  # (predicate type, predicate as JSON)


async def _lockfile_digests(path: str) -> tuple[tuple[str, str], ...]:
    digest = await Get(Digest, PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore))
    entries = await Get(DigestEntries, Digest, digest)
    return tuple((e.path, f"sha256:{e.file_digest.fingerprint}") for e in entries if isinstance(e, FileEntry))


@rule(desc="Gather what to attest about an OCI image", level=LogLevel.DEBUG)
async def gather_attestations(
    request: OciAttestationsRequest, oci: OciSubsystem, settings: OciBuildSettings
) -> OciAttestations:
    from pants_oci import __version__ as plugin_version

    image = await Get(BuiltOciImage, OciImageRequest(request.address))
    platforms = tuple(i.platform for i in image.images)
    base = await Get(ImageBase, ImageBaseRequest(request.address, platforms))
    lockfiles = await _lockfile_digests(oci.base_image_lockfile) if base.images else ()
    facts = ProvenanceFacts(
        target=request.address.spec,
        pants_version=PANTS_VERSION,
        plugin_version=plugin_version,
        source_date_epoch=settings.epoch,
        compression=settings.compression.value,
        base=base.name,
        base_digests=tuple((str(i.platform), i.manifest.descriptor.digest) for i in base.images),
        layers=tuple(fact for i in image.images for fact in layer_facts(str(i.platform), i.layers)),
        lockfiles=lockfiles,
    )
    predicates = [(SLSA_PROVENANCE_V1, json.dumps(provenance_predicate(facts), sort_keys=True))]
    # The SBOMs `package` wrote, in each format `[oci].sbom_formats` names.
    by_path = {f"{request.layout}{f.suffix}": f.predicate_type for f in FORMATS.values()}
    sboms = await Get(DigestContents, DigestSubset(request.package, PathGlobs(sorted(by_path))))
    predicates += [(by_path[sbom.path], sbom.content.decode()) for sbom in sboms]
    return OciAttestations(tuple(predicates))


def rules():
    return collect_rules()
