"""An `oci_image`'s own layers -> the first-party files and third-party packages they hold.

The layers are found as the image rule finds them (the same requests, so every answer is the
image build's own, memoized): each `oci_layer` in `layers`, the image's `dependencies` layer,
and through `OciSbomContentsRequest` what another backend builds (an `oci_python_app`). A path
two layers hold is the later layer's, as in the image's filesystem.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pants_oci.extensions import OciSbomContents, OciSbomContentsRequest
from pants_oci.image_fields import OciImageDependenciesField, OciImageLayersField, OciImagePlatformsField
from pants_oci.sbom.files import ContributedFiles, ContributedFilesRequest
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image import dependencies_layer_request, image_compression, oci_layer_request
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.fs import AddPrefix, Digest
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, Targets, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership
from pants.util.frozendict import FrozenDict

from ocikit.image import Platform
from ocikit.sbom.model import SbomFile, SbomPackage


@dataclass(frozen=True)
class ImageContentsRequest:
    image: Address


@dataclass(frozen=True)
class ImageContents:
    files: tuple[SbomFile, ...]  # sorted by path
    packages: tuple[SbomPackage, ...]  # sorted
    undescribed: tuple[str, ...] = ()  # layers no rule describes (named for the document's notes)


@dataclass(frozen=True)
class _LayerContentsRequest:
    layer: OciLayerRequest


@rule(desc="List the files of an OCI layer for its image's SBOM")
async def oci_layer_contents(request: _LayerContentsRequest) -> OciSbomContents:
    layer = request.layer
    inputs = await Get(LayerInputs, OciLayerRequest, layer)
    prefix = layer.destination.strip("/")
    if not prefix:
        return OciSbomContents(inputs.digest, inputs.owners)
    placed = await Get(Digest, AddPrefix(inputs.digest, prefix))
    owners = FrozenDict((posixpath.join(prefix, path), owner) for path, owner in inputs.owners.items())
    return OciSbomContents(placed, owners)


def _contents_get(layer: Target, compression: LayerCompression, union_membership: UnionMembership) -> Get | None:
    if isinstance(layer, OciLayerTarget):
        return Get(OciSbomContents, _LayerContentsRequest(oci_layer_request(layer, compression)))
    for request_type in union_membership.get(OciSbomContentsRequest):
        if request_type.is_applicable(layer):
            return Get(OciSbomContents, OciSbomContentsRequest, request_type(layer))
    return None


async def _layer_targets(image: Target) -> Targets:
    return await Get(Targets, UnparsedAddressInputs, image[OciImageLayersField].to_unparsed_address_inputs())


@rule(desc="List what the layers of an OCI image hold, for its SBOM")
async def image_contents(
    request: ImageContentsRequest, settings: OciBuildSettings, oci: OciSubsystem, union_membership: UnionMembership
) -> ImageContents:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.image, description_of_origin="oci_image"))
    image = wrapped.target
    compression = image_compression(image, settings, oci)
    layers = await _layer_targets(image)
    gets = [(str(t.address), _contents_get(t, compression, union_membership)) for t in layers]
    if image[OciImageDependenciesField].value:
        platforms = tuple(Platform.parse(p) for p in image[OciImagePlatformsField].value)
        base = await Get(ImageBase, ImageBaseRequest(image.address, platforms))
        layer = dependencies_layer_request(image, base, layers, compression)
        gets.append((str(image.address), Get(OciSbomContents, _LayerContentsRequest(layer))))
    described = [(owner, get) for owner, get in gets if get is not None]
    contents = await MultiGet(get for _, get in described)
    hashed = await MultiGet(
        Get(ContributedFiles, ContributedFilesRequest(c.files, c.owners, owner, owner))
        for (owner, _), c in zip(described, contents)
    )
    by_path = {f.path: f for found in hashed for f in found.files}  # a later layer's file wins
    packages = {p for c in contents for p in c.packages}
    return ImageContents(
        files=tuple(by_path[p] for p in sorted(by_path)),
        packages=tuple(sorted(packages)),
        undescribed=tuple(owner for owner, get in gets if get is None),
    )


def rules():
    return collect_rules()
