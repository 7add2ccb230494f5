"""Every `[oci]` option given a wrong type or an out-of-range value: the exact error a user sees.

Pants' own parser rejects a wrong type (from a flag, a `PANTS_OCI_*` variable or pants.toml) the
first time the subsystem is used, naming the option and the value. Our rules check the rest: the
build settings (compression level, source date epoch) on every `package`,
`[oci].default_repository` when an image is packaged, and `[oci].registries`,
`[oci].publish_jobs` and `[oci].env_vars` on every `publish`. Each of our messages names the
option, the bad value and what is accepted.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

import pytest
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
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


# ----------------------------------------------------------------------------------------------
# Wrong types: Pants' parser, whichever way the value is given.


@pytest.mark.parametrize(
    "args, toml, env, option, detail",
    [
        (["--oci-compression-level=abc"], None, None, "compression-level", int_error("abc")),
        ([], "compression_level = 2.5", None, "compression-level", int_error("2.5")),
        ([], "compression_level = true", None, "compression-level", int_error("True")),
        ([], None, {"PANTS_OCI_COMPRESSION_LEVEL": "high"}, "compression-level", int_error("high")),
        (["--oci-source-date-epoch=yesterday"], None, None, "source-date-epoch", int_error("yesterday")),
        ([], "source_date_epoch = 1.7e9", None, "source-date-epoch", int_error("1700000000.0")),
        (["--oci-publish-jobs=many"], None, None, "publish-jobs", int_error("many")),
        ([], "publish_jobs = 2.5", None, "publish-jobs", int_error("2.5")),
        (["--oci-registries=notadict"], None, None, "registries", "Invalid dict value: notadict"),
        (
            [],
            'registries = ["registry.example.com"]',
            None,
            "registries",
            "Invalid dict value: ['registry.example.com']",
        ),
        (
            ["--oci-registries={'prod': "],
            None,
            None,
            "registries",
            "The value cannot be evaluated as a literal expression: SyntaxError(",
        ),
        (
            ["--oci-env-vars=['DOCKER_CONFIG'"],
            None,
            None,
            "env-vars",
            "The value cannot be evaluated as a literal expression: SyntaxError(",
        ),
    ],
)
def test_wrong_type_is_a_pants_parse_error_naming_option_and_value(
    rule_runner: RuleRunner,
    args: list[str],
    toml: str | None,
    env: dict[str, str] | None,
    option: str,
    detail: str,
) -> None:
    set_options(rule_runner, args, toml=toml, env=env)
    assert pants_parse_error(option, detail) in error_of(settings, rule_runner)


@pytest.mark.parametrize("args, toml", [(["--oci-compression=brotli"], None), ([], 'compression = "brotli"')])
def test_unknown_compression_names_the_value_and_the_choices(
    rule_runner: RuleRunner, args: list[str], toml: str | None
) -> None:
    set_options(rule_runner, args, toml=toml)
    message = error_of(settings, rule_runner)
    assert pants_parse_error("compression", "Invalid choice 'brotli'. Choose from: ") in message
    # The list of choices grows (`auto`): assert the ones every version has.
    choices = re.search(r"Invalid choice 'brotli'\. Choose from: (.*)", message).group(1).split(", ")
    assert {"gzip", "zstd", "none"} <= set(choices)


# ----------------------------------------------------------------------------------------------
# [oci].compression_level and [oci].source_date_epoch: checked on every package.


@pytest.mark.parametrize(
    "args, message",
    [
        (["--oci-compression-level=0"], "[oci].compression_level = 0 is out of range for gzip: expected 1-9."),
        (["--oci-compression-level=10"], "[oci].compression_level = 10 is out of range for gzip: expected 1-9."),
        (["--oci-compression-level=-3"], "[oci].compression_level = -3 is out of range for gzip: expected 1-9."),
        (
            ["--oci-compression=zstd", "--oci-compression-level=0"],
            "[oci].compression_level = 0 is out of range for zstd: expected 1-19.",
        ),
        (
            ["--oci-compression=zstd", "--oci-compression-level=20"],
            "[oci].compression_level = 20 is out of range for zstd: expected 1-19.",
        ),
        (
            ["--oci-compression=auto", "--oci-compression-level=10"],
            "[oci].compression_level = 10 is out of range for auto (a gzip level): expected 1-9.",
        ),
        (["--oci-source-date-epoch=-1"], "[oci].source_date_epoch = -1 is out of range: expected 0 to 8589934591."),
        (
            [f"--oci-source-date-epoch={8**11}"],
            "[oci].source_date_epoch = 8589934592 is out of range: expected 0 to 8589934591.",
        ),
    ],
)
def test_build_setting_out_of_range(rule_runner: RuleRunner, args: list[str], message: str) -> None:
    set_options(rule_runner, args)
    assert message in error_of(settings, rule_runner)


@pytest.mark.parametrize(
    "args, compression, level, epoch",
    [
        (["--oci-compression-level=1"], "gzip", 1, 0),
        (["--oci-compression-level=9"], "gzip", 9, 0),
        (["--oci-compression=zstd", "--oci-compression-level=19"], "zstd", 19, 0),
        (["--oci-compression=auto", "--oci-compression-level=9"], "auto", 9, 0),
        (["--oci-compression=none", "--oci-compression-level=50"], "none", None, 0),  # documented: ignored
        ([f"--oci-source-date-epoch={8**11 - 1}"], "gzip", 1, 8**11 - 1),
    ],
)
def test_build_setting_bounds_are_accepted(
    rule_runner: RuleRunner, args: list[str], compression: str, level: int | None, epoch: int
) -> None:
    set_options(rule_runner, args)
    result = settings(rule_runner)
    assert (result.compression.value, result.level, result.epoch) == (compression, level, epoch)


@pytest.mark.parametrize("raw", ["yesterday", "-1", "1.5", "1e9", " 1700000000", "0x10"])
def test_source_date_epoch_env_var_must_be_digits(rule_runner: RuleRunner, raw: str) -> None:
    set_options(rule_runner, env={"SOURCE_DATE_EPOCH": raw})
    assert (
        f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since the Unix epoch "
        "(e.g. SOURCE_DATE_EPOCH=1700000000)."
    ) in error_of(settings, rule_runner)


def test_source_date_epoch_env_var_with_unicode_digits(rule_runner: RuleRunner) -> None:
    set_options(rule_runner, env={"SOURCE_DATE_EPOCH": "²"})
    assert "SOURCE_DATE_EPOCH='²' is not a whole number of seconds" in error_of(settings, rule_runner)


def test_source_date_epoch_env_var_out_of_range_names_the_variable(rule_runner: RuleRunner) -> None:
    set_options(rule_runner, env={"SOURCE_DATE_EPOCH": str(8**11)})
    assert "SOURCE_DATE_EPOCH=8589934592 is out of range: expected 0 to 8589934591" in error_of(settings, rule_runner)


@pytest.mark.parametrize(
    "args, env, epoch",
    [
        ([], {"SOURCE_DATE_EPOCH": "1700000000"}, 1700000000),
        ([], {"SOURCE_DATE_EPOCH": ""}, 0),  # set but empty: unset
        (["--oci-source-date-epoch=5"], {"SOURCE_DATE_EPOCH": "yesterday"}, 5),  # the option wins
    ],
)
def test_source_date_epoch_sources(rule_runner: RuleRunner, args: list[str], env: dict[str, str], epoch: int) -> None:
    set_options(rule_runner, args, env=env)
    assert settings(rule_runner).epoch == epoch


# ----------------------------------------------------------------------------------------------
# [oci].default_repository: formatted for every image without a `repository` field.

WHERE_REPOSITORY = "[oci].default_repository for apps/web:img"


@pytest.mark.parametrize(
    "args, toml, fragments",
    [
        (
            ["--oci-default-repository={nme}"],
            None,
            [f"{WHERE_REPOSITORY}: unknown placeholder {{nme}} in '{{nme}}'; {PLACEHOLDERS}"],
        ),
        (
            ["--oci-default-repository={dir}/{name}"],
            None,
            [f"{WHERE_REPOSITORY}: unknown placeholder {{dir}} in '{{dir}}/{{name}}'; {PLACEHOLDERS}"],
        ),
        (
            ["--oci-default-repository={0}/{name}"],
            None,
            [f"{WHERE_REPOSITORY}: cannot format '{{0}}/{{name}}' (", f"); {PLACEHOLDERS} (write '{{{{' and '}}}}'"],
        ),
        (
            ["--oci-default-repository={name"],
            None,
            [f"{WHERE_REPOSITORY}: cannot format '{{name' (expected '}}' before end of string); {PLACEHOLDERS}"],
        ),
        (
            ["--oci-default-repository={name.x}"],
            None,
            [f"{WHERE_REPOSITORY}: cannot format '{{name.x}}' ('str' object has no attribute 'x'); {PLACEHOLDERS}"],
        ),
        (
            ["--oci-default-repository=My Team/{name}"],
            None,
            [
                f"{WHERE_REPOSITORY}: 'My Team/{{name}}' gives the repository 'my team/img', which is not "
                f"a valid repository name: {REPOSITORY_ACCEPTED}. Change [oci].default_repository or "
                "set the target's `repository` field."
            ],
        ),
        (
            ["--oci-default-repository={name}--{directory}_"],
            None,
            [f"{WHERE_REPOSITORY}: '{{name}}--{{directory}}_' gives the repository 'img--web_', which is not"],
        ),
        (
            ["--oci-default-repository={directory}//{name}"],
            None,
            [f"{WHERE_REPOSITORY}: '{{directory}}//{{name}}' gives the repository 'web//img', which is not"],
        ),
        (
            [],
            'default_repository = ["{name}"]',  # a list in pants.toml is read as its text
            [f"{WHERE_REPOSITORY}: \"['{{name}}']\" gives the repository \"['img']\", which is not"],
        ),
    ],
)
def test_bad_default_repository(
    rule_runner: RuleRunner, args: list[str], toml: str | None, fragments: list[str]
) -> None:
    set_options(rule_runner, args, toml=toml)
    message = error_of(package, rule_runner)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    "template, repository",
    [
        ("{name}", "img"),
        ("{parent_directory}/{directory}/{name}", "apps/web/img"),
        ("{full_directory}/{name}", "apps/web/img"),
        ("Team/{name}", "team/img"),  # lowercased, as documented
        ("/{directory}/", "web"),  # outer slashes are stripped
    ],
)
def test_good_default_repository(rule_runner: RuleRunner, template: str, repository: str) -> None:
    set_options(rule_runner, [f"--oci-default-repository={template}"])
    assert package(rule_runner).artifacts[0].repository == repository


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
# [oci].publish_jobs and [oci].env_vars: checked on every publish.


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
