"""`oci_image_test` through the RuleRunner: each check's parsing and every bad input named with
its target and field; file and config checks run on a real packaged layout (no runtime),
passing and failing with expected vs actual; a command check without the runtime fails saying
so while the other checks still run. Command checks with podman: tests/integration."""

from __future__ import annotations

import pytest
from pants.core.goals.test import TestResult
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from ocikit.contracts.image_test import CommandCheck, FileCheck
from pants_oci import register
from pants_oci.goals.image_test import OciImageTestFieldSet, OciImageTestRequest
from pants_oci.image_test_fields import CheckError, parse_command_check, parse_config_check, parse_file_check


def test_file_checks_parse_modes_and_refuse_what_makes_no_sense() -> None:
    assert parse_file_check({"path": "/a", "mode": "0755", "uid": 0, "type": "dir"}) == FileCheck(
        "/a", True, "dir", 0o755, 0, None, None
    )
    assert parse_file_check({"path": "/a", "mode": 0o644}).mode == 0o644
    for bad, error in (
        ({"path": "a"}, "`path` must be an absolute path"),
        ({"path": "/a", "exists": False, "mode": "0644"}, "a path checked to be absent takes no other key"),
        ({"path": "/a", "mode": "rwx"}, "`mode` must be permission bits"),
        ({"path": "/a", "type": "socket"}, "`type` must be one of file, dir, symlink, hardlink"),
        ({"path": "/a", "content": "("}, "`content` is not a valid regular expression"),
        ({"path": "/a", "owner": 0}, "unknown keys ['owner']; accepted: ['content', 'exists', 'gid', 'mode', "),
        ({}, "missing `path`"),
        ({"path": "/a", "uid": -1}, "`uid` must be a whole number from 0 to"),
    ):
        with pytest.raises(CheckError, match=None) as raised:
            parse_file_check(bad)
        assert error in str(raised.value)


def test_command_and_config_checks_parse() -> None:
    assert parse_command_check({"args": ["-c", "true"], "stdout": "x"}) == CommandCheck(("-c", "true"), None, 0, "x")
    with pytest.raises(CheckError, match="`args` must be a list of strings"):
        parse_command_check({"args": "echo hi"})
    with pytest.raises(CheckError, match="`exit_code` must be a whole number from 0 to 255"):
        parse_command_check({"args": [], "exit_code": 256})
    assert dict(dict(parse_config_check({"user": "1000", "env": {"A": "b"}}))["env"]) == {"A": "b"}
    with pytest.raises(CheckError, match=r"unknown keys \['Entrypoint'\]"):
        parse_config_check({"Entrypoint": ["/x"]})


@pytest.fixture
def runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[*rule_runner.rules, QueryRule(TestResult, [OciImageTestRequest.Batch])],
        target_types=rule_runner.target_types,
    )
    runner.write_files(
        {
            "app/BUILD": 'files(name="f", sources=["hello.txt"])\n'
            'oci_image(name="img", dependencies=[":f"], env={"LANG": "C.UTF-8"}, '
            'entrypoint=["/bin/hello"], user="1000", labels={"team": "web"})\n',
            "app/hello.txt": "hello there\n",
        }
    )
    return runner


def run_test(runner: RuleRunner, build: str, *options: str) -> TestResult:
    runner.write_files({"app/tests/BUILD": build})
    runner.set_options(list(options), env_inherit={"PATH", "HOME"})
    target = runner.get_target(Address("app/tests", target_name="t"))
    batch = OciImageTestRequest.Batch("oci_image_test", (OciImageTestFieldSet.create(target),), None)
    return runner.request(TestResult, [batch])


def test_file_and_config_checks_pass_reading_the_layout(runner: RuleRunner) -> None:
    result = run_test(
        runner,
        'oci_image_test(name="t", image="//app:img", '
        'file_checks=[{"path": "/app/hello.txt", "type": "file", "mode": "0644", "uid": 0, "gid": 0, '
        '"content": "^hello"}, {"path": "/etc/passwd", "exists": False}], '
        'config_checks={"entrypoint": ["/bin/hello"], "user": "1000", "env": {"LANG": "C.UTF-8"}, '
        '"labels": {"team": "web"}})',
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "PASS file /app/hello.txt: file, mode 0644, owner 0:0" in result.stdout
    assert "PASS config env LANG: expected 'C.UTF-8', got 'C.UTF-8'" in result.stdout
    assert result.stdout.rstrip().endswith("6 checks passed"), result.stdout


def test_failing_checks_say_which_with_expected_and_actual(runner: RuleRunner) -> None:
    result = run_test(
        runner,
        'oci_image_test(name="t", image="//app:img", '
        'file_checks=[{"path": "/app/hello.txt", "mode": "0755", "content": "^bye"}, {"path": "/nope"}], '
        'config_checks={"user": "root", "env": {"TZ": "UTC"}})',
    )
    assert result.exit_code == 1
    out = result.stdout
    assert (
        "FAIL file /app/hello.txt: mode: expected 0755, got 0644; "
        "content: expected to match '^bye', got 'hello there\\n'" in out
    )
    assert "FAIL file /nope: expected to exist, absent" in out
    assert "FAIL config user: expected 'root', got '1000'" in out
    assert "FAIL config env TZ: expected 'UTC', not set" in out
    assert out.rstrip().endswith("4 checks, 4 failed")


def test_a_command_check_without_the_runtime_fails_saying_so_and_the_others_run(runner: RuleRunner) -> None:
    result = run_test(
        runner,
        'oci_image_test(name="t", image="//app:img", file_checks=[{"path": "/app"}], '
        'command_checks=[{"args": ["true"]}])',
        "--oci-runtime-search-path=['/nonexistent']",
    )
    assert result.exit_code == 1
    assert "PASS file /app: dir" in result.stdout
    assert (
        "FAIL command `true`: a command check needs podman (`[oci].runtime`), and no working `podman` is on "
        "`[oci].runtime_search_path` (/nonexistent): install it (apt-get install podman"
    ) in result.stdout


@pytest.mark.parametrize(
    "build, error",
    [
        (
            'oci_image_test(name="t", image="//app:f")',
            "The `image` field in target app/tests:t has an invalid value '//app:f': it names files app:f; expected an "
            "`oci_image` target",
        ),
        (
            'oci_image_test(name="t", image="//app:img", file_checks=[{"path": "x"}])',
            "The `file_checks` field in target app/tests:t has an invalid value {'path': 'x'}: "
            "check #1: `path` must be an "
            "absolute path in the image",
        ),
        (
            'oci_image_test(name="t", image="//app:img", command_checks={"args": []})',
            "The `command_checks` field in target app/tests:t has an invalid value {'args': []}: "
            "expected a list of checks",
        ),
        (
            'oci_image_test(name="t", image="//app:img", config_checks={"cmd": "x"})',
            "The `config_checks` field in target app/tests:t has an invalid value {'cmd': 'x'}: "
            "`cmd` must be a list of strings",
        ),
    ],
)
def test_bad_input_names_the_target_and_field(runner: RuleRunner, build: str, error: str) -> None:
    with pytest.raises(ExecutionError) as raised:
        run_test(runner, build)
    assert error in str(raised.value)


def test_the_target_is_registered_with_help() -> None:
    (target,) = [t for t in register.target_types() if t.alias == "oci_image_test"]
    assert target.help and all(f.help for f in target.core_fields)
