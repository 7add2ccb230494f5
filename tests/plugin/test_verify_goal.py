"""`pants oci-verify` through the RuleRunner: which destinations are checked (as `publish`
computes them, `skip_push` honoured), the table and dist/oci-verify.json, the exit code, and
bad option values. The registry side is tested against real registries (tests/registry,
tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.testutil.rule_runner import RuleRunner
from pants.util.frozendict import FrozenDict

from ocikit.contracts.verify import SKIPPED, TagVerdict
from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.goals.publish_run import OciImagePublishTarget, stamp_request
from pants_oci.goals.verify import OciVerify, in_image_order, verify_destinations
from pants_oci.registries import OciRegistry
from pants_oci.stamping import StampValues
from pants_oci.util_rules.stamp import stamp_names

DIGEST = "sha256:" + "d" * 64
ADDRESS = Address("apps", target_name="web")
ARTIFACT = BuiltOciImageArtifact(relpath="apps/web", digest=DIGEST, repository="team/web", tags=("1.0", "latest"))
NAMES = stamp_names(stamp_request(ADDRESS, ARTIFACT), StampValues((), FrozenDict()))


def registries(pushed=(), skipped=()) -> OciImagePublishTarget:
    return OciImagePublishTarget(
        tuple(OciRegistry(a, f"{a}.example") for a in pushed),
        tuple(OciRegistry(a, f"{a}.example", skip_push=True) for a in skipped),
    )


def test_destinations_are_publishs_and_what_publish_skips_is_reported_skipped() -> None:
    destinations, skipped = verify_destinations(ADDRESS, ARTIFACT, NAMES, False, registries(["a"], ["b"]))
    assert destinations == ("a.example/team/web:1.0", "a.example/team/web:latest")
    assert [(v.reference, v.status, v.detail) for v in skipped] == [
        ("b.example/team/web:1.0", SKIPPED, "`skip_push` on registry @b"),
        ("b.example/team/web:latest", SKIPPED, "`skip_push` on registry @b"),
    ]
    destinations, skipped = verify_destinations(ADDRESS, ARTIFACT, NAMES, True, registries(["a"]))
    assert destinations == ()
    assert {v.detail for v in skipped} == {"not published: `skip_push` on the target"}
    destinations, (nowhere,) = verify_destinations(ADDRESS, ARTIFACT, NAMES, False, registries())
    assert (destinations, nowhere.reference) == ((), f"team/web@{DIGEST}")
    assert nowhere.detail.startswith("not published: no registries")


def test_verdicts_are_listed_image_by_image() -> None:
    a, b = Address("x", target_name="a"), Address("x", target_name="b")

    def verdict(address: Address, reference: str) -> TagVerdict:
        return TagVerdict(address.spec, reference, "missing", DIGEST)

    ordered = in_image_order([a, b], [verdict(a, "skipped")], [verdict(b, "r/b:1"), verdict(a, "r/a:1")])
    assert [(v.key, v.reference) for v in ordered] == [("x:a", "r/a:1"), ("x:a", "skipped"), ("x:b", "r/b:1")]


def _image(rule_runner: RuleRunner, fields: str) -> None:
    rule_runner.write_files(
        {
            "apps/hello.txt": "hello",
            "apps/BUILD": (
                f'files(name="f", sources=["hello.txt"])\noci_image(name="web", dependencies=[":f"], {fields})\n'
            ),
        }
    )


def _report(rule_runner: RuleRunner) -> dict:
    return json.loads((Path(rule_runner.build_root) / "dist" / "oci-verify.json").read_text())


def test_an_image_not_published_anywhere_passes_as_skipped(rule_runner: RuleRunner) -> None:
    _image(rule_runner, 'repository="team/web", skip_push=True')
    result = rule_runner.run_goal_rule(OciVerify, args=["apps:web"], env_inherit={"PATH", "HOME"})
    assert result.exit_code == 0, result.stderr
    assert "apps:web  team/web@sha256:" in result.stdout
    assert "skipped  not published: `skip_push` on the target" in result.stdout
    report = _report(rule_runner)
    assert report["ok"] is True and report["kind"] == "verify-result"
    assert [v["status"] for v in report["verdicts"]] == [SKIPPED]


def test_a_registry_that_cannot_be_reached_is_an_error_row_and_fails(rule_runner: RuleRunner) -> None:
    _image(rule_runner, 'repository="team/web", image_tags=["1.0"]')
    registries = "{'dead': {'address': '127.0.0.1:9', 'default': True}}"  # port 9 (discard): closed here
    result = rule_runner.run_goal_rule(
        OciVerify, args=[f"--oci-registries={registries}", "apps:web"], env_inherit={"PATH", "HOME"}
    )
    assert result.exit_code == 1
    assert "apps:web  127.0.0.1:9/team/web:1.0  error" in result.stdout
    (verdict,) = _report(rule_runner)["verdicts"]
    assert verdict["status"] == "error" and "127.0.0.1:9" in verdict["detail"]


def test_no_images_among_the_targets_verifies_nothing(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"apps/hello.txt": "hello", "apps/BUILD": 'files(name="f", sources=["hello.txt"])\n'})
    result = rule_runner.run_goal_rule(OciVerify, args=["apps:f"], env_inherit={"PATH", "HOME"})
    assert result.exit_code == 0
    assert not (Path(rule_runner.build_root) / "dist" / "oci-verify.json").exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--oci-verify-keys=['/etc/cosign.pub']", "[oci-verify].keys has '/etc/cosign.pub': expected a path relative"),
        ("--oci-verify-keys=['keys/missing.pub']", "Unmatched glob from the option `[oci-verify].keys`"),
        ("--oci-verify-max-paths=-1", "[oci-verify].max_paths = -1: expected 0 or more."),
    ],
)
def test_bad_option_values_are_named(rule_runner: RuleRunner, flag: str, message: str) -> None:
    _image(rule_runner, 'repository="team/web"')
    registries = "{'r': {'address': '127.0.0.1:9', 'default': True}}"
    with pytest.raises(Exception) as raised:
        rule_runner.run_goal_rule(
            OciVerify, args=[f"--oci-registries={registries}", flag, "apps:web"], env_inherit={"PATH", "HOME"}
        )
    assert message in str(raised.value)


def test_a_key_file_that_holds_no_public_key_fails_naming_it(rule_runner: RuleRunner) -> None:
    _image(rule_runner, 'repository="team/web"')
    rule_runner.write_files({"keys/cosign.pub": "not a key\n"})
    registries = "{'r': {'address': '127.0.0.1:9', 'default': True}}"
    with pytest.raises(Exception) as raised:
        rule_runner.run_goal_rule(
            OciVerify,
            args=[f"--oci-registries={registries}", "--oci-verify-keys=['keys/cosign.pub']", "apps:web"],
            env_inherit={"PATH", "HOME"},
        )
    assert "[oci-verify].keys (keys/cosign.pub) holds no PEM block" in str(raised.value)
