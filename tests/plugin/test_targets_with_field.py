"""`TargetsWithFieldRequest`: the repository's targets that have one field, found from the
parsed BUILD files by type alias, every parametrization included, without making a `files`
generator's targets."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.parametrize import Parametrize
from pants.engine.rules import QueryRule
from pants.engine.target import RegisteredTargetTypes, Targets
from pants.engine.unions import UnionMembership
from pants.testutil.rule_runner import RuleRunner

from pants_oci.image_fields import OciImageLayersField, OciImageRegistriesField, OciImageRepositoryField
from pants_oci.util_rules.targets_with_field import TargetsWithFieldRequest, aliases_with_field

BUILD = """\
files(name="data", sources=["*.txt"])
oci_layer(name="layer", dependencies=[":data"])
oci_image(name="img", repository=parametrize(a="web-a", b="web-b"), layers=[":layer"])
oci_promotion(name="promo", source="registry.example.com/web@sha256:{digest}")
"""


@pytest.fixture
def field_runner(rule_runner: RuleRunner) -> RuleRunner:
    return RuleRunner(
        rules=[*rule_runner.rules, QueryRule(Targets, [TargetsWithFieldRequest])],
        target_types=rule_runner.target_types,
        objects={"parametrize": Parametrize},
    )


def test_the_aliases_are_those_of_the_types_that_have_the_field(rule_runner: RuleRunner) -> None:
    registered = RegisteredTargetTypes.create(rule_runner.target_types)
    union_membership = UnionMembership({})
    assert aliases_with_field(registered, OciImageRegistriesField, union_membership) == {"oci_image", "oci_promotion"}
    # A field's subclasses count: the promotion's repository field is one of the image's.
    assert aliases_with_field(registered, OciImageRepositoryField, union_membership) == {"oci_image", "oci_promotion"}
    assert aliases_with_field(registered, OciImageLayersField, union_membership) == {"oci_image"}


def test_every_parametrization_in_every_directory(field_runner: RuleRunner) -> None:
    field_runner.write_files(
        {
            "app/BUILD": BUILD.format(digest="ab" * 32),
            "app/x.txt": "x",
            "app/y.txt": "y",
            "other/BUILD": 'oci_image(name="solo")\n',
        }
    )
    found = field_runner.request(Targets, [TargetsWithFieldRequest(OciImageRegistriesField, "a test")])
    assert sorted(str(t.address) for t in found) == sorted(
        [
            str(Address("app", target_name="img", parameters={"repository": "a"})),
            str(Address("app", target_name="img", parameters={"repository": "b"})),
            "app:promo",
            "other:solo",
        ]
    )


def test_a_repository_without_such_targets_gives_none(field_runner: RuleRunner) -> None:
    field_runner.write_files({"app/BUILD": 'files(name="data", sources=["*.txt"])\n', "app/x.txt": "x"})
    assert not field_runner.request(Targets, [TargetsWithFieldRequest(OciImageRepositoryField, "a test")])
