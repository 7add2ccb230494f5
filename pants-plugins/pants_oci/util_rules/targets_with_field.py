"""Every target of the repository that has one field, without building the others.

Pants' `AllTargets` (and `AllUnexpandedTargets`) makes every target of the repository, a `files`
generator's one target per file included: thousands of objects in a monorepo, made again
whenever Pants drops them. Publish's tag claims and the deploy manifests' image list need only
the targets of a few types. So the BUILD files' parsed targets (Pants' `AddressFamilies`, which
it keeps for every command anyway) are filtered by type alias first, and only those addresses
are resolved, each parametrization of them included.

`AddressFamilies` is Pants' internal type (`pants.engine.internals.mapper`); this plugin is tied
to Pants 2.17.x, where its shape is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.base.specs import AddressLiteralSpec, RawSpecs, RawSpecsWithoutFileOwners, RecursiveGlobSpec
from pants.engine.internals.mapper import AddressFamilies
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import Field, RegisteredTargetTypes, Targets
from pants.engine.unions import UnionMembership


@dataclass(frozen=True)
class TargetsWithFieldRequest:
    field: type[Field]
    description_of_origin: str  # who asks, for Pants' errors about the addresses


def aliases_with_field(
    registered: RegisteredTargetTypes, field: type[Field], union_membership: UnionMembership
) -> frozenset[str]:
    """Every alias a BUILD file may use for a target type that has `field` (deprecated ones too)."""
    return frozenset(
        alias
        for target_type in registered.types
        if target_type.class_has_field(field, union_membership)
        for alias in (target_type.alias, target_type.deprecated_alias)
        if alias
    )


@rule(desc="Find the targets that have a field")
async def targets_with_field(
    request: TargetsWithFieldRequest, registered: RegisteredTargetTypes, union_membership: UnionMembership
) -> Targets:
    aliases = aliases_with_field(registered, request.field, union_membership)
    families = await Get(
        AddressFamilies,
        RawSpecsWithoutFileOwners(
            recursive_globs=(RecursiveGlobSpec(""),), description_of_origin=request.description_of_origin
        ),
    )
    literals = tuple(
        AddressLiteralSpec(address.spec_path, address.target_name)
        for family in families
        for address, adaptor in family.addresses_to_target_adaptors.items()
        if adaptor.type_alias in aliases
    )
    if not literals:
        return Targets()
    # A literal address of a parametrized target stands for all its parametrizations.
    targets = await Get(
        Targets, RawSpecs(address_literals=literals, description_of_origin=request.description_of_origin)
    )
    return Targets(t for t in targets if t.has_field(request.field))


def rules():
    return collect_rules()
