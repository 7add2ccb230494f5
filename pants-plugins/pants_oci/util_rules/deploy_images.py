"""An `oci_deploy_manifests` target -> its YAML files, their `image:` values and the
`oci_image` each one names; dependency inference from the same answer.

Parsing happens in the rule (PyYAML's safe composer, bounded by `ocikit.yaml_images`): the
files are small, reading them is pure, and a process would only add its start-up time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.build_graph.address import ResolveError
from pants.engine.addresses import Address, AddressInput
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict

from ocikit.yaml_images import ImageValue, ManifestYamlError, find_image_values
from pants_oci.deploy_fields import OciDeployDependenciesField, OciDeploySourcesField
from pants_oci.deploy_images import (
    DeployImageError,
    ImageValueKind,
    KnownImage,
    classify_image_value,
    describe_value,
    image_of_repository,
)
from pants_oci.image_fields import OciImageRepositoryField, OciImageTagsField
from pants_oci.registries import image_repository
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciImageTarget
from pants_oci.util_rules.targets_with_field import TargetsWithFieldRequest


@dataclass(frozen=True)
class KnownImages:
    """Every `oci_image` with its repository and tags, for values that name a repository."""

    images: tuple[KnownImage, ...]


@rule(desc="List the repositories of the OCI images")
async def known_oci_images(oci: OciSubsystem) -> KnownImages:
    images = await Get(Targets, TargetsWithFieldRequest(OciImageRepositoryField, "the images of deploy manifests"))
    return KnownImages(
        tuple(
            KnownImage(
                t.address,
                image_repository(t[OciImageRepositoryField].value, t.address, oci.default_repository),
                tuple(t[OciImageTagsField].value or ()),
            )
            for t in images
            if isinstance(t, OciImageTarget)
        )
    )


@dataclass(frozen=True)
class DeployImagesRequest:
    address: Address  # the oci_deploy_manifests target
    sources: OciDeploySourcesField
    strict: bool = True  # False (inference): skip values that name nothing, `package` reports them


@dataclass(frozen=True)
class DeployManifestFile:
    path: str
    content: bytes
    values: tuple[ImageValue, ...]


@dataclass(frozen=True)
class DeployImages:
    files: tuple[DeployManifestFile, ...]
    images: FrozenDict[str, Address]  # image value -> the oci_image it names (ours only)


async def _read_files(request: DeployImagesRequest) -> tuple[DeployManifestFile, ...]:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(request.sources))
    contents = await Get(DigestContents, Digest, hydrated.snapshot.digest)
    files = []
    for file in contents:
        try:
            values = find_image_values(file.content, file.path)
        except ManifestYamlError as e:
            raise ManifestYamlError(f"{e} (in the `sources` of {request.address})") from None
        files.append(DeployManifestFile(file.path, file.content, values))
    return tuple(files)


def no_target_message(origin: str, pants_message: str) -> str:
    """One line for an address value naming no target. Pants' own message quotes the origin
    it was given (which ours starts with) and lists its suggestions on lines of their own."""
    lines = [line.strip() for line in pants_message.replace(f" from {origin}", "").splitlines() if line.strip()]
    names = [line[2:] for line in lines if line.startswith("* ")]
    text = " ".join(line for line in lines if not line.startswith("* "))
    if names:
        text = text.replace("Did you mean one of these target names?", f"Did you mean one of: {', '.join(names)}?")
    return f"{origin} names no target: {text}"


async def _oci_image_at(value: ImageValue, request: DeployImagesRequest) -> Address:
    """The `oci_image` an address value names, else a DeployImageError saying what it is."""
    origin = describe_value(str(request.address), value)
    try:
        address = await Get(
            Address,
            AddressInput,
            AddressInput.parse(value.value, relative_to=request.address.spec_path, description_of_origin=origin),
        )
        wrapped = await Get(WrappedTarget, WrappedTargetRequest(address, description_of_origin=origin))
    except (ResolveError, AddressParseException) as e:
        raise DeployImageError(no_target_message(origin, str(e))) from None
    if not isinstance(wrapped.target, OciImageTarget):
        raise DeployImageError(
            f"{origin} names {address}, a `{wrapped.target.alias}` target: an image value may name "
            "only `oci_image` targets"
        )
    return address


async def _image_named_by(value: ImageValue, request: DeployImagesRequest) -> Address | None:
    try:
        spec = classify_image_value(value.value)
        if spec.kind is ImageValueKind.external:
            return None
        if spec.kind is ImageValueKind.address:
            return await _oci_image_at(value, request)
        known = await Get(KnownImages)
        return image_of_repository(spec, known.images).address
    except DeployImageError as e:
        if not request.strict:
            return None
        message = str(e)
        prefix = describe_value(str(request.address), value)
        raise DeployImageError(message if message.startswith(prefix) else f"{prefix}: {message}") from None


@rule(desc="Find the OCI images deploy manifests name")
async def resolve_deploy_images(request: DeployImagesRequest) -> DeployImages:
    files = await _read_files(request)
    first_of: dict[str, ImageValue] = {}
    for file in files:
        for value in file.values:
            first_of.setdefault(value.value, value)
    images = {}
    for text, value in sorted(first_of.items()):
        address = await _image_named_by(value, request)
        if address is not None:
            images[text] = address
    return DeployImages(files, FrozenDict(images))


@dataclass(frozen=True)
class OciDeployInferenceFieldSet(FieldSet):
    required_fields = (OciDeploySourcesField, OciDeployDependenciesField)

    sources: OciDeploySourcesField
    dependencies: OciDeployDependenciesField


class InferOciDeployDependencies(InferDependenciesRequest):
    infer_from = OciDeployInferenceFieldSet


@rule(desc="Infer the OCI images deploy manifests name")
async def infer_oci_deploy_dependencies(request: InferOciDeployDependencies) -> InferredDependencies:
    field_set = request.field_set
    found = await Get(DeployImages, DeployImagesRequest(field_set.address, field_set.sources, strict=False))
    return InferredDependencies(sorted(set(found.images.values())))


def rules():
    return [*collect_rules(), UnionRule(InferDependenciesRequest, InferOciDeployDependencies)]
