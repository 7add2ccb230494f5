"""An `oci_image` target -> its configs, manifests, index and every blob it needs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants_oci.field_validation import parse_owner, validate_pinned_reference
from pants_oci.target_types import (
    OciImageAnnotationsField,
    OciImageBaseField,
    OciImageCmdField,
    OciImageDependenciesField,
    OciImageEntrypointField,
    OciImageEnvField,
    OciImageExposedPortsField,
    OciImageLabelsField,
    OciImageLayersField,
    OciImagePlatformsField,
    OciImageRegistriesField,
    OciImageRepositoryField,
    OciImageSkipPushField,
    OciImageStopSignalField,
    OciImageTarget,
    OciImageUserField,
    OciImageVolumesField,
    OciImageWorkdirField,
    OciLayerDependenciesField,
    OciLayerDestinationField,
    OciLayerOwnerField,
    OciLayerTarget,
    OciPullImageField,
    OciPullTarget,
)
from pants_oci.registries import image_repository, parse_registries, select_registries
from pants_oci.subsystem import Compression, OciSubsystem
from pants_oci.util_rules.dependencies import base_address_spec
from pants_oci.util_rules.layers import BuiltOciLayer, LayerInputs, OciLayerRequest
from pants_oci.util_rules.pull import PulledImage, PullImageRequest
from pants_oci.util_rules.settings import OciBuildSettings
from pants.engine.addresses import Address, AddressInput, UnparsedAddressInputs
from pants.engine.fs import (
    EMPTY_DIGEST,
    CreateDigest,
    Digest,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    InvalidFieldException,
    Target,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)

from ocikit.image import (
    Blob,
    ConfigMutations,
    Descriptor,
    Platform,
    PlatformImage,
    build_index,
    build_platform_image,
)
from ocikit.layout import blob_path
from ocikit.reference import parse_reference

SCRATCH = "scratch"


@dataclass(frozen=True)
class OciImageRequest:
    address: Address


@dataclass(frozen=True)
class BuiltOciImage:
    address: Address
    images: tuple[PlatformImage, ...]
    index: Blob | None  # set when the image has several platforms
    blobs: Digest  # every blob of the image (its base's too) at blobs/sha256/<hex>
    mount_sources: tuple[str, ...] = ()  # registry/repository of pulled bases, for mounts
    base_repositories: tuple[str, ...] = ()  # repositories of oci_image bases (mount sources)

    @property
    def top(self) -> Descriptor:
        if self.index is not None:
            return self.index.descriptor
        manifest = self.images[0].manifest.descriptor
        return Descriptor(manifest.media_type, manifest.digest, manifest.size)


async def _resolve_image_target(value: str, origin: Target, field_alias: str) -> Target:
    description = f"the `{field_alias}` field of {origin.address}"
    try:
        address = await Get(
            Address,
            AddressInput,
            AddressInput.parse(value, relative_to=origin.address.spec_path, description_of_origin=description),
        )
        wrapped = await Get(WrappedTarget, WrappedTargetRequest(address, description_of_origin=description))
    except Exception as e:
        raise InvalidFieldException(
            f"The `{field_alias}` field in target {origin.address} has an invalid value {value!r}: "
            f"expected '{SCRATCH}' or the address of an `oci_image` target ({e})"
        ) from e
    if not isinstance(wrapped.target, (OciImageTarget, OciPullTarget)):
        raise InvalidFieldException(
            f"The `{field_alias}` field in target {origin.address} has an invalid value {value!r}: "
            f"{wrapped.target.address} is a `{wrapped.target.alias}` target, but a base must be "
            f"'{SCRATCH}', an `oci_image` or `oci_pull` target, or an image reference pinned "
            "by digest (registry/repository@sha256:...)"
        )
    return wrapped.target


def _is_reference(value: str) -> bool:
    return "@" in value


def _base_address(target: Target) -> str | None:
    """The `base` of an `oci_image` when it is an address (not scratch, not a registry image)."""
    if not target.has_field(OciImageBaseField):
        return None  # an oci_pull target: the chain ends here
    return base_address_spec(target[OciImageBaseField].value)


async def _base_chain_is_acyclic(target: Target) -> Target | None:
    """The base target of `target`, after checking that following bases never loops."""
    chain = [target.address]
    current, first_base = target, None
    while _base_address(current) is not None:
        base = await _resolve_image_target(_base_address(current), current, "base")
        if first_base is None:
            first_base = base
        if base.address in chain:
            cycle = " -> ".join(str(a) for a in [*chain[chain.index(base.address):], base.address])
            raise InvalidFieldException(
                f"The `base` field in target {current.address} makes a cycle of images: {cycle}. "
                "An image cannot be built on itself."
            )
        chain.append(base.address)
        current = base
    return first_base


def _mutations(target: Target) -> ConfigMutations:
    def tup(field):
        value = target[field].value
        return tuple(value) if value is not None else None

    return ConfigMutations(
        entrypoint=tup(OciImageEntrypointField),
        cmd=tup(OciImageCmdField),
        env=tuple((target[OciImageEnvField].value or {}).items()),
        user=target[OciImageUserField].value,
        workdir=target[OciImageWorkdirField].value,
        labels=tuple(sorted((target[OciImageLabelsField].value or {}).items())),
        exposed_ports=tuple(target[OciImageExposedPortsField].value or ()),
        volumes=tuple(target[OciImageVolumesField].value or ()),
        stop_signal=target[OciImageStopSignalField].value,
    )


def _layer_request(
    target: Target, compression: tuple[Compression, int | None]
) -> OciLayerRequest:
    uid, gid = parse_owner(target[OciLayerOwnerField], target[OciLayerOwnerField].value)
    return OciLayerRequest(
        address=target.address,
        dependencies=target[OciLayerDependenciesField],
        destination=target[OciLayerDestinationField].value,
        uid=uid,
        gid=gid,
        what=f"oci_layer {target.address}",
        compression=compression[0],
        level=compression[1],
    )


def _push_addresses(target: Target, oci: OciSubsystem) -> tuple[str, ...]:
    """The registries `publish` will push this image to (what `[oci].compression = auto` reads)."""
    if target[OciImageSkipPushField].value:
        return ()
    registries = select_registries(
        parse_registries(oci.registries),
        target[OciImageRegistriesField].value,
        f"the `registries` field of {target.address}",
    )
    return tuple(r.address for r in registries if not r.skip_push)


@rule(desc="Build an OCI image")
async def build_oci_image(
    request: OciImageRequest, settings: OciBuildSettings, oci: OciSubsystem
) -> BuiltOciImage:
    wrapped = await Get(
        WrappedTarget, WrappedTargetRequest(request.address, description_of_origin="oci_image")
    )
    target = wrapped.target
    base_target = await _base_chain_is_acyclic(target)
    layer_targets = await Get(
        Targets, UnparsedAddressInputs, target[OciImageLayersField].to_unparsed_address_inputs()
    )
    for layer_target in layer_targets:
        if not isinstance(layer_target, OciLayerTarget):
            raise InvalidFieldException(
                f"The `layers` field in target {target.address} names {layer_target.address}, "
                f"a `{layer_target.alias}` target: only `oci_layer` targets can be layers. "
                "Put files in an `oci_layer` (or in this image's `dependencies`)."
            )
    compression = settings.layer_compression(
        _push_addresses(target, oci) if settings.needs_destinations else ()
    )
    layer_requests = [_layer_request(t, compression) for t in layer_targets]
    if target[OciImageDependenciesField].value:
        inferred = [t.address for t in layer_targets] + ([base_target.address] if base_target else [])
        layer_requests.append(
            OciLayerRequest(
                address=target.address,
                dependencies=target[OciImageDependenciesField],
                destination="/",
                uid=0,
                gid=0,
                what=f"oci_image {target.address} (its `dependencies`)",
                compression=compression[0],
                level=compression[1],
                exclude=tuple(inferred),
            )
        )
    # Collect every layer's inputs, then ask for the builds biggest first: with fewer process
    # slots than layers, the longest build then starts first instead of queueing behind small
    # ones (a small layer's inputs are ready sooner, so it would otherwise win the first slot).
    inputs = await MultiGet(Get(LayerInputs, OciLayerRequest, r) for r in layer_requests)
    order = sorted(range(len(layer_requests)), key=lambda i: -inputs[i].size)
    built_in_order = await MultiGet(
        Get(BuiltOciLayer, OciLayerRequest, layer_requests[i]) for i in order
    )
    built_layers = [built for _, built in sorted(zip(order, built_in_order), key=lambda p: p[0])]
    platforms = [Platform.parse(p) for p in target[OciImagePlatformsField].value]
    base_value = target[OciImageBaseField].value or SCRATCH
    base: BuiltOciImage | PulledImage | None = None
    if _is_reference(base_value):
        validate_pinned_reference(target[OciImageBaseField], base_value)
        base = await Get(
            PulledImage,
            PullImageRequest(parse_reference(base_value), tuple(platforms), f"oci_image {target.address}"),
        )
    elif isinstance(base_target, OciPullTarget):
        base = await Get(
            PulledImage,
            PullImageRequest(
                parse_reference(base_target[OciPullImageField].value),
                tuple(platforms),
                f"oci_image {target.address}",
            ),
        )
    elif base_target is not None:
        base = await Get(BuiltOciImage, OciImageRequest(base_target.address))
    annotations = dict(target[OciImageAnnotationsField].value or {})
    mutations = _mutations(target)
    images = []
    for platform in platforms:
        base_image = _for_platform(base.images, platform) if base else None
        if base and base_image is None:
            available = ", ".join(str(img.platform) for img in base.images)
            raise InvalidFieldException(
                f"The `platforms` field in target {target.address} asks for {platform}, but its "
                f"base {_name_of(base)} is built for {available} only. Add {platform} to the "
                "base's `platforms` or remove it here."
            )
        images.append(
            build_platform_image(
                platform,
                base_image,
                json.loads(base_image.config.data) if base_image else None,
                [b.layer for b in built_layers],
                mutations,
                settings.created,
                annotations,
            )
        )
    index = build_index(images, annotations) if len(images) > 1 else None
    small_blobs = [b for img in images for b in (img.config, img.manifest)]
    if index is not None:
        small_blobs.append(index)
    small = await Get(
        Digest,
        CreateDigest(
            FileContent(blob_path(b.descriptor.digest), b.data)
            for b in {b.descriptor.digest: b for b in small_blobs}.values()
        ),
    )
    # Only the base's layers: its own manifests and configs are not referenced here.
    base_layers = (
        await Get(
            Digest,
            DigestSubset(
                base.blobs,
                PathGlobs(sorted({blob_path(l.descriptor.digest) for i in base.images for l in i.layers})),
            ),
        )
        if base
        else EMPTY_DIGEST
    )
    blobs = await Get(
        Digest, MergeDigests([small, base_layers, *(b.blob for b in built_layers)])
    )
    mount_sources: tuple[str, ...] = ()
    base_repositories: tuple[str, ...] = ()
    if isinstance(base, PulledImage):
        mount_sources = (base.reference.name,)
    elif isinstance(base, BuiltOciImage) and base_target is not None:
        mount_sources = base.mount_sources
        own = image_repository(
            base_target[OciImageRepositoryField].value, base_target.address, oci.default_repository
        )
        base_repositories = (own, *base.base_repositories)
    return BuiltOciImage(
        target.address, tuple(images), index, blobs, mount_sources, base_repositories
    )


def _for_platform(images: tuple[PlatformImage, ...], platform: Platform) -> PlatformImage | None:
    return next((img for img in images if img.platform == platform), None)


def _name_of(base: BuiltOciImage | PulledImage) -> str:
    return str(base.reference) if isinstance(base, PulledImage) else str(base.address)


def rules():
    return collect_rules()
