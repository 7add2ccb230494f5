"""An image's `base` -> the base image for each platform, and the blobs and mount sources it brings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pants.build_graph.address import ResolveError
from pants.engine.addresses import Address, AddressInput
from pants.engine.fs import EMPTY_DIGEST, Digest, DigestSubset, PathGlobs
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException, Target, WrappedTarget, WrappedTargetRequest

from ocikit.image import Platform, PlatformImage
from ocikit.layout import blob_path
from ocikit.lockfile import lock_key
from ocikit.reference import Reference
from pants_oci.base_lockfile_pins import pin_pull_reference
from pants_oci.bases import BaseKind, base_address, describe_cycle, parse_base
from pants_oci.field_validation import FieldName
from pants_oci.image_fields import OciImageBaseField, OciImageRepositoryField
from pants_oci.pull_fields import OciPullImageField
from pants_oci.registries import image_repository
from pants_oci.stamping import has_placeholders
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciImageTarget, OciPullTarget
from pants_oci.util_rules.base_lockfile import (
    BaseImageLockfile,
    BaseImageLockfileRequest,
    check_locked_platforms,
)
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.pull import LockfilePin, PulledImage, PullImageRequest

_BASE_ACCEPTED = (
    "a base must be 'scratch', an `oci_image` or `oci_pull` target, or an image reference "
    "pinned by digest (registry/repository@sha256:...)"
)


@dataclass(frozen=True)
class ImageBaseRequest:
    image: Address  # the oci_image whose `base` to resolve
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class ImageBase:
    """What an image starts from. Scratch has no images and no blobs."""

    name: str  # how errors name the base
    images: tuple[PlatformImage, ...]
    layer_blobs: Digest  # the base's layers at blobs/sha256/<hex> (its manifests are not reused)
    mount_sources: tuple[str, ...] = ()  # registry/repository of pulled bases, for mounts
    repositories: tuple[str, ...] = ()  # repositories of oci_image bases (mount sources)
    target: Address | None = None  # the base target, when `base` names one

    @property
    def is_scratch(self) -> bool:
        return not self.images


SCRATCH_BASE = ImageBase("scratch", (), EMPTY_DIGEST)


async def _target(address: Address, origin: str = "oci_image") -> Target:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(address, description_of_origin=origin))
    return wrapped.target


async def _resolve_base_target(value: str, image: Target) -> Target:
    """The target a `base` address names, which must be an oci_image or oci_pull."""
    origin = f"the `base` field of {image.address}"
    try:
        address = await Get(
            Address,
            AddressInput,
            AddressInput.parse(value, relative_to=image.address.spec_path, description_of_origin=origin),
        )
        target = await _target(address, origin)
    except (ResolveError, AddressParseException) as e:
        raise InvalidFieldException(
            f"The `base` field in target {image.address} has an invalid value {value!r}: it names "
            f"no target ({e}); {_BASE_ACCEPTED}"
        ) from e
    if not isinstance(target, (OciImageTarget, OciPullTarget)):
        raise InvalidFieldException(
            f"The `base` field in target {image.address} has an invalid value {value!r}: "
            f"{target.address} is a `{target.alias}` target, but {_BASE_ACCEPTED}"
        )
    return target


async def _base_target_of_acyclic_chain(image: Target, value: str) -> Target:
    """The base target named by `value`, after following bases from it never comes back."""
    chain = [image.address]
    current, first = image, None
    spec: Optional[str] = value
    while spec is not None:
        base = await _resolve_base_target(spec, current)
        first = first or base
        cycle = describe_cycle(chain, base.address)
        if cycle:
            raise InvalidFieldException(
                f"The `base` field in target {current.address} makes a cycle of images: {cycle}. "
                "An image cannot be built on itself."
            )
        chain.append(base.address)
        current = base
        spec = base_address(base[OciImageBaseField].value) if base.has_field(OciImageBaseField) else None
    assert first is not None
    return first


async def pull_target_reference(target: Target) -> tuple[Reference, BaseImageLockfile | None]:
    """The reference an `oci_pull` is built from: its digest, or the lockfile's for its tag
    (with the lockfile it came from)."""
    reference = target[OciPullImageField].reference
    if reference.digest:
        return reference, None
    lockfile = await Get(BaseImageLockfile, BaseImageLockfileRequest())
    field = FieldName(OciPullImageField.alias, target.address)
    pinned = pin_pull_reference(field, reference, lockfile.lock, lockfile.regenerate_command)
    return pinned, lockfile


async def _pulled_base(
    reference: Reference,
    request: ImageBaseRequest,
    target: Address | None,
    lockfile: BaseImageLockfile | None = None,
) -> ImageBase:
    pin = None if lockfile is None else LockfilePin(lockfile.path, lock_key(reference), lockfile.regenerate_command)
    pulled = await Get(PulledImage, PullImageRequest(reference, request.platforms, f"oci_image {request.image}", pin))
    if lockfile is not None:
        check_locked_platforms(
            lockfile, reference, {str(image.platform): image.manifest.descriptor.digest for image in pulled.images}
        )
    return ImageBase(
        name=str(reference),
        images=pulled.images,
        layer_blobs=await _layer_blobs(pulled.blobs, pulled.images),
        mount_sources=(reference.name,),
        target=target,
    )


async def _built_base(target: Target, oci: OciSubsystem) -> ImageBase:
    built = await Get(BuiltOciImage, OciImageRequest(target.address))
    own = image_repository(target[OciImageRepositoryField].value, target.address, oci.default_repository)
    return ImageBase(
        name=str(target.address),
        images=built.images,
        layer_blobs=await _layer_blobs(built.blobs, built.images),
        mount_sources=built.mount_sources,
        # A stamped repository is known at publish only: no mount source then.
        repositories=(*(() if has_placeholders(own) else (own,)), *built.base_repositories),
        target=target.address,
    )


async def _layer_blobs(blobs: Digest, images: tuple[PlatformImage, ...]) -> Digest:
    paths = sorted({blob_path(layer.descriptor.digest) for image in images for layer in image.layers})
    return await Get(Digest, DigestSubset(blobs, PathGlobs(paths)))


@rule(desc="Resolve the base of an OCI image")
async def resolve_image_base(request: ImageBaseRequest, oci: OciSubsystem) -> ImageBase:
    image = await _target(request.image)
    spec = parse_base(FieldName(OciImageBaseField.alias, image.address), image[OciImageBaseField].value)
    if spec.kind is BaseKind.scratch:
        return SCRATCH_BASE
    if spec.kind is BaseKind.reference:
        assert spec.reference is not None
        return await _pulled_base(spec.reference, request, None)
    target = await _base_target_of_acyclic_chain(image, spec.value)
    if isinstance(target, OciPullTarget):
        reference, lockfile = await pull_target_reference(target)
        return await _pulled_base(reference, request, target.address, lockfile)
    return await _built_base(target, oci)


def rules():
    return collect_rules()
