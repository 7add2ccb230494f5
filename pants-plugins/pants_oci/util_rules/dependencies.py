"""An image depends on its `base` and `layers`, a promotion on its `source` target, so
`dependents` and `--changed-dependents` see them."""

from __future__ import annotations

from dataclasses import dataclass

from pants.build_graph.address import ResolveError
from pants.engine.addresses import Address, Addresses, AddressInput, UnparsedAddressInputs
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule

from pants_oci.bases import base_address
from pants_oci.image_fields import OciImageBaseField, OciImageDependenciesField, OciImageLayersField
from pants_oci.promotion_fields import OciPromotionDependenciesField, OciPromotionSourceField, source_address


@dataclass(frozen=True)
class OciImageInferenceFieldSet(FieldSet):
    required_fields = (OciImageBaseField, OciImageLayersField, OciImageDependenciesField)

    base: OciImageBaseField
    layers: OciImageLayersField
    dependencies: OciImageDependenciesField


class InferOciImageDependencies(InferDependenciesRequest):
    infer_from = OciImageInferenceFieldSet


async def address_in_field(value: str, owner: Address, alias: str) -> Address | None:
    """The address a string field names, relative to its target; None when it names none
    (for inference: the rule that builds the target reports it, saying what is accepted)."""
    origin = f"the `{alias}` field of {owner}"
    try:
        return await Get(
            Address,
            AddressInput,
            AddressInput.parse(value, relative_to=owner.spec_path, description_of_origin=origin),
        )
    except (ResolveError, AddressParseException):
        return None


@rule(desc="Infer the base and layers of an OCI image")
async def infer_oci_image_dependencies(request: InferOciImageDependencies) -> InferredDependencies:
    field_set = request.field_set
    layers = await Get(Addresses, UnparsedAddressInputs, field_set.layers.to_unparsed_address_inputs())
    spec = base_address(field_set.base.value)
    base = await address_in_field(spec, field_set.address, "base") if spec is not None else None
    return InferredDependencies([*layers, *([base] if base else [])])


@dataclass(frozen=True)
class OciPromotionInferenceFieldSet(FieldSet):
    required_fields = (OciPromotionSourceField, OciPromotionDependenciesField)

    source: OciPromotionSourceField
    dependencies: OciPromotionDependenciesField


class InferOciPromotionDependencies(InferDependenciesRequest):
    infer_from = OciPromotionInferenceFieldSet


@rule(desc="Infer the source of an OCI promotion")
async def infer_oci_promotion_dependencies(request: InferOciPromotionDependencies) -> InferredDependencies:
    spec = source_address(request.field_set.source.value or "")
    source = await address_in_field(spec, request.field_set.address, "source") if spec is not None else None
    return InferredDependencies([source] if source else [])


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferOciImageDependencies),
        UnionRule(InferDependenciesRequest, InferOciPromotionDependencies),
    ]
