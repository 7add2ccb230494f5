"""The pure parts of one publish run (pants_oci.publish_plan): destinations, mount sources,
conflicts between images, and the plans the core reads."""

from __future__ import annotations

import json

import pytest
from pants_oci.publish_plan import (
    ImagePlan,
    OciPublishConflictError,
    check_plan,
    mount_sources,
    push_destinations,
    push_plan,
    read_check_result,
    refuse_conflicts,
)
from pants_oci.registries import OciRegistry
from pants.engine.addresses import Address


def plan(name: str, *destinations: str) -> ImagePlan:
    return ImagePlan(Address("apps", target_name=name), f"apps/{name}", "sha256:" + "a" * 64, destinations, (),
                     f"/dist/apps/{name}.publish.json")


def test_destinations_one_per_tag_or_by_digest_without_tags() -> None:
    assert push_destinations("r:5000", "team/web", ("1.0", "latest")) == ("r:5000/team/web:1.0", "r:5000/team/web:latest")
    assert push_destinations("r:5000", "team/web", ()) == ("r:5000/team/web",)


def test_mount_sources_pulled_bases_then_our_bases_on_each_registry_without_repeats() -> None:
    registries = (OciRegistry("a", "a.example"), OciRegistry("b", "b.example:5000"))
    assert mount_sources(("a.example/library/busybox",), ("base/runtime",), registries) == (
        "a.example/library/busybox", "a.example/base/runtime", "b.example:5000/base/runtime")
    assert mount_sources(("a.example/base/runtime",), ("base/runtime",), registries[:1]) == ("a.example/base/runtime",)


def test_two_images_on_one_tag_are_refused_naming_both() -> None:
    with pytest.raises(OciPublishConflictError) as raised:
        refuse_conflicts([plan("web", "r/web:1", "r/web:latest"), plan("api", "r/api:1"),
                          plan("web2", "r/web:latest")])
    assert str(raised.value) == (
        "Two images of this publish would be pushed to r/web:latest: apps:web and apps:web2. Each "
        "`repository:tag` can name one image only: give one of them another `repository` or `image_tags`, "
        "or publish them in separate runs."
    )


def test_one_image_listing_a_destination_twice_and_tagless_destinations_do_not_conflict() -> None:
    refuse_conflicts([plan("web", "r/web:1", "r/web:1"), plan("a", "r/shared"), plan("b", "r/shared")])


def test_plans_hold_every_image_and_the_check_answer_is_read_back() -> None:
    images = [plan("web", "r/web:1"), plan("api", "r/api:1")]
    checked = json.loads(check_plan(images, ["r", "r"], 3, "/dist/oci-publish.json"))
    assert checked["jobs"] == 3 and checked["insecure_registries"] == ["r"]
    assert [i["key"] for i in checked["images"]] == ["apps:web", "apps:api"]
    assert checked["images"][0] == {"key": "apps:web", "layout": "apps/web", "digest": "sha256:" + "a" * 64,
                                    "destinations": ["r/web:1"], "mounts_from": [],
                                    "record": "/dist/apps/web.publish.json"}
    pushed = json.loads(push_plan(images[:1], images[1:], "run-7", [], 4, "/dist/oci-publish.json"))
    assert pushed["run_id"] == "run-7" and [i["key"] for i in pushed["images"]] == ["apps:web"]
    assert pushed["published"] == [{"key": "apps:api", "digest": "sha256:" + "a" * 64, "destinations": ["r/api:1"]}]
    assert read_check_result(b'{"run_id": "x", "published": ["apps:api"], "checked": {}}') == (
        "x", frozenset({"apps:api"}))


def test_each_later_process_answers_from_the_first_ones_files_without_python(tmp_path) -> None:
    import subprocess

    from pants_oci.goals.publish_run import _ANSWER_OR_PUSH

    def run(prefix, *command):
        return subprocess.run(["/bin/sh", "-c", _ANSWER_OR_PUSH, "ocikit-push-run", str(prefix), *command],
                              capture_output=True, text=True, timeout=30)

    leader = run(tmp_path / "run.0", "/bin/sh", "-c", "echo pushing all; exit 3")
    assert (leader.returncode, leader.stdout) == (3, "pushing all\n"), "no answer yet: the command runs"
    (tmp_path / "run.1.err").write_text("ocikit push-run: error: apps:web: refused\n")
    (tmp_path / "run.1.exit").write_text("1\n")
    failed = run(tmp_path / "run.1", "/bin/false-not-run")
    assert (failed.returncode, failed.stderr) == (1, "ocikit push-run: error: apps:web: refused\n")
    (tmp_path / "run.2.err").write_text("")
    (tmp_path / "run.2.exit").write_text("0\n")
    assert run(tmp_path / "run.2", "/bin/false-not-run").returncode == 0
