"""Every `[oci]` option given a wrong type or an out-of-range value: the exact error a user sees.

Pants' own parser rejects a wrong type (from a flag, a `PANTS_OCI_*` variable or pants.toml) the
first time the subsystem is used, naming the option and the value. Our rules check the rest: the
build settings (compression level, source date epoch) on every `package`,
`[oci].default_repository` when an image is packaged, and `[oci].registries`,
`[oci].publish_jobs` and `[oci].env_vars` on every `publish`. Each of our messages names the
option, the bad value and what is accepted.
"""

from __future__ import annotations

import re

import pytest
from options_support import (
    PLACEHOLDERS,
    REPOSITORY_ACCEPTED,
    error_of,
    int_error,
    package,
    pants_parse_error,
    set_options,
    settings,
)
from pants.testutil.rule_runner import RuleRunner

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
