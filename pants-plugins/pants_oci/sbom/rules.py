"""`pants package` writes SBOMs next to each image's layout: `dist/<output_path>.spdx.json`
and, by `[oci].sbom_formats`, `.cdx.json`.

The facts come from the build graph, as the image build found them (memoized): the image and
its platform manifests by digest, its base by digest and the Debian packages the base records,
and the contents of its own layers. `ocikit.sbom.formats` names the writer of each format.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests, RemovePrefix
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

import pants_oci
from ocikit.contracts.sbom import SbomDocumentCommand
from ocikit.image import Platform, PlatformImage
from ocikit.sbom.document import document_request
from ocikit.sbom.formats import FORMATS
from ocikit.sbom.model import ImageRef, ImageSbomFacts, PlatformFacts, SbomPackage
from ocikit.sbom.purl import oci_purl
from pants_oci.bases import BasePlatformError, base_image_per_platform
from pants_oci.extensions import OciPackageOutputs, OciPackageOutputsRequest
from pants_oci.image_fields import OciImagePlatformsField, OciImageRepositoryField
from pants_oci.registries import image_repository
from pants_oci.sbom.base_packages import BasePackages, BasePackagesRequest
from pants_oci.sbom.contents import ImageContents, ImageContentsRequest
from pants_oci.sbom.files import LISTING
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciImageTarget
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image import push_registries
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.settings import OciBuildSettings
from pants_oci.util_rules.worker_runner import OcikitRunner

# Said once in every document, so a reader knows what an absent element means.
_SCOPE_NOTE = (
    "Lists the image's own first-party files and the third-party packages its layers install, "
    "its base image by digest and the Debian packages the base records in /var/lib/dpkg; files "
    "of the base, bytecode compiled at build time and layers added by image extensions are not "
    "listed."
)


class SbomOutputsRequest(OciPackageOutputsRequest):
    pass


@dataclass(frozen=True)
class ImageSbomFactsRequest:
    target: Target  # the oci_image


def _identity(target: Target, oci: OciSubsystem) -> tuple[str, tuple[str, ...]]:
    """An oci_image's repository, and `registry/repository` for each registry it is pushed to."""
    repository = image_repository(target[OciImageRepositoryField].value, target.address, oci.default_repository)
    return repository, tuple(sorted(f"{r.address}/{repository}" for r in push_registries(target, oci.registries())))


def _image_ref(repository: str, urls: tuple[str, ...], image: PlatformImage, comment: str = "") -> ImageRef:
    digest = image.manifest.descriptor.digest
    arch = image.platform.architecture
    purls = tuple(oci_purl(repository, digest, url, arch) for url in urls) or (oci_purl(repository, digest, arch=arch),)
    return ImageRef(repository, digest, purls, str(image.platform), comment)


async def _base_identity(base: ImageBase, oci: OciSubsystem) -> tuple[str, tuple[str, ...], str]:
    """(repository, repository URLs, a comment) of a base: an oci_image of this repo, or an image
    from a registry (an `oci_pull` or a reference in `base`), pinned by digest."""
    if base.target is not None:
        wrapped = await Get(WrappedTarget, WrappedTargetRequest(base.target, description_of_origin="oci_image"))
        if isinstance(wrapped.target, OciImageTarget):
            repository, urls = _identity(wrapped.target, oci)
            return repository, urls, f"The oci_image {base.target}."
    registry_repository = base.mount_sources[0] if base.mount_sources else base.name
    pulled = f" (the oci_pull {base.target})" if base.target is not None else ""
    return registry_repository, (registry_repository,), f"Pulled as {base.name}{pulled}."


@dataclass(frozen=True)
class _BaseFactsRequest:
    target: Target  # the oci_image


@dataclass(frozen=True)
class _BaseFacts:
    """Per platform of the image: its base (None for scratch) and the packages the base records."""

    bases: tuple[tuple[ImageRef | None, tuple[SbomPackage, ...]], ...]


