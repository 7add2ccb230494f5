"""Tag-only `oci_pull` targets pinned by the base-image lockfile: which digest a build uses,
what `generate-lockfiles` tracks, and the errors for a missing entry or a broken lockfile."""

from __future__ import annotations

import pytest
from pants.core.goals.generate_lockfiles import UserGenerateLockfiles
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address, Addresses
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import DependenciesRequest, InvalidFieldException
from pants.option.errors import OptionsError
from pants.testutil.rule_runner import RuleRunner

from ocikit import media_types
from ocikit.contracts.lockfile import TrackedImage
from ocikit.lockfile import BaseImageLock, LockEntry, format_lockfile, new_lock
from ocikit.reference import parse_reference
from pants_oci.base_lockfile_pins import pin_pull_reference, regenerate_command, tracked_images
from pants_oci.field_validation import FieldName
from pants_oci.goals.lockfile import RequestedBaseImageResolveNames, refresh_only_references
from pants_oci.goals.package import OciImageFieldSet
from pants_oci.pull_fields import OciPullDependenciesField

A, B = ("sha256:" + c * 64 for c in "ab")
FIELD = FieldName("image", Address("base", target_name="debian"))
LOCK = new_lock([LockEntry("registry.example.com/base/debian:12", A, media_types.OCI_INDEX, (("linux/amd64", B),))])
LOCKFILE = "3rdparty/oci/base-images.lock.yaml"


def test_a_tag_takes_the_lockfile_digest_and_an_inline_digest_wins() -> None:
    command = regenerate_command()
    tag = parse_reference("registry.example.com/base/debian:12")
    assert str(pin_pull_reference(FIELD, tag, LOCK, command)) == f"registry.example.com/base/debian:12@{A}"
    inline = parse_reference(f"registry.example.com/base/debian:12@{B}")
    assert pin_pull_reference(FIELD, inline, LOCK, command) == inline
    assert pin_pull_reference(FIELD, inline, BaseImageLock(), command) == inline


def test_a_tag_the_lockfile_lacks_names_the_target_field_lockfile_and_goal() -> None:
    with pytest.raises(InvalidFieldException) as raised:
        pin_pull_reference(
            FIELD,
            parse_reference("registry.example.com/base/debian:13"),
            BaseImageLock(LOCK.entries, LOCKFILE),
            "pants generate-lockfiles --resolve=oci-base-images",
        )
    assert str(raised.value) == (
        "The `image` field in target base:debian has the value 'registry.example.com/base/debian:13', a tag "
        f"without a digest, and the base-image lockfile {LOCKFILE} has no entry for "
        "registry.example.com/base/debian:13. Run `pants generate-lockfiles --resolve=oci-base-images` to add "
        "it, or pin a digest in the field ('registry.example.com/base/debian:13@sha256:<64 hex>')."
    )


def test_tracked_images_are_the_tag_only_pulls_with_the_platforms_built_directly_on_them() -> None:
    debian, busybox, pinned = (Address("base", target_name=n) for n in ("debian", "busybox", "pinned"))
    again = Address("other", target_name="debian")
    pulls = [
        (debian, parse_reference("registry.example.com/base/debian:12")),
        (again, parse_reference("registry.example.com/base/debian:12")),
        (busybox, parse_reference("busybox:1.36")),
        (pinned, parse_reference(f"registry.example.com/base/debian:11@{A}")),
    ]
    bases = [(debian, ("linux/amd64",)), (again, ("linux/arm64/v8", "linux/amd64")), (pinned, ("linux/s390x",))]
    assert tracked_images(pulls, bases) == (
        TrackedImage("docker.io/library/busybox:1.36", (), ("base:busybox",)),
        TrackedImage(
            "registry.example.com/base/debian:12", ("linux/amd64", "linux/arm64/v8"), ("base:debian", "other:debian")
        ),
    )


