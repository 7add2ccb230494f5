"""`pants package` for `oci_image`: write an OCI image layout under dist/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, cast

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.util_rules.environments import EnvironmentField
from pants.engine.addresses import Address
from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership, UnionRule

from ocikit.layout import OCI_LAYOUT_BYTES, layout_index
from pants_oci.extensions import OciPackageOutputs, OciPackageOutputsRequest
from pants_oci.image_fields import (
    OciImageOutputPathField,
    OciImagePlatformsField,
    OciImageRepositoryField,
    OciImageTagsField,
)
from pants_oci.registries import image_repository
from pants_oci.stamping import has_placeholders
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest


@dataclass(frozen=True)
class BuiltOciImageArtifact(BuiltPackageArtifact):
    """The layout directory of one image, with what `publish` needs to push it."""

    digest: str = ""
    media_type: str = ""
    repository: str = ""  # as the field holds it: it may hold stamp placeholders
    tags: tuple[str, ...] = ()  # likewise; publish stamps both (util_rules/stamp.py)
    mount_sources: tuple[str, ...] = ()  # registry/repository the base layers came from
    base_repositories: tuple[str, ...] = ()  # repositories of oci_image bases, in any registry

    @property
    def layout(self) -> str:
        """The layout directory (`relpath`, which an image's artifact always has)."""
        assert self.relpath is not None
        return self.relpath


@dataclass(frozen=True)
class OciImageFieldSet(PackageFieldSet):
    required_fields = (OciImagePlatformsField,)

    output_path: OciImageOutputPathField
    repository: OciImageRepositoryField
    tags: OciImageTagsField
    # Where its layer and pull processes run (`[environments-preview].names`).
    environment: EnvironmentField

    def repository_name(self, oci: OciSubsystem) -> str:
        return image_repository(self.repository.value, self.address, oci.default_repository)


def _output_paths(address: Address, outputs: Sequence[OciPackageOutputs]) -> list[str]:
    paths = [path for o in outputs for path in o.paths]
    if len(set(paths)) != len(paths):
        raise ValueError(f"Two extensions write the same file next to the layout of {address}: {sorted(paths)}")
    return paths


@rule(desc="Package an OCI image layout")
async def package_oci_image(
    field_set: OciImageFieldSet, oci: OciSubsystem, union_membership: UnionMembership
) -> BuiltPackage:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(field_set.address, description_of_origin="oci_image"))
    output_dir = field_set.output_path.value_or_default(file_ending=None)
    # What `OciPackageOutputsRequest` implementations write beside the layout, asked for with the
    # image itself so that their work runs while it builds.
    extensions = sorted(
        (t for t in union_membership.get(OciPackageOutputsRequest) if t.is_applicable(wrapped.target)),
        key=lambda t: (t.__module__, t.__name__),
    )
    gets: list[Get[Any]] = [
        Get(BuiltOciImage, OciImageRequest(field_set.address)),
        *(Get(OciPackageOutputs, OciPackageOutputsRequest, t(wrapped.target, output_dir)) for t in extensions),
    ]
    results = await MultiGet(gets)
    image = cast(BuiltOciImage, results[0])
    outputs = cast("list[OciPackageOutputs]", list(results[1:]))
    top = image.top
    repository = field_set.repository_name(oci)
    tags = tuple(field_set.tags.value or ())
    # Stamped names exist at publish only: the layout records the literal ones.
    literal_tags = tuple(t for t in tags if not has_placeholders(t))
    literal_repository = None if has_placeholders(repository) else repository
    metadata = await Get(
        Digest,
        CreateDigest(
            [
                FileContent("oci-layout", OCI_LAYOUT_BYTES),
                FileContent("index.json", layout_index(top, literal_tags, literal_repository)),
            ]
        ),
    )
    layout = await Get(Digest, MergeDigests([metadata, image.blobs]))
    extra_paths = _output_paths(field_set.address, outputs)
    placed = await Get(Digest, AddPrefix(layout, output_dir))
    digest = await Get(Digest, MergeDigests([placed, *(o.digest for o in outputs)]))
    platforms = ", ".join(str(img.platform) for img in image.images)
    artifact = BuiltOciImageArtifact(
        relpath=output_dir,
        extra_log_lines=(
            f"    {repository}@{top.digest}",
            f"    tags: {', '.join(tags) or '(none)'}; platforms: {platforms}",
        ),
        digest=top.digest,
        media_type=top.media_type,
        repository=repository,
        tags=tags,
        mount_sources=image.mount_sources,
        base_repositories=image.base_repositories,
    )
    return BuiltPackage(digest, (artifact, *(BuiltPackageArtifact(relpath=p) for p in extra_paths)))


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, OciImageFieldSet)]
