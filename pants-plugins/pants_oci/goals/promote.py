"""`pants package` and `pants publish` for `oci_promotion`: an image a registry holds, published
to our registries unchanged, by digest.

`package` resolves the source to `registry/repository@sha256:...` (an `oci_pull`'s digest, or the
base-image lockfile's for its tag) and writes `<output_path>.promotion.json`: no registry is
asked. `publish` plans it with the batch's images (goals/publish_run.py): checked with them,
registered in the run, and copied by the batch's push process (ocikit.registry.promote).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.build_graph.address import ResolveError
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.goals.publish import PublishFieldSet, PublishOutputData, PublishRequest
from pants.engine.addresses import Address, AddressInput
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule

from ocikit.reference import Reference
from pants_oci.field_validation import FieldName, invalid_value
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField
from pants_oci.promotion_fields import (
    SOURCE_ACCEPTED,
    OciPromotionOutputPathField,
    OciPromotionRepositoryField,
    OciPromotionSourceField,
    OciPromotionTagsField,
    parse_pinned_source,
    source_address,
)
from pants_oci.pull_fields import OciPullImageField
from pants_oci.registries import image_repository
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.base import pull_target_reference

PROMOTION_SUFFIX = ".promotion.json"


@dataclass(frozen=True)
class BuiltOciPromotionArtifact(BuiltPackageArtifact):
    """What a promotion copies, with what `publish` needs (the names `BuiltOciImageArtifact` uses)."""

    digest: str = ""
    source: str = ""  # registry/repository@sha256:...
    repository: str = ""
    tags: tuple[str, ...] = ()
    record_relpath: str = ""  # under dist/: the publish record is `<record_relpath>.publish.json`


@dataclass(frozen=True)
class OciPromotionFieldSet(PackageFieldSet):
    required_fields = (OciPromotionSourceField,)

    source: OciPromotionSourceField
    repository: OciPromotionRepositoryField
    tags: OciPromotionTagsField
    output_path: OciPromotionOutputPathField

    def repository_name(self, oci: OciSubsystem) -> str:
        return image_repository(self.repository.value, self.address, oci.default_repository)


class PublishOciPromotionRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishOciPromotionFieldSet(PublishFieldSet):
    publish_request_type = PublishOciPromotionRequest
    required_fields = (OciPromotionSourceField, OciImageRegistriesField)

    registries: OciImageRegistriesField
    skip_push: OciImageSkipPushField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData(
            {"publisher": "oci", "registries": self.registries.value or (), **super().get_output_data()}
        )


@dataclass(frozen=True)
class OciPromotionSourceRequest:
    address: Address
    value: str


@dataclass(frozen=True)
class OciPromotionSource:
    reference: Reference  # pinned by digest


@rule(desc="Resolve the source of an OCI promotion")
async def resolve_promotion_source(request: OciPromotionSourceRequest) -> OciPromotionSource:
    field = FieldName(OciPromotionSourceField.alias, request.address)
    spec = source_address(request.value)
    if spec is None:
        return OciPromotionSource(parse_pinned_source(field, request.value))
    origin = f"the `source` field of {request.address}"
    try:
        address = await Get(
            Address,
            AddressInput,
            AddressInput.parse(spec, relative_to=request.address.spec_path, description_of_origin=origin),
        )
        wrapped = await Get(WrappedTarget, WrappedTargetRequest(address, description_of_origin=origin))
    except (ResolveError, AddressParseException) as e:
        raise invalid_value(field, request.value, f"it names no target ({e}); {SOURCE_ACCEPTED}") from e
    if not wrapped.target.has_field(OciPullImageField):
        raise invalid_value(
            field,
            request.value,
            f"{wrapped.target.address} is a `{wrapped.target.alias}` target, but {SOURCE_ACCEPTED}",
        )
    reference, _ = await pull_target_reference(wrapped.target)
    return OciPromotionSource(reference)


def promotion_file(source: Reference, repository: str, tags: tuple[str, ...]) -> bytes:
    """The packaged description: the same source, repository and tags give the same bytes."""
    value = {
        "source": f"{source.name}@{source.digest}",
        "digest": source.digest,
        "repository": repository,
        "tags": list(tags),
    }
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


@rule(desc="Package an OCI promotion")
async def package_oci_promotion(field_set: OciPromotionFieldSet, oci: OciSubsystem) -> BuiltPackage:
    source = await Get(OciPromotionSource, OciPromotionSourceRequest(field_set.address, field_set.source.value or ""))
    relpath = field_set.output_path.value_or_default(file_ending=None)
    repository, tags = field_set.repository_name(oci), tuple(field_set.tags.value or ())
    ref = source.reference
    digest = await Get(
        Digest, CreateDigest([FileContent(relpath + PROMOTION_SUFFIX, promotion_file(ref, repository, tags))])
    )
    artifact = BuiltOciPromotionArtifact(
        relpath=relpath + PROMOTION_SUFFIX,
        digest=ref.digest or "",
        source=f"{ref.name}@{ref.digest}",
        repository=repository,
        tags=tags,
        record_relpath=relpath,
    )
    return BuiltPackage(digest, (artifact,))


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, OciPromotionFieldSet),
        *PublishOciPromotionFieldSet.rules(),
    ]
