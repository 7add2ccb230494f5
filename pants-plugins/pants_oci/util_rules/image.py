"""An `oci_image` target -> its configs, manifests, index and every blob it needs.

The steps, as go-containerregistry's `mutate`: where the image is pushed (which decides `auto`
compression), its base, its own layers, what extensions add, then the configs and manifests
composed on the base, and the blobs they name.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.addresses import UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException, Target, Targets, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership
from pants.util.frozendict import FrozenDict

from ocikit.image import Blob, ConfigMutations, Platform, PlatformImage
from ocikit.layout import blob_path
from pants_oci.bases import BasePlatformError
from pants_oci.composition import (
    AnnotationConflict,
    EntrypointConflict,
    compose_images,
    config_mutations,
    merge_annotations,
    with_layer_defaults,
)
from pants_oci.extensions import OciImageExtension, OciImageExtensionRequest, OciLayers, OciLayersRequest
from pants_oci.image_fields import (
    OciImageAnnotationsField,
    OciImageDependenciesField,
    OciImageLayersField,
    OciImagePlatformsField,
    OciImageRegistriesField,
    OciImageSkipPushField,
)
from pants_oci.layer_fields import (
    OciLayerDependenciesField,
    OciLayerDestinationField,
    OciLayerOwnerField,
    OciLayerShardSizeField,
    OciLayerSymlinksField,
)
from pants_oci.registries import OciRegistries, OciRegistry
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.base import ImageBase, ImageBaseRequest
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.layer_inputs import OciLayerRequest
from pants_oci.util_rules.layer_shards import ImageLayers, ImageLayersRequest, ShardedLayerRequest
from pants_oci.util_rules.layers import BuiltOciLayer
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings

__all__ = [
    "BuiltOciImage",
    "OciImageRequest",
    "dependencies_layer_request",
    "image_compression",
    "oci_layer_request",
    "push_registries",
]


def push_registries(target: Target, registries: OciRegistries) -> tuple[OciRegistry, ...]:
    """The registries `publish` pushes this image to, checked when the image is packaged: an
    unknown alias in its `registries` field fails `package`, not only `publish`."""
    chosen = registries.select(target[OciImageRegistriesField].value, f"the `registries` field of {target.address}")
    return () if target[OciImageSkipPushField].value else tuple(r for r in chosen if not r.skip_push)


@dataclass(frozen=True)
class _ImageContext:
    """What every step of one image's build reads."""

    image: Target
    base: ImageBase
    platforms: tuple[Platform, ...]
    compression: LayerCompression
    settings: OciBuildSettings
    union_membership: UnionMembership


@dataclass(frozen=True)
class _LayerSlot:
    """One entry of an image's layers: an oci_layer request, or a target another backend builds."""

    request: ShardedLayerRequest | None = None
    extension: OciLayersRequest | None = None


def image_compression(image: Target, settings: OciBuildSettings) -> LayerCompression:
    """How the image's layers are compressed (`auto` reads where it is pushed)."""
    return settings.layer_compression(tuple(r.address for r in push_registries(image, settings.registries)))


def oci_layer_request(target: Target, compression: LayerCompression) -> OciLayerRequest:
    uid, gid = target[OciLayerOwnerField].uid_gid()
    return OciLayerRequest(
        address=target.address,
        dependencies=target[OciLayerDependenciesField],
        destination=target[OciLayerDestinationField].value,
        uid=uid,
        gid=gid,
        what=f"oci_layer {target.address}",
        compression=compression,
        symlinks=target[OciLayerSymlinksField].value or FrozenDict(),
    )


def _layer_slot(context: _ImageContext, layer: Target) -> _LayerSlot:
    if isinstance(layer, OciLayerTarget):
        shard_size = layer[OciLayerShardSizeField].bytes_or(context.settings.shard_size)
        return _LayerSlot(request=ShardedLayerRequest(oci_layer_request(layer, context.compression), shard_size))
    for request_type in context.union_membership.get(OciLayersRequest):
        if request_type.is_applicable(layer):
            return _LayerSlot(
                extension=request_type(layer, context.compression, context.base.images, context.platforms)
            )
    raise InvalidFieldException(
        f"The `layers` field in target {context.image.address} names {layer.address}, a "
        f"`{layer.alias}` target: only `oci_layer` and `oci_debian_packages` targets can be layers "
        "(and `oci_python_app` with the `pants_oci.python` backend). Put files in an `oci_layer` (or in this image's "
        "`dependencies`)."
    )


def dependencies_layer_request(
    image: Target, base: ImageBase, layers: Targets, compression: LayerCompression
) -> OciLayerRequest:
    inferred = [t.address for t in layers] + ([base.target] if base.target else [])
    return OciLayerRequest(
        address=image.address,
        dependencies=image[OciImageDependenciesField],
        destination="/",
        uid=0,
        gid=0,
        what=f"oci_image {image.address} (its `dependencies`)",
        compression=compression,
        exclude=tuple(inferred),
    )


