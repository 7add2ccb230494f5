"""An `oci_image`'s own layers -> the first-party files and third-party packages they hold.

The layers are found as the image rule finds them (the same requests, so every answer is the
image build's own, memoized): each `oci_layer` in `layers` and the image's `dependencies` layer
by how the image built it (`LayerSbomFilesRequest`), and through `OciSbomContentsRequest` what
another backend builds (an `oci_python_app`). A path two layers hold is the later layer's, as
in the image's filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.fs import Digest
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, Targets, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership

from ocikit.image import Platform
from ocikit.sbom.model import SbomPackage
from pants_oci.extensions import OciSbomContents, OciSbomContentsRequest
from pants_oci.image_fields import OciImageDependenciesField, OciImageLayersField, OciImagePlatformsField
from pants_oci.sbom.files import ContributedFiles, ContributedFilesRequest, LayerSbomFiles, LayerSbomFilesRequest
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image import dependencies_layer_request, image_compression, oci_layer_request
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.layer_inputs import OciLayerRequest
from pants_oci.util_rules.layer_shards import LayerShardsRequest
from pants_oci.util_rules.settings import OciBuildSettings


@dataclass(frozen=True)
class ImageContentsRequest:
    image: Address


@dataclass(frozen=True)
class ImageContents:
    # Each layer's files (`ContributedFiles.listing`; an oci_layer's one per process), in the
    # image's order: a path two layers hold is the later one's.
    file_lists: tuple[Digest, ...]
    packages: tuple[SbomPackage, ...]  # sorted
    undescribed: tuple[str, ...] = ()  # layers no rule describes (named for the document's notes)


def _sbom_request_type(layer: Target, union_membership: UnionMembership) -> type | None:
    """The `OciSbomContentsRequest` implementation that describes a target of another backend."""
    return next((t for t in union_membership.get(OciSbomContentsRequest) if t.is_applicable(layer)), None)


async def _layer_targets(image: Target) -> Targets:
    return await Get(Targets, UnparsedAddressInputs, image[OciImageLayersField].to_unparsed_address_inputs())


def _described(owner: Address, what: str, contents: OciSbomContents, image: Address) -> ContributedFilesRequest:
    """Another backend's files, matched against the SHA1s the image's layers recorded."""
    return ContributedFilesRequest(contents.files, contents.owners, str(owner), what, image)


def _shards_of(built: BuiltOciImage, layer: OciLayerRequest) -> LayerShardsRequest:
    """How the image built `layer` (the image rule records every oci_layer it built)."""
    for shards in built.layer_shards:
        if shards.layer.layer == layer:
            return shards
    raise AssertionError(f"the image {built.address} did not record how it built {layer.what}")


@rule(desc="List what the layers of an OCI image hold, for its SBOM")
async def image_contents(
    request: ImageContentsRequest, settings: OciBuildSettings, union_membership: UnionMembership
) -> ImageContents:
    wrapped, built = await MultiGet(
        Get(WrappedTarget, WrappedTargetRequest(request.image, description_of_origin="oci_image")),
        Get(BuiltOciImage, OciImageRequest(request.image)),
    )
    image = wrapped.target
    compression = image_compression(image, settings)
    layers = await _layer_targets(image)
    # In the image's order: an oci_layer (how the image built it), or another backend's target
    # (the address its files are attributed to, what it is, and what describes its contents).
    slots: list[LayerShardsRequest | tuple[Address, str, Get[OciSbomContents]]] = []
    undescribed = []
    for t in layers:
        what = f"{t.alias} {t.address}"
        request_type = None if isinstance(t, OciLayerTarget) else _sbom_request_type(t, union_membership)
        if isinstance(t, OciLayerTarget):
            slots.append(_shards_of(built, oci_layer_request(t, compression)))
        elif request_type is not None:
            slots.append((t.address, what, Get(OciSbomContents, OciSbomContentsRequest, request_type(t))))
        else:
            undescribed.append(what)
    if image[OciImageDependenciesField].value:
        platforms = tuple(Platform.parse(p) for p in image[OciImagePlatformsField].value)
        base = await Get(ImageBase, ImageBaseRequest(image.address, platforms))
        slots.append(_shards_of(built, dependencies_layer_request(image, base, layers, compression)))
    contents = await MultiGet(s[2] for s in slots if isinstance(s, tuple))
    described = iter(contents)
    requests = [
        LayerSbomFilesRequest(s)
        if isinstance(s, LayerShardsRequest)
        else _described(s[0], s[1], next(described), request.image)
        for s in slots
    ]
    gets: list[Get[Any]] = [
        Get(LayerSbomFiles, LayerSbomFilesRequest, r)
        if isinstance(r, LayerSbomFilesRequest)
        else Get(ContributedFiles, ContributedFilesRequest, r)
        for r in requests
    ]
    listed = await MultiGet(gets)
    listings = [
        listing
        for found in listed
        for listing in (found.listings if isinstance(found, LayerSbomFiles) else (found.listing,))
    ]
    packages = {p for c in contents for p in c.packages}
    return ImageContents(
        file_lists=tuple(listings),
        packages=tuple(sorted(packages)),
        undescribed=tuple(undescribed),
    )


def rules():
    return collect_rules()