@pytest.fixture
def lock_runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[*rule_runner.rules, QueryRule(UserGenerateLockfiles, [RequestedBaseImageResolveNames])],
        target_types=rule_runner.target_types,
    )
    runner.set_options([], env_inherit={"PATH", "HOME"})
    return runner


def test_generate_lockfiles_tracks_tag_only_pulls_and_their_images_platforms(lock_runner: RuleRunner) -> None:
    lock_runner.write_files(
        {
            "base/BUILD": """
oci_pull(name="debian", image="registry.example.com/base/debian:12")
oci_pull(name="pinned", image="registry.example.com/base/debian:11@sha256:"""
            + "a" * 64
            + """")
""",
            "app/BUILD": """
oci_image(name="web", base="//base:debian", platforms=["linux/amd64", "linux/arm64"])
oci_image(name="job", base="//base:debian")
oci_image(name="child", base=":web", platforms=["linux/s390x"])
oci_image(name="old", base="//base:pinned", platforms=["linux/ppc64le"])
""",
        }
    )
    [request] = lock_runner.request(UserGenerateLockfiles, [RequestedBaseImageResolveNames(["oci-base-images"])])
    assert (request.resolve_name, request.lockfile_dest) == ("oci-base-images", LOCKFILE)
    assert request.tracked == (
        TrackedImage("registry.example.com/base/debian:12", ("linux/amd64", "linux/arm64"), ("base:debian",)),
    )


def test_with_no_tag_only_pull_and_no_lockfile_there_is_nothing_to_generate(lock_runner: RuleRunner) -> None:
    lock_runner.write_files({"app/BUILD": 'oci_image(name="img")\n'})
    assert list(lock_runner.request(UserGenerateLockfiles, [RequestedBaseImageResolveNames(["oci-base-images"])])) == []
    lock_runner.write_files({LOCKFILE: format_lockfile(LOCK, "CMD").decode()})
    [request] = lock_runner.request(UserGenerateLockfiles, [RequestedBaseImageResolveNames(["oci-base-images"])])
    assert request.tracked == (), "the lockfile is rewritten empty: its entries are no longer used"


def _package(rule_runner: RuleRunner, spec_path: str, name: str) -> BuiltPackage:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    return rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])


def test_a_broken_lockfile_names_its_line_and_key_and_fails_only_builds_that_need_it(rule_runner: RuleRunner) -> None:
    text = format_lockfile(LOCK, "CMD").decode().replace('"linux/amd64"', '"linux"')
    rule_runner.write_files(
        {
            LOCKFILE: text,
            "app/BUILD": """
oci_pull(name="debian", image="registry.example.com/base/debian:12")
oci_image(name="on_tag", base=":debian")
oci_image(name="scratch")
""",
        }
    )
    with pytest.raises(ExecutionError) as raised:
        _package(rule_runner, "app", "on_tag")
    assert (
        f"{LOCKFILE}:11: images['registry.example.com/base/debian:12'].platforms['linux']: invalid platform 'linux'"
    ) in str(raised.value)
    assert "Fix it, or delete it and run `pants generate-lockfiles --resolve=oci-base-images`." in str(raised.value)
    assert _package(rule_runner, "app", "scratch").artifacts[0].digest.startswith("sha256:")


@pytest.mark.parametrize(
    "image, accepted",
    [
        ("registry.example.com/base/debian", "expected a tag, which the base-image lockfile pins"),
        ("registry.example.com/base/debian:no spaces", "must not contain whitespace"),
    ],
)
def test_a_pull_reference_without_tag_or_digest_is_refused_when_the_build_file_is_read(
    rule_runner: RuleRunner, image: str, accepted: str
) -> None:
    rule_runner.write_files({"bad/BUILD": f'oci_pull(name="p", image="{image}")\n'})
    with pytest.raises(ExecutionError) as raised:
        rule_runner.get_target(Address("bad", target_name="p"))
    assert f"The `image` field in target bad:p has an invalid value {image!r}: " in str(raised.value)
    assert accepted in str(raised.value)


