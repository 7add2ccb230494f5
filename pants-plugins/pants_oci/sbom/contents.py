"""An `oci_image`'s own layers -> the first-party files and third-party packages they hold.

The layers are found as the image rule finds them (the same requests, so every answer is the
image build's own, memoized): each `oci_layer` in `layers`, the image's `dependencies` layer,
and through `OciSbomContentsRequest` what another backend builds (an `oci_python_app`). A path
two layers hold is the later layer's, as in the image's filesystem.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.fs import AddPrefix, Digest
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, Targets, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership
from pants.util.frozendict import FrozenDict

from ocikit.image import Platform
from ocikit.sbom.model import SbomFile, SbomPackage
from pants_oci.extensions import OciSbomContents, OciSbomContentsRequest
from pants_oci.image_fields import OciImageDependenciesField, OciImageLayersField, OciImagePlatformsField
from pants_oci.sbom.files import ContributedFiles, ContributedFilesRequest
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image import dependencies_layer_request, image_compression, oci_layer_request
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import OciBuildSettings


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


def _sbom_request_type(layer: Target, union_membership: UnionMembership) -> type | None:
    """The `OciSbomContentsRequest` implementation that describes a target of another backend."""
    return next((t for t in union_membership.get(OciSbomContentsRequest) if t.is_applicable(layer)), None)


async def _layer_targets(image: Target) -> Targets:
    return await Get(Targets, UnparsedAddressInputs, image[OciImageLayersField].to_unparsed_address_inputs())


@rule(desc="List what the layers of an OCI image hold, for its SBOM")
async def image_contents(
    request: ImageContentsRequest, settings: OciBuildSettings, union_membership: UnionMembership
) -> ImageContents:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.image, description_of_origin="oci_image"))
    image = wrapped.target
    compression = image_compression(image, settings)
    layers = await _layer_targets(image)
    # (the address files without a known owner are attributed to, what the layer is, its contents)
    gets: list[tuple[Address, str, Get[OciSbomContents]]] = []
    undescribed = []
    for t in layers:
        what = f"{t.alias} {t.address}"
        request_type = None if isinstance(t, OciLayerTarget) else _sbom_request_type(t, union_membership)
        if isinstance(t, OciLayerTarget):
            gets.append(
                (t.address, what, Get(OciSbomContents, _LayerContentsRequest(oci_layer_request(t, compression))))
            )
        elif request_type is not None:
            gets.append((t.address, what, Get(OciSbomContents, OciSbomContentsRequest, request_type(t))))
        else:
            undescribed.append(what)
    if image[OciImageDependenciesField].value:
        platforms = tuple(Platform.parse(p) for p in image[OciImagePlatformsField].value)
        base = await Get(ImageBase, ImageBaseRequest(image.address, platforms))
        layer = dependencies_layer_request(image, base, layers, compression)
        gets.append((image.address, layer.what, Get(OciSbomContents, _LayerContentsRequest(layer))))
    contents = await MultiGet(get for _, _, get in gets)
    # The image's layers recorded the SHA1 of every file they hold (`ImageFileSha1s`).
    hashed = await MultiGet(
        Get(ContributedFiles, ContributedFilesRequest(c.files, c.owners, str(owner), what, request.image))
        for (owner, what, _), c in zip(gets, contents)
    )
    by_path = {f.path: f for found in hashed for f in found.files}  # a later layer's file wins
    packages = {p for c in contents for p in c.packages}
    return ImageContents(
        files=tuple(by_path[p] for p in sorted(by_path)),
        packages=tuple(sorted(packages)),
        undescribed=tuple(undescribed),
    )


def rules():
    return collect_rules()
