"""`[oci].registries`, `[oci].publish_jobs` and `[oci].env_vars` given wrong values: the exact
error a user sees on `publish` (and on `package` where a registry decides the compression).
The build settings and `[oci].default_repository` are in test_options.py."""

from __future__ import annotations

import json

import pytest
from options_support import (
    ADDRESS_ACCEPTED,
    ENV_VARS_ACCEPTED,
    error_of,
    package,
    publish,
    set_options,
)
from pants.engine.fs import DigestContents
from pants.testutil.rule_runner import RuleRunner

# ----------------------------------------------------------------------------------------------
# [oci].registries: parsed on every publish (and on package with `compression = auto`).


def registry_case(entry: str, message: str):
    return pytest.param(f"{{'prod': {entry}}}", f"[oci].registries['prod']: {message}", id=entry)


@pytest.mark.parametrize(
    "registries, message",
    [
        registry_case(
            "'registry.example.com'", "expected a dict such as {'address': 'host:port'}, got 'registry.example.com'"
        ),
        registry_case("None", "expected a dict such as {'address': 'host:port'}, got None"),
        registry_case(
            "{'address': 'registry.example.com', 'defualt': True}",
            "unknown keys ['defualt']; accepted: ['address', 'default', 'insecure', 'skip_push']",
        ),
        registry_case(
            "{'default': True}",
            "missing `address`: expected HOST or HOST:PORT, e.g. {'address': 'registry.example.com'}",
        ),
        registry_case("{'address': 'r.example.com', 'default': 'yes'}", "`default` must be True or False, got 'yes'"),
        registry_case("{'address': 'r.example.com', 'insecure': 1}", "`insecure` must be True or False, got 1"),
        registry_case(
            "{'address': 'r.example.com', 'skip_push': 'false'}", "`skip_push` must be True or False, got 'false'"
        ),
        registry_case("{'address': 5000}", f"invalid registry address 5000: {ADDRESS_ACCEPTED}"),
        registry_case("{'address': ''}", f"invalid registry address '': {ADDRESS_ACCEPTED}"),
        registry_case(
            "{'address': 'https://registry.example.com'}",
            f"invalid registry address 'https://registry.example.com': {ADDRESS_ACCEPTED}",
        ),
        registry_case(
            "{'address': 'registry.example.com/team'}",
            f"invalid registry address 'registry.example.com/team': {ADDRESS_ACCEPTED}",
        ),
        registry_case(
            "{'address': 'registry.example.com:99999'}",
            f"invalid registry address 'registry.example.com:99999': {ADDRESS_ACCEPTED}",
        ),
        registry_case("{'address': '127.0.0.1:0'}", f"invalid registry address '127.0.0.1:0': {ADDRESS_ACCEPTED}"),
        registry_case(
            "{'address': 'registry example.com'}",
            f"invalid registry address 'registry example.com': {ADDRESS_ACCEPTED}",
        ),
        registry_case("{'address': '::1:5000'}", f"invalid registry address '::1:5000': {ADDRESS_ACCEPTED}"),
        pytest.param(
            "{'my prod': {'address': 'r.example.com'}}",
            "[oci].registries: invalid alias 'my prod': expected letters, digits, '.', '_' or '-' "
            "(not first), e.g. 'prod'; an image's `registries` field names it as '@prod'",
            id="alias with a space",
        ),
        pytest.param(
            "{'@prod': {'address': 'r.example.com'}}", "[oci].registries: invalid alias '@prod':", id="alias with @"
        ),
        pytest.param("{'': {'address': 'r.example.com'}}", "[oci].registries: invalid alias '':", id="empty alias"),
        pytest.param("{1: {'address': 'r.example.com'}}", "[oci].registries: invalid alias 1:", id="int alias"),
    ],
)
def test_bad_registries_flag(rule_runner: RuleRunner, registries: str, message: str) -> None:
    set_options(rule_runner, [f"--oci-registries={registries}"])
    assert message in error_of(publish, rule_runner)


@pytest.mark.parametrize(
    "toml, message",
    [
        (
            'registries = {prod = "registry.example.com"}',
            "[oci].registries['prod']: expected a dict such as {'address': 'host:port'}, got 'registry.example.com'",
        ),
        (
            'registries = {prod = {address = "registry.example.com", default = "true"}}',
            "[oci].registries['prod']: `default` must be True or False, got 'true'",
        ),
        (
            'registries = {prod = {address = "https://registry.example.com:5000"}}',
            "[oci].registries['prod']: invalid registry address 'https://registry.example.com:5000': "
            f"{ADDRESS_ACCEPTED}",
        ),
    ],
)
def test_bad_registries_in_pants_toml(rule_runner: RuleRunner, toml: str, message: str) -> None:
    set_options(rule_runner, toml=toml)
    assert message in error_of(publish, rule_runner)