def test_a_tag_only_pull_depends_on_the_lockfile_so_changed_dependents_see_it(rule_runner: RuleRunner) -> None:
    runner = RuleRunner(
        rules=[*rule_runner.rules, QueryRule(Addresses, [DependenciesRequest])],
        target_types=rule_runner.target_types,
    )
    runner.set_options([], env_inherit={"PATH", "HOME"})
    runner.write_files(
        {
            "base/BUILD": f"""
oci_pull(name="tag", image="registry.example.com/base/debian:12")
oci_pull(name="pinned", image="registry.example.com/base/debian:12@{A}")
""",
        }
    )

    def dependencies(name: str) -> list[Address]:
        target = runner.get_target(Address("base", target_name=name))
        return list(runner.request(Addresses, [DependenciesRequest(target[OciPullDependenciesField])]))

    assert dependencies("tag") == [], "no lockfile yet: building says which goal writes it"
    runner.write_files({LOCKFILE: format_lockfile(LOCK, "CMD").decode()})
    lockfile = Address(
        "3rdparty/oci", target_name="_oci-base-images_lockfile", relative_file_path="base-images.lock.yaml"
    )
    assert dependencies("tag") == [lockfile]
    assert dependencies("pinned") == []
    assert runner.get_target(lockfile).alias == "_lockfile"


def test_refresh_base_images_entries_must_be_references_with_a_tag() -> None:
    assert refresh_only_references(["busybox:1.36"]) == ["docker.io/library/busybox:1.36"]
    with pytest.raises(
        OptionsError,
        match=r"\[oci\].refresh_base_images has an invalid entry 'registry.example.com/base' "
        r"\(.*has no tag.*\): expected references with a tag",
    ):
        refresh_only_references(["registry.example.com/base"])


def test_a_failed_pull_is_one_line_naming_the_image_and_for_a_locked_digest_the_lockfile():
    from ocikit.image import Platform
    from ocikit.reference import parse_reference
    from pants_oci.util_rules.pull import LockfilePin, PullImageRequest, pull_error

    ref = parse_reference("registry.example.com/base:1@sha256:" + "a" * 64)
    stderr = (
        b"ocikit INFO progress\nocikit pull: error: fetching manifest sha256:aa from registry.example.com/base: "
        b"MANIFEST_UNKNOWN (HTTP 404) on GET https://registry.example.com/v2/base/manifests/sha256:aa\n"
    )
    pin = LockfilePin("locks/base.lock.yaml", "registry.example.com/base:1", "pants generate-lockfiles --resolve=x")
    locked = PullImageRequest(ref, (Platform.parse("linux/amd64"),), "oci_image app:img", pin)
    assert str(pull_error(locked, 1, stderr)) == (
        "oci_image app:img: its base registry.example.com/base:1 is pinned by locks/base.lock.yaml to "
        f"sha256:{'a' * 64}, which registry.example.com no longer has (MANIFEST_UNKNOWN, HTTP 404). "
        "Refresh the lockfile: `pants generate-lockfiles --resolve=x`."
    )
    pinned_in_build = PullImageRequest(ref, (Platform.parse("linux/amd64"),), "oci_image app:img")
    assert str(pull_error(pinned_in_build, 1, stderr)) == (
        f"oci_image app:img: cannot pull its base {ref}: fetching manifest sha256:aa from "
        "registry.example.com/base: MANIFEST_UNKNOWN (HTTP 404) on GET "
        "https://registry.example.com/v2/base/manifests/sha256:aa"
    )
    refused = b"ocikit pull: error: DENIED (HTTP 403) on GET https://registry.example.com/v2/base/manifests/x\n"
    assert "pinned by" not in str(pull_error(locked, 1, refused))
    assert (
        str(pull_error(locked, -9, b""))
        == f"oci_image app:img: cannot pull its base {ref}: `ocikit pull` exited with -9"
    )
