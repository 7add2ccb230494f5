"""`oci_promotion` in the plugin: its package pins the source (no registry asked), its bad
values are one-line errors naming target, field, value and what is accepted, its tags count in
the repository's tag claims, and its publish plan is the core's contract with a source."""

from __future__ import annotations

import json

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import DigestContents
from pants.engine.internals.parametrize import Parametrize
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import DependenciesRequest
from pants.testutil.rule_runner import RuleRunner

from ocikit.contracts.publish import PublishImage
from pants_oci.goals.promote import OciPromotionFieldSet
from pants_oci.goals.publish_run import OciTagClaims, OciTagClaimsRequest, image_plan, stamp_request
from pants_oci.promotion_fields import OciPromotionDependenciesField
from pants_oci.publish_plan import OciPublishConflictError, refuse_conflicts
from pants_oci.registries import OciRegistry
from pants_oci.util_rules.stamp import OciStampedNames, OciStampRequest

DIGEST = "sha256:" + "ab" * 32
SOURCE = f"registry.example.com/staging/web@{DIGEST}"
REGISTRIES = "{'prod': {'address': 'prod.example.com', 'default': True}}"

BUILD = f"""\
oci_pull(name="pulled", image="registry.example.com/staging/web:1.4@{DIGEST}")
oci_promotion(name="by_address", source=":pulled", repository="web", image_tags=["1.4"])
oci_promotion(name="by_reference", source="{SOURCE}", image_tags=["1.4-ref"])
"""


@pytest.fixture
def promo_runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *rule_runner.rules,
            QueryRule(BuiltPackage, [OciPromotionFieldSet]),
            QueryRule(OciTagClaims, [OciTagClaimsRequest]),
            QueryRule(Addresses, [DependenciesRequest]),
            QueryRule(OciStampedNames, [OciStampRequest]),
        ],
        target_types=rule_runner.target_types,
        objects={"parametrize": Parametrize},
    )
    runner.set_options([f"--oci-registries={REGISTRIES}"], env_inherit={"PATH", "HOME"})
    return runner


def package(runner: RuleRunner, name: str) -> tuple[BuiltPackage, dict]:
    target = runner.get_target(Address("promo", target_name=name))
    built = runner.request(BuiltPackage, [OciPromotionFieldSet.create(target)])
    [content] = runner.request(DigestContents, [built.digest])
    return built, {"path": content.path, **json.loads(content.content)}


def test_the_package_pins_the_source_of_an_oci_pull_or_a_reference(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": BUILD})
    built, written = package(promo_runner, "by_address")
    assert written == {
        "path": "promo/by_address.promotion.json",
        "source": SOURCE,
        "digest": DIGEST,
        "repository": "web",
        "tags": ["1.4"],
    }
    artifact = built.artifacts[0]
    assert (artifact.relpath, artifact.source, artifact.digest) == ("promo/by_address.promotion.json", SOURCE, DIGEST)
    _, by_reference = package(promo_runner, "by_reference")
    assert (by_reference["source"], by_reference["repository"]) == (SOURCE, "by_reference")  # the default repository


def test_a_promotion_depends_on_the_oci_pull_it_names_and_on_nothing_for_a_reference(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": BUILD})

    def dependencies(name: str) -> list:
        target = promo_runner.get_target(Address("promo", target_name=name))
        return list(promo_runner.request(Addresses, [DependenciesRequest(target[OciPromotionDependenciesField])]))

    assert dependencies("by_address") == [Address("promo", target_name="pulled")]
    assert dependencies("by_reference") == []


def test_its_tags_are_stamped_with_the_sources_digest(promo_runner: RuleRunner) -> None:
    promo_runner.write_files(
        {"promo/BUILD": f'oci_promotion(name="stamped", source="{SOURCE}", image_tags=["d-{{image.digest_short}}"])\n'}
    )
    built, written = package(promo_runner, "stamped")
    assert written["tags"] == ["d-{image.digest_short}"]  # the package keeps the template
    address = Address("promo", target_name="stamped")
    names = promo_runner.request(OciStampedNames, [stamp_request(address, built.artifacts[0])])
    assert names.tags == ("d-" + "ab" * 6,)


def test_the_same_fields_give_the_same_bytes(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": BUILD})
    first = package(promo_runner, "by_address")[0].digest
    promo_runner.write_files({"promo/BUILD": BUILD + "\n# an edit elsewhere\n"})
    assert package(promo_runner, "by_address")[0].digest == first


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "registry.example.com/staging/web:1.4",
            "The `source` field in target promo:bad has an invalid value 'registry.example.com/staging/web:1.4': "
            "expected the address of an `oci_pull` target (e.g. ':pulled') or a registry image pinned by digest",
        ),
        (
            "registry.example.com/staging/web@sha256:abc",
            "The `source` field in target promo:bad has an invalid value "
            "'registry.example.com/staging/web@sha256:abc': expected the address of an `oci_pull` target",
        ),
    ],
    ids=["tag-only", "short-digest"],
)
def test_a_source_not_pinned_by_digest_is_refused_naming_the_field(
    promo_runner: RuleRunner, source: str, expected: str
) -> None:
    promo_runner.write_files({"promo/BUILD": f'oci_promotion(name="bad", source="{source}")\n'})
    with pytest.raises(ExecutionError) as raised:
        promo_runner.get_target(Address("promo", target_name="bad"))
    assert expected in str(raised.value)


