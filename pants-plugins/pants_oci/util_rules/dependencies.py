"""An image depends on its `base` and `layers`, so `dependents` and `--changed-dependents` see them."""

from __future__ import annotations

from dataclasses import dataclass

from pants_oci.bases import base_address
from pants_oci.image_fields import OciImageBaseField, OciImageDependenciesField, OciImageLayersField
from pants.build_graph.address import ResolveError
from pants.engine.addresses import Address, AddressInput, Addresses, UnparsedAddressInputs
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule


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
    spec = base_address(field_set.base.value)
    if spec is not None:
        origin = f"the `base` field of {field_set.address}"
        try:
            include.append(
                await Get(
                    Address,
                    AddressInput,
                    AddressInput.parse(spec, relative_to=field_set.address.spec_path, description_of_origin=origin),
                )
            )
        except (ResolveError, AddressParseException):
            pass  # building the image reports it, saying what a `base` may be
    return InferredDependencies(include)


def rules():
    return [*collect_rules(), UnionRule(InferDependenciesRequest, InferOciImageDependencies)]
