"""An image depends on its `base` and `layers`, so `dependents` and `--changed-dependents` see them."""

from __future__ import annotations

from dataclasses import dataclass

from pants_oci.target_types import OciImageBaseField, OciImageDependenciesField, OciImageLayersField
from pants.engine.addresses import Address, AddressInput, Addresses, UnparsedAddressInputs
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule

SCRATCH = "scratch"


def base_address_spec(value: str | None) -> str | None:
    """The `base` value when it is an address (not scratch, not a pinned registry image)."""
    value = value or SCRATCH
    return None if value == SCRATCH or "@" in value else value


@dataclass(frozen=True)
class OciImageInferenceFieldSet(FieldSet):
    required_fields = (OciImageBaseField, OciImageLayersField, OciImageDependenciesField)

    base: OciImageBaseField
    layers: OciImageLayersField
    dependencies: OciImageDependenciesField


class InferOciImageDependencies(InferDependenciesRequest):
    infer_from = OciImageInferenceFieldSet


@rule(desc="Infer the base and layers of an OCI image")
async def infer_oci_image_dependencies(request: InferOciImageDependencies) -> InferredDependencies:
    field_set = request.field_set
    layers = await Get(Addresses, UnparsedAddressInputs, field_set.layers.to_unparsed_address_inputs())
    include = list(layers)
    spec = base_address_spec(field_set.base.value)
    if spec is not None:
        origin = f"the `base` field of {field_set.address}"
        include.append(
            await Get(
                Address,
                AddressInput,
                AddressInput.parse(spec, relative_to=field_set.address.spec_path, description_of_origin=origin),
            )
        )
    return InferredDependencies(include)


def rules():
    return [*collect_rules(), UnionRule(InferDependenciesRequest, InferOciImageDependencies)]