async def _own_layers(
    context: _ImageContext, extension_layers: int
) -> tuple[dict[Platform, list[BuiltOciLayer]], list[tuple[str, OciLayers]], ImageLayers]:
    """Per platform, the `layers` in order (each one or more image layers), then the
    `dependencies` layer; what each target another backend turned into layers proposes for
    the config; and how the `oci_layer`s were built. Layers other backends build come first:
    with the base's and the extensions', they decide how many layers shards may use."""
    image, base, platforms = context.image, context.base, context.platforms
    targets = await Get(Targets, UnparsedAddressInputs, image[OciImageLayersField].to_unparsed_address_inputs())
    slots = [_layer_slot(context, t) for t in targets]
    if image[OciImageDependenciesField].value:
        layer = dependencies_layer_request(image, base, targets, context.compression)
        slots.append(_LayerSlot(request=ShardedLayerRequest(layer, context.settings.shard_size)))
    from_others = await MultiGet(Get(OciLayers, OciLayersRequest, s.extension) for s in slots if s.extension)
    others = (
        (f"its base {base.name}", max((len(i.layers) for i in base.images), default=0)),
        ("other target types in its `layers`", sum(o.most_layers for o in from_others)),
        ("extensions", extension_layers),
    )
    requests = tuple(s.request for s in slots if s.request is not None)
    built = await Get(ImageLayers, ImageLayersRequest(image.address, requests, others))
    own, from_extensions = iter(built.per_layer), iter(from_others)
    layers: dict[Platform, list[BuiltOciLayer]] = {p: [] for p in platforms}
    for slot in slots:
        if slot.request is not None:
            shared = next(own)
            for platform in platforms:
                layers[platform].extend(shared)
        else:
            built_by_other = next(from_extensions)
            for platform in platforms:
                layers[platform].extend(built_by_other.for_platform(platform))
    proposers = [str(s.extension.target.address) for s in slots if s.extension]
    return layers, list(zip(proposers, from_others)), built


async def _extensions(
    image: Target, compression: LayerCompression, union_membership: UnionMembership
) -> tuple[list[BuiltOciLayer], dict[str, str]]:
    """The layers and annotations every applicable `OciImageExtensionRequest` adds."""
    request_types = sorted(
        (t for t in union_membership.get(OciImageExtensionRequest) if t.is_applicable(image)),
        key=lambda t: (t.__module__, t.__name__),
    )
    results = await MultiGet(
        Get(OciImageExtension, OciImageExtensionRequest, t(image, compression)) for t in request_types
    )
    own = dict(image[OciImageAnnotationsField].value or {})
    try:
        annotations = merge_annotations(
            own, [(f"the extension {t.__name__}", r.annotations) for t, r in zip(request_types, results)]
        )
    except AnnotationConflict as e:
        raise InvalidFieldException(f"The image {image.address} cannot be built: {e}") from e
    return [layer for r in results for layer in r.layers], annotations


def _config_changes(image: Target, layer_sets: list[tuple[str, OciLayers]]) -> ConfigMutations:
    try:
        return with_layer_defaults(config_mutations(image), [(name, s.entrypoint, s.env) for name, s in layer_sets])
    except EntrypointConflict as e:
        raise InvalidFieldException(f"The image {image.address} needs an `entrypoint` field: {e}.") from e


def _compose(
    image: Target,
    platforms: tuple[Platform, ...],
    base: ImageBase,
    layers: dict[Platform, list[BuiltOciLayer]],
    annotations: dict[str, str],
    created: str,
    changes: ConfigMutations,
) -> tuple[tuple[PlatformImage, ...], Blob | None]:
    try:
        return compose_images(
            platforms,
            base.images,
            {p: [b.layer for b in built] for p, built in layers.items()},
            changes,
            created,
            annotations,
        )
    except BasePlatformError as e:
        available = ", ".join(map(str, e.available))
        raise InvalidFieldException(
            f"The `platforms` field in target {image.address} asks for {e.platform}, but its "
            f"base {base.name} is built for {available} only. Add {e.platform} to the base's "
            "`platforms` or remove it here."
        ) from e


async def _image_blobs(
    images: tuple[PlatformImage, ...], index: Blob | None, base: ImageBase, layers: list[BuiltOciLayer]
) -> Digest:
    small = [b for image in images for b in (image.config, image.manifest)] + ([index] if index else [])
    unique = {b.descriptor.digest: b for b in small}.values()
    small_digest = await Get(Digest, CreateDigest(FileContent(blob_path(b.descriptor.digest), b.data) for b in unique))
    return await Get(Digest, MergeDigests([small_digest, base.layer_blobs, *(b.blob for b in layers)]))


def _unique_layers(layers: dict[Platform, list[BuiltOciLayer]]) -> list[BuiltOciLayer]:
    """Each layer once, in the order the platforms first use it (two platforms often share one)."""
    unique: dict[str, BuiltOciLayer] = {}
    for built in layers.values():
        for b in built:
            unique.setdefault(b.layer.descriptor.digest, b)
    return list(unique.values())


@rule(desc="Build an OCI image")
async def build_oci_image(
    request: OciImageRequest, settings: OciBuildSettings, union_membership: UnionMembership
) -> BuiltOciImage:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.address, description_of_origin="oci_image"))
    image = wrapped.target
    compression = image_compression(image, settings)
    platforms = tuple(Platform.parse(p) for p in image[OciImagePlatformsField].value)
    base = await Get(ImageBase, ImageBaseRequest(image.address, platforms))
    context = _ImageContext(image, base, platforms, compression, settings, union_membership)
    extra_layers, annotations = await _extensions(image, compression, union_membership)
    own_layers, layer_sets, own_built = await _own_layers(context, len(extra_layers))
    layers = {platform: [*own_layers[platform], *extra_layers] for platform in platforms}
    changes = _config_changes(image, layer_sets)
    images, index = _compose(image, platforms, base, layers, annotations, settings.created, changes)
    unique = _unique_layers(layers)
    blobs = await _image_blobs(images, index, base, unique)
    sha1s = tuple(b.file_sha1s for b in unique)
    return BuiltOciImage(
        image.address, images, index, blobs, base.mount_sources, base.repositories, sha1s, own_built.shards
    )


def rules():
    return collect_rules()