def test_a_source_naming_another_kind_of_target_is_refused(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": 'oci_image(name="img")\noci_promotion(name="bad", source=":img")\n'})
    with pytest.raises(ExecutionError) as raised:
        package(promo_runner, "bad")
    assert (
        "The `source` field in target promo:bad has an invalid value ':img': promo:img is a `oci_image` "
        "target, but expected the address of an `oci_pull` target"
    ) in str(raised.value)


def test_its_tags_are_claimed_with_the_images_and_a_conflict_names_both(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": BUILD + 'oci_image(name="img", repository="web", image_tags=["1.4"])\n'})
    claims = promo_runner.request(OciTagClaims, [OciTagClaimsRequest()]).claims
    both = (Address("promo", target_name="by_address"), Address("promo", target_name="img"))
    assert claims.exact["prod.example.com/web:1.4"] == both
    assert claims.exact["prod.example.com/by_reference:1.4-ref"] == (Address("promo", target_name="by_reference"),)
    with pytest.raises(
        OciPublishConflictError, match="promo:by_address and promo:img would both be pushed to prod.example.com/web:1.4"
    ):
        refuse_conflicts(both[0], ("prod.example.com/web:1.4",), claims)


def test_every_parametrization_of_an_image_claims_its_tags(promo_runner: RuleRunner) -> None:
    # The claims come from the unexpanded targets: parametrizations are among them, and a
    # `files` generator beside the image changes nothing.
    promo_runner.write_files(
        {
            "promo/BUILD": 'files(name="data", sources=["*.txt"])\n'
            'oci_image(name="img", repository=parametrize(a="web-a", b="web-b"), image_tags=["2"])\n',
            "promo/x.txt": "x",
            "promo/y.txt": "y",
        }
    )
    claims = promo_runner.request(OciTagClaims, [OciTagClaimsRequest()]).claims
    assert dict(claims.exact) == {
        f"prod.example.com/web-{p}:2": (Address("promo", target_name="img", parameters={"repository": p}),)
        for p in ("a", "b")
    }


def test_the_publish_plan_carries_the_source_and_no_layout(promo_runner: RuleRunner) -> None:
    promo_runner.write_files({"promo/BUILD": BUILD})
    built, _ = package(promo_runner, "by_address")
    address = Address("promo", target_name="by_address")
    names = promo_runner.request(OciStampedNames, [stamp_request(address, built.artifacts[0])])
    plan = image_plan(
        address, built.artifacts[0], names, (OciRegistry("prod", "prod.example.com", default=True),), "/dist"
    )
    contract = plan.contract()
    assert contract == PublishImage("promo:by_address", "", DIGEST, ("prod.example.com/web:1.4",), source=SOURCE)
    assert plan.record == "/dist/promo/by_address.publish.json"
    assert PublishImage.loads(contract.dumps()) == contract