@rule(desc="Gather the SBOM facts of an OCI image's base")
async def base_sbom_facts(request: _BaseFactsRequest, oci: OciSubsystem) -> _BaseFacts:
    target = request.target
    platforms = tuple(Platform.parse(p) for p in target[OciImagePlatformsField].value)
    base = await Get(ImageBase, ImageBaseRequest(target.address, platforms))
    if base.is_scratch:
        return _BaseFacts(tuple((None, ()) for _ in platforms))
    try:
        bases = base_image_per_platform(platforms, base.images)
    except BasePlatformError:
        # The image build fails on it, naming the field: this rule, which runs alongside it,
        # must not get there first with a message of its own.
        return _BaseFacts(tuple((None, ()) for _ in platforms))
    repository, urls, comment = await _base_identity(base, oci)
    packages = await MultiGet(
        Get(BasePackages, BasePackagesRequest(image, base.layer_blobs, base.name)) for image in bases
    )
    return _BaseFacts(
        tuple((_image_ref(repository, urls, image, comment), found.packages) for image, found in zip(bases, packages))
    )


def _top(target: Target, built: BuiltOciImage, oci: OciSubsystem, platforms: tuple[ImageRef, ...]) -> ImageRef:
    """The index of a multi-platform image, else its one manifest."""
    if built.index is None:
        return platforms[0]
    repository, urls = _identity(target, oci)
    digest = built.index.descriptor.digest
    purls = tuple(oci_purl(repository, digest, url) for url in urls) or (oci_purl(repository, digest),)
    return ImageRef(repository, digest, purls, "", "The image index.")


@rule(desc="Gather the SBOM facts of an OCI image")
async def image_sbom_facts(
    request: ImageSbomFactsRequest, oci: OciSubsystem, settings: OciBuildSettings
) -> ImageSbomFacts:
    # Asked together: the files are hashed and the base's layers read while the image builds.
    target = request.target
    built, contents, base = await MultiGet(
        Get(BuiltOciImage, OciImageRequest(target.address)),
        Get(ImageContents, ImageContentsRequest(target.address)),
        Get(_BaseFacts, _BaseFactsRequest(target)),
    )
    repository, urls = _identity(target, oci)
    mine = tuple(_image_ref(repository, urls, image) for image in built.images)
    notes = [_SCOPE_NOTE]
    if contents.undescribed:
        notes.append(f"No rule describes the layers of {', '.join(contents.undescribed)}: not listed.")
    return ImageSbomFacts(
        top=_top(target, built, oci, mine),
        platforms=tuple(PlatformFacts(ref, b, packages) for ref, (b, packages) in zip(mine, base.bases)),
        packages=contents.packages,
        # The files are not gathered here: each layer's list goes to the document's process.
        created=settings.created,
        tool=f"pants-oci-{pants_oci.__version__}",
        notes=tuple(notes),
    )


_REQUEST = "sbom-request.json"
_LISTS = "file-lists"
_OUT = "out"


@rule(desc="Write the SBOM of an OCI image")
async def write_image_sbom(request: SbomOutputsRequest, oci: OciSubsystem, runner: OcikitRunner) -> OciPackageOutputs:
    """The documents are written by a process from each layer's file list: a document of tens
    of thousands of files, passed to Pants from a rule, costs it a second or more to copy in."""
    names = sorted({f.value for f in oci.sbom_formats})
    if not names:
        return OciPackageOutputs()
    facts, contents = await MultiGet(
        Get(ImageSbomFacts, ImageSbomFactsRequest(request.target)),
        Get(ImageContents, ImageContentsRequest(request.target.address)),
    )
    paths = {name: f"{request.output_path}{FORMATS[name].suffix}" for name in names}
    lists = [f"{_LISTS}/{n}" for n in range(len(contents.file_lists))]
    document = document_request(facts, [f"{d}/{LISTING}" for d in lists], {n: f"{_OUT}/{p}" for n, p in paths.items()})
    inputs = await MultiGet(
        Get(Digest, CreateDigest([FileContent(_REQUEST, document.dumps())])),
        *(Get(Digest, AddPrefix(listing, d)) for listing, d in zip(contents.file_lists, lists)),
    )
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            SbomDocumentCommand(request=_REQUEST).to_argv(),
            input_digest=await Get(Digest, MergeDigests(inputs)),
            output_files=tuple(document.outputs.values()),
            description=f"Write the SBOM of oci_image {request.target.address}",
            level=LogLevel.DEBUG,
        ),
    )
    digest = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    return OciPackageOutputs(digest, tuple(paths[n] for n in names))


def rules():
    return [*collect_rules(), UnionRule(OciPackageOutputsRequest, SbomOutputsRequest)]
