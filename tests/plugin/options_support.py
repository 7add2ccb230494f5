"""What the `[oci]` option tests share (test_options.py, test_options_publish.py): the BUILD
file they package, how they set options, package and publish, and the messages they expect."""

from __future__ import annotations

from typing import Sequence

import pytest
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_oci.goals.package import OciImageFieldSet
from pants_oci.goals.publish import PublishOciImageFieldSet
from pants_oci.util_rules.settings import OciBuildSettings

PLACEHOLDERS = "available placeholders: {name}, {directory}, {parent_directory}, {full_directory}"
ADDRESS_ACCEPTED = (
    "expected HOST or HOST:PORT (port 1-65535) with no scheme or path, e.g. "
    "'registry.example.com', '127.0.0.1:5000' or '[::1]:5000'"
)
REPOSITORY_ACCEPTED = (
    "expected lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', "
    "joined by '/', e.g. 'team/web-server'"
)
ENV_VARS_ACCEPTED = (
    "expected NAME or NAME=value, where NAME is letters, digits and '_' and does not start "
    "with a digit, e.g. 'DOCKER_CONFIG' or 'OCIKIT_LOG_LEVEL=DEBUG'."
)

# Images at apps/web: {directory} is 'web', {parent_directory} 'apps', {full_directory} 'apps/web'.
BUILD = """
oci_image(name="img")
oci_image(name="pushed", registries=["@prod"])
oci_image(name="nope", registries=["@nope"])
"""


def set_options(
    rule_runner: RuleRunner,
    args: Sequence[str] = (),
    *,
    toml: str | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Flags, and optionally an `[oci]` section of a pants.toml (how most users set options)."""
    if toml is not None:
        rule_runner.write_files({"pants.toml": f"[oci]\n{toml}\n"})
        args = [f"--pants-config-files=['{rule_runner.build_root}/pants.toml']", *args]
    rule_runner.set_options(args, env=env, env_inherit={"PATH", "HOME"})


def settings(rule_runner: RuleRunner) -> OciBuildSettings:
    return rule_runner.request(OciBuildSettings, [])


def package(rule_runner: RuleRunner, name: str = "img") -> BuiltPackage:
    rule_runner.write_files({"apps/web/BUILD": BUILD})
    target = rule_runner.get_target(Address("apps/web", target_name=name))
    return rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])


def publish(rule_runner: RuleRunner, name: str = "img") -> PublishProcesses:
    built = package(rule_runner, name)
    target = rule_runner.get_target(Address("apps/web", target_name=name))
    request = PublishOciImageFieldSet.create(target)._request((built,))
    return rule_runner.request(PublishProcesses, [request])


def error_of(call, rule_runner: RuleRunner) -> str:
    with pytest.raises(ExecutionError) as raised:
        call(rule_runner)
    return str(raised.value)


def pants_parse_error(option: str, detail: str) -> str:
    return (
        f"Error computing value for --{option} in scope 'oci' (may also be from PANTS_* "
        f"environment variables). Caused by:\n\n{detail}"
    )


def int_error(value: str) -> str:
    return f"Error applying type 'int' to option value '{value}': invalid literal for int() with base 10: '{value}'"