def test_unknown_registry_alias_lists_the_configured_ones(rule_runner: RuleRunner) -> None:
    set_options(
        rule_runner, ["--oci-registries={'prod': {'address': 'r.example.com'}, 'dev': {'address': 'd.example.com'}}"]
    )
    assert (
        "the `registries` field of apps/web:nope: unknown registry alias '@nope'; "
        "configured in [oci].registries: @dev, @prod"
    ) in error_of(lambda rr: publish(rr, "nope"), rule_runner)


def test_bad_registries_fail_package_with_auto_compression(rule_runner: RuleRunner) -> None:
    """`auto` reads the registries at package time: the same message, before any publish."""
    set_options(rule_runner, ["--oci-compression=auto", "--oci-registries={'prod': {'address': 'https://r'}}"])
    assert f"[oci].registries['prod']: invalid registry address 'https://r': {ADDRESS_ACCEPTED}" in error_of(
        lambda rr: package(rr, "pushed"), rule_runner
    )


# ----------------------------------------------------------------------------------------------
# [oci].publish_jobs and [oci].env_vars: checked on every publish (env_vars on every build too).


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--oci-publish-jobs=0"],
            "[oci].publish_jobs = 0 is out of range: expected 1 or more (how many blobs `publish` "
            "uploads at the same time; default 4).",
        ),
        (["--oci-publish-jobs=-2"], "[oci].publish_jobs = -2 is out of range: expected 1 or more"),
        (["--oci-env-vars=['1BAD']"], f"[oci].env_vars has an invalid entry '1BAD': {ENV_VARS_ACCEPTED}"),
        (
            ["--oci-env-vars=['DOCKER-CONFIG']"],
            f"[oci].env_vars has an invalid entry 'DOCKER-CONFIG': {ENV_VARS_ACCEPTED}",
        ),
        (["--oci-env-vars=['A B=x']"], f"[oci].env_vars has an invalid entry 'A B=x': {ENV_VARS_ACCEPTED}"),
        (["--oci-env-vars=['=x']"], f"[oci].env_vars has an invalid entry '=x': {ENV_VARS_ACCEPTED}"),
        (["--oci-env-vars=['']"], f"[oci].env_vars has an invalid entry '': {ENV_VARS_ACCEPTED}"),
        (["--oci-env-vars=[1]"], f"[oci].env_vars has an invalid entry '1': {ENV_VARS_ACCEPTED}"),  # read as text
    ],
)
def test_bad_publish_option(rule_runner: RuleRunner, args: list[str], message: str) -> None:
    set_options(rule_runner, args)
    assert message in error_of(publish, rule_runner)


def test_bad_env_vars_in_pants_toml(rule_runner: RuleRunner) -> None:
    set_options(rule_runner, toml="env_vars = [1]")  # pants.toml list items are read as text
    assert f"[oci].env_vars has an invalid entry '1': {ENV_VARS_ACCEPTED}" in error_of(publish, rule_runner)


def test_bad_env_vars_fail_package_too(rule_runner: RuleRunner) -> None:
    """A build reads `[oci].env_vars` (the base pulls get them) through the same validation as
    publish: one message, whichever goal meets it first."""
    set_options(rule_runner, ["--oci-env-vars=['1BAD']"])
    assert f"[oci].env_vars has an invalid entry '1BAD': {ENV_VARS_ACCEPTED}" in error_of(package, rule_runner)


def test_good_publish_options_reach_the_push(rule_runner: RuleRunner) -> None:
    # A loopback port nothing listens on: the run's check finds nothing published.
    set_options(
        rule_runner,
        [
            "--oci-registries={'prod': {'address': '127.0.0.1:9'}}",
            "--oci-publish-jobs=1",
            "--oci-env-vars=['FROM_ENV', 'SET_HERE=x=y', '_UNDERSCORE']",
        ],
        env={"FROM_ENV": "1", "_UNDERSCORE": "2"},
    )
    (job,) = publish(rule_runner, "pushed")
    assert job.names == ("127.0.0.1:9/pushed:latest",)
    contents = rule_runner.request(DigestContents, [job.process.process.input_digest])
    (plan,) = [json.loads(f.content) for f in contents if f.path == "__oci_push_plan.json"]
    assert plan["jobs"] == 1
    assert [i["destinations"] for i in plan["images"]] == [["127.0.0.1:9/pushed:latest"]]
    env = job.process.process.env
    assert (env["FROM_ENV"], env["SET_HERE"], env["_UNDERSCORE"]) == ("1", "x=y", "2")
