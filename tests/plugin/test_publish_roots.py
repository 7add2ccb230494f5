"""The batch guess of a publish (pants_oci.goals.publish_roots): the one place that reads Pants'
internal options. These fail loudly when a Pants upgrade moves what it reads."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from pants_oci.goals.publish_roots import (
    OciPublishBatch,
    OciPublishBatchRequest,
    working_directory_guess,
)

BUILD = 'oci_image(name="img", repository="apps/{name}")\n'


@pytest.fixture
def runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[*rule_runner.rules, QueryRule(OciPublishBatch, [OciPublishBatchRequest])],
        target_types=rule_runner.target_types,
    )
    runner.write_files(
        {
            "apps/a/BUILD": BUILD.format(name="a"),
            "apps/b/BUILD": BUILD.format(name="b"),
            "apps/b/c/BUILD": BUILD.format(name="c"),
            "other/BUILD": BUILD.format(name="other"),
        }
    )
    return runner


def guess(runner: RuleRunner, *args: str, pwd: str = "") -> OciPublishBatch:
    runner.set_options(list(args), env={"PWD": pwd or runner.build_root}, env_inherit={"PATH", "HOME"})
    return runner.request(OciPublishBatch, [OciPublishBatchRequest()])


def addresses(*specs: str) -> tuple[Address, ...]:
    return tuple(sorted(Address(s.split(":")[0], target_name=s.split(":")[1]) for s in specs))


def test_specs_from_the_build_root(runner: RuleRunner) -> None:
    # Reads `_Options`, internal to Pants: an upgrade that moves the specs fails here.
    assert guess(runner, "apps::").addresses == addresses("apps/a:img", "apps/b:img", "apps/b/c:img")
    assert guess(runner, "apps/a:img", "other:img").addresses == addresses("apps/a:img", "other:img")


def test_specs_are_relative_to_pwd_inside_the_build_root(runner: RuleRunner) -> None:
    batch = guess(runner, "::", pwd=f"{runner.build_root}/apps/b")
    assert batch.addresses == addresses("apps/b:img", "apps/b/c:img")
    assert batch.batch_of(Address("apps/b", target_name="img")) == batch.addresses
    assert batch.batch_of(Address("other", target_name="img")) == (Address("other", target_name="img"),)


def test_no_guess_with_changed_or_specs_that_do_not_resolve(runner: RuleRunner) -> None:
    assert guess(runner, "--changed-since=HEAD").addresses is None
    assert guess(runner, "nowhere:img").addresses is None  # e.g. a stale $PWD


def test_working_directory_guess() -> None:
    assert working_directory_guess("/repo/apps", "/repo") == "/repo/apps"
    assert working_directory_guess("/elsewhere", "/repo") == "/repo"
    assert working_directory_guess("/repository", "/repo") == "/repo"
    assert working_directory_guess(None, "/repo") == "/repo"


def test_runs_of_two_schedulers_never_share_a_run_directory(rule_runner: RuleRunner) -> None:
    """pantsd makes a new scheduler in the same process when bootstrap options change, and
    RunId restarts with it: the run's directory must still be new."""
    from pants_oci.goals.publish_run import OciPublishSession, OciPublishSessionRequest

    def session_dirs() -> list[str]:
        runner = RuleRunner(
            rules=[*rule_runner.rules, QueryRule(OciPublishSession, [OciPublishSessionRequest])],
            target_types=rule_runner.target_types,
        )
        first = runner.request(OciPublishSession, [OciPublishSessionRequest()]).run_dir
        runner.set_options([], env_inherit={"PATH", "HOME"})  # a new session: the next RunId
        return [first, runner.request(OciPublishSession, [OciPublishSessionRequest()]).run_dir]

    one, two = session_dirs(), session_dirs()
    assert len({*one, *two}) == 4, (one, two)
    assert one[0].rsplit("-", 1)[1] == two[0].rsplit("-", 1)[1], "same RunId, other scheduler"
