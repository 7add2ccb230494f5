"""The pure parts of one publish run (pants_oci.publish_plan): destinations, mount sources,
conflicts between targets, and the plans the core reads."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address

from ocikit.contract import ContractError
from ocikit.contracts.publish import CheckPlan, CheckResult, PublishImage, PushPlan
from pants_oci.publish_plan import (
    ImagePlan,
    OciPublishConflictError,
    check_plan,
    mount_sources,
    push_destinations,
    push_plan,
    read_check_result,
    refuse_conflicts,
    tag_claims,
)
from pants_oci.registries import OciRegistry


def plan(name: str, *destinations: str) -> ImagePlan:
    return ImagePlan(
        Address("apps", target_name=name),
        f"apps/{name}",
        "sha256:" + "a" * 64,
        destinations,
        (),
        f"/dist/apps/{name}.publish.json",
    )


def test_destinations_one_per_tag_or_by_digest_without_tags() -> None:
    assert push_destinations("r:5000", "team/web", ("1.0", "latest")) == (
        "r:5000/team/web:1.0",
        "r:5000/team/web:latest",
    )
    assert push_destinations("r:5000", "team/web", ()) == ("r:5000/team/web",)


def test_mount_sources_pulled_bases_then_our_bases_on_each_registry_without_repeats() -> None:
    registries = (OciRegistry("a", "a.example"), OciRegistry("b", "b.example:5000"))
    assert mount_sources(("a.example/library/busybox",), ("base/runtime",), registries) == (
        "a.example/library/busybox",
        "a.example/base/runtime",
        "b.example:5000/base/runtime",
    )
    assert mount_sources(("a.example/base/runtime",), ("base/runtime",), registries[:1]) == ("a.example/base/runtime",)


def test_a_tag_another_target_claims_is_refused_naming_both() -> None:
    web, api, web2 = (Address("apps", target_name=n) for n in ("web", "api", "web2"))
    claims = tag_claims([(web, ("r/web:1", "r/web:latest")), (api, ("r/api:1",)), (web2, ("r/web:latest",))])
    assert dict(claims.exact) == {"r/api:1": (api,), "r/web:1": (web,), "r/web:latest": (web, web2)}
    refuse_conflicts(api, ("r/api:1",), claims)
    for address in (web, web2):
        with pytest.raises(OciPublishConflictError) as raised:
            refuse_conflicts(address, ("r/web:latest",), claims)
        assert str(raised.value) == (
            "apps:web and apps:web2 would both be pushed to r/web:latest. Each `repository:tag` can name "
            "one image only, whichever targets a publish names: give all but one of them another "
            "`repository` or `image_tags` (or `skip_push=True`)."
        )


def test_three_claimants_are_all_named() -> None:
    a, b, c = (Address("apps", target_name=n) for n in "abc")
    claims = tag_claims([(c, ("r/x:1",)), (a, ("r/x:1",)), (b, ("r/x:1",))])
    with pytest.raises(OciPublishConflictError, match=r"^apps:a, apps:b and apps:c would all be pushed to r/x:1\."):
        refuse_conflicts(b, ("r/x:1",), claims)


def test_one_image_listing_a_destination_twice_and_tagless_destinations_do_not_conflict() -> None:
    a, b = Address("apps", target_name="a"), Address("apps", target_name="b")
    claims = tag_claims([(a, ("r/web:1", "r/web:1", "r/shared")), (b, ("r/shared", "r:5000/shared"))])
    assert dict(claims.exact) == {"r/web:1": (a,)} and claims.patterns == ()
    refuse_conflicts(a, ("r/web:1", "r/shared"), claims)
    refuse_conflicts(b, ("r/shared", "r:5000/shared"), claims)


def test_plans_are_the_cores_contracts_and_the_check_answer_is_read_back() -> None:
    images = [plan("web", "r/web:1"), plan("api", "r/api:1")]
    checked = CheckPlan.loads(check_plan(images, ["r", "r"], 3))
    assert checked.jobs == 3 and checked.insecure_registries == ("r",)
    assert checked.images[0] == PublishImage("apps:web", "apps/web", "sha256:" + "a" * 64, ("r/web:1",), ())
    assert [i.key for i in checked.images] == ["apps:web", "apps:api"]
    pushed = PushPlan.loads(
        push_plan(images[:1], "batch-7", "/dist/.oci-publish/run-1", "/dist/oci-publish.json", [], 4)
    )
    assert (pushed.batch_id, pushed.run_dir, pushed.run_record) == (
        "batch-7",
        "/dist/.oci-publish/run-1",
        "/dist/oci-publish.json",
    )
    assert [i.key for i in pushed.images] == ["apps:web"]
    answer = CheckResult("x", ("apps:api",), {"r/api:1": "sha256:" + "a" * 64}, {"apps:api": {"digest": "d"}})
    assert read_check_result(answer.dumps()) == answer
    with pytest.raises(ContractError, match="the output of `ocikit published`: expected a 'publish-check-result'"):
        read_check_result(b'{"kind": "publish-push-plan", "version": 1}')


def test_run_entries_start_as_found_by_the_check() -> None:
    web = plan("web", "r/web:1")
    assert web.run_entry(True).status == "already published"
    assert web.run_entry(False).for_record() == {
        "key": "apps:web",
        "digest": "sha256:" + "a" * 64,
        "destinations": ["r/web:1"],
        "status": "to push",
    }


def test_each_later_process_answers_from_the_first_ones_files_without_python(tmp_path) -> None:
    import subprocess

    from pants_oci.goals.publish_run import _ANSWER_OR_PUSH

    def run(prefix, *command):
        return subprocess.run(
            ["/bin/sh", "-c", _ANSWER_OR_PUSH, "ocikit-push-run", str(prefix), *command],
            capture_output=True,
            text=True,
            timeout=30,
        )

    leader = run(tmp_path / "run.0", "/bin/sh", "-c", "echo pushing all; exit 3")
    assert (leader.returncode, leader.stdout) == (3, "pushing all\n"), "no answer yet: the command runs"
    (tmp_path / "run.1.err").write_text("ocikit push-run: error: apps:web: refused\n")
    (tmp_path / "run.1.exit").write_text("1\n")
    failed = run(tmp_path / "run.1", "/bin/false-not-run")
    assert (failed.returncode, failed.stderr) == (1, "ocikit push-run: error: apps:web: refused\n")
    (tmp_path / "run.2.err").write_text("")
    (tmp_path / "run.2.exit").write_text("0\n")
    assert run(tmp_path / "run.2", "/bin/false-not-run").returncode == 0
