"""Stamped `image_tags` and `repository` (pants_oci.stamping, util_rules/stamp.py): template
expansion, every bad input named with its target and field, the git values read from a real
repository, and the tag conflict check with placeholders (publish_plan.refuse_conflicts)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pants.core.util_rules.system_binaries import GitBinary
from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException
from pants.util.frozendict import FrozenDict
from pants.vcs.git import GitWorktree

from pants_oci.field_validation import FieldName
from pants_oci.image_fields import OciImageRepositoryField, OciImageTagsField
from pants_oci.publish_plan import OciPublishConflictError, refuse_conflicts, tag_claims
from pants_oci.stamping import (
    Destination,
    StampError,
    StampValues,
    parse_stamp_env_vars,
    stamp,
    template_pattern,
    unstamped,
)
from pants_oci.util_rules.stamp import OciStampRequest, needs_git, read_git, stamp_names

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "fedcba9876543210" * 4
WEB = Address("apps", target_name="web")
VALUES = StampValues(("CHANNEL", "EMPTY"), FrozenDict({"CHANNEL": "beta", "EMPTY": ""}), COMMIT, False, "")


def test_every_placeholder_expands() -> None:
    assert stamp("{git.commit}", VALUES, DIGEST) == COMMIT
    assert stamp("sha-{git.commit_short}", VALUES, DIGEST) == "sha-0123456789ab"
    assert stamp("{env.CHANNEL}-{image.digest_short}", VALUES, DIGEST) == "beta-fedcba987654"
    assert stamp("{image.digest}", VALUES, DIGEST) == DIGEST.split(":")[1]
    assert stamp("plain", VALUES, DIGEST) == "plain"


def test_a_dirty_tree_is_marked_on_both_commit_placeholders() -> None:
    dirty = StampValues((), FrozenDict(), COMMIT, True, "")
    assert stamp("{git.commit}", dirty, DIGEST) == COMMIT + "-dirty"
    assert stamp("{git.commit_short}", dirty, DIGEST) == "0123456789ab-dirty"


@pytest.mark.parametrize(
    "template, error",
    [
        ("{git.sha}", "unknown placeholder {git.sha}: placeholders are {git.commit}"),
        ("{env.1X}", "unknown placeholder {env.1X}"),
        ("v{git.commit", "unbalanced '{' or '}'"),
        ("{env.HOME}", "{env.HOME}: HOME is not in [oci].stamp_env_vars (add `HOME` or `HOME=default` there"),
        ("{git.commit_short}", "{git.commit_short} needs the commit, but git gave no commit"),
        ("{env.EMPTY}", "stamps to '', not a valid tag"),
        ("-{env.CHANNEL}", "stamps to '-beta', not a valid tag: tags match"),
        ("{git.commit}{git.commit}{git.commit}{git.commit}", "not a valid tag"),
    ],
)
def test_bad_tag_templates_are_refused_naming_target_field_and_value(template: str, error: str) -> None:
    values = StampValues(VALUES.allowlist, VALUES.env, None, False, "git gave no commit (no HEAD): commit first")
    values = VALUES if "commit_short" not in template else values
    with pytest.raises(InvalidFieldException) as raised:
        stamp_names(OciStampRequest(WEB, "team/web", ("latest", template), DIGEST), values)
    message = str(raised.value)
    assert message.startswith(f"The `image_tags` field in target apps:web has an invalid value {template!r}: ")
    assert error in message


def test_an_unset_variable_without_default_is_an_error_and_a_default_fills_in() -> None:
    defaults = parse_stamp_env_vars(["BUILD_ID", "CHANNEL=dev"])
    assert dict(defaults) == {"BUILD_ID": None, "CHANNEL": "dev"}
    unset = StampValues(tuple(defaults), FrozenDict({"CHANNEL": "dev"}))
    assert stamp("{env.CHANNEL}", unset, DIGEST) == "dev"
    with pytest.raises(StampError, match=r"BUILD_ID is not set and \[oci\].stamp_env_vars gives it no default"):
        stamp("{env.BUILD_ID}", unset, DIGEST)
    with pytest.raises(ValueError):
        parse_stamp_env_vars(["1BAD"])


def test_a_stamped_repository_must_be_a_valid_repository() -> None:
    upper = StampValues(("CHANNEL",), FrozenDict({"CHANNEL": "Beta"}))
    with pytest.raises(
        InvalidFieldException,
        match=r"^The `repository` field in target apps:web has an invalid value "
        r"'team/\{env.CHANNEL\}': stamps to 'team/Beta', not a valid repository",
    ):
        stamp_names(OciStampRequest(WEB, "team/{env.CHANNEL}", ("latest",), DIGEST), upper)
    names = stamp_names(OciStampRequest(WEB, "team/{env.CHANNEL}", ("{git.commit_short}",), DIGEST), VALUES)
    assert (names.repository, names.tags) == ("team/beta", ("0123456789ab",))
    assert names.destinations("r:5000") == (
        Destination("r:5000/team/beta:0123456789ab", "r:5000/team/beta:0123456789ab"),
    )


def test_fields_check_placeholders_and_the_text_around_them_when_the_build_file_is_read() -> None:
    assert OciImageTagsField.compute_value(["v-{git.commit_short}", "{env.X}"], WEB) == (
        "v-{git.commit_short}",
        "{env.X}",
    )
    for bad in ("{commit}", "v{git.commit}!", ".{env.X}"):
        with pytest.raises(
            InvalidFieldException, match=r"^The `image_tags` field in target apps:web has an invalid value"
        ):
            OciImageTagsField.compute_value([bad], WEB)
    assert OciImageRepositoryField.compute_value("team/{env.CHANNEL}", WEB) == "team/{env.CHANNEL}"
    with pytest.raises(InvalidFieldException, match=r"`repository` field .* 'Team/\{env.X\}': with its placeholders"):
        OciImageRepositoryField.check(FieldName("repository", WEB), "Team/{env.X}")


def test_git_is_asked_only_when_a_template_uses_it() -> None:
    assert needs_git(("a/{git.commit}",)) and not needs_git(("a:{image.digest_short}", "a:latest"))
    assert unstamped("team/{env.X}") == "team/unstamped"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_the_commit_and_dirty_state_come_from_a_real_git_worktree(tmp_path: Path) -> None:
    worktree = GitWorktree(GitBinary("/usr/bin/git"), worktree=tmp_path)
    _git(tmp_path, "init", "-q")
    commit, dirty, problem = read_git(worktree)
    assert commit is None and "git gave no commit" in problem and "commit first" in problem
    (tmp_path / "f").write_text("1")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-qm", "one")
    assert read_git(worktree) == (_git(tmp_path, "rev-parse", "HEAD"), False, "")
    (tmp_path / "untracked").write_text("x")
    assert read_git(worktree)[1] is False, "untracked files do not make the tree dirty (as `git describe --dirty`)"
    (tmp_path / "f").write_text("2")
    assert read_git(worktree)[1] is True
    assert read_git(None)[0] is None


# -- the tag conflict check with placeholders -------------------------------------------------

A, B = Address("apps", target_name="a"), Address("apps", target_name="b")


def _own(template: str, digest: str = DIGEST) -> Destination:
    return Destination(stamp(template, VALUES, digest), template_pattern(template, VALUES).partial)


def test_known_values_are_compared_stamped() -> None:
    claims = tag_claims([(A, ("r/web:{git.commit_short}",)), (B, ("r/web:0123456789ab",))], VALUES)
    assert dict(claims.exact) == {"r/web:0123456789ab": (A, B)}
    with pytest.raises(OciPublishConflictError, match=r"apps:a and apps:b would both be pushed to r/web:0123456789ab"):
        refuse_conflicts(A, (_own("r/web:{git.commit_short}"),), claims)
    claims = tag_claims([(A, ("r/web:{env.CHANNEL}",)), (B, ("r/web:stable",))], VALUES)
    assert refuse_conflicts(A, (_own("r/web:{env.CHANNEL}"),), claims) == ()


def test_another_targets_digest_placeholder_that_can_stamp_to_this_tag_is_refused() -> None:
    # b's image is not built by a's publish: its digest is unknown, and its template could
    # stamp to a's literal tag.
    claims = tag_claims([(A, ("r/web:fedcba987654",)), (B, ("r/web:{image.digest_short}",))], VALUES)
    with pytest.raises(
        OciPublishConflictError,
        match=r"apps:a would be pushed to r/web:fedcba987654, and apps:b would be "
        r"too if its image's digest stamps r/web:\{image.digest_short\} to it",
    ):
        refuse_conflicts(A, ("r/web:fedcba987654",), claims)
    # Text a digest cannot stamp to (not 12 lowercase hex digits) never matches.
    claims = tag_claims([(A, ("r/web:latest", "r/web:sha-{image.digest_short}")), (B, ("r/web:{image.digest_short}",))])
    assert refuse_conflicts(A, ("r/web:latest", _own("r/web:sha-{image.digest_short}")), claims) == ()


def test_one_digest_template_shared_by_two_images_is_not_a_conflict() -> None:
    claims = tag_claims(
        [(A, ("r/web:{env.CHANNEL}-{image.digest_short}",)), (B, ("r/web:{env.CHANNEL}-{image.digest_short}",))], VALUES
    )
    assert refuse_conflicts(A, (_own("r/web:{env.CHANNEL}-{image.digest_short}"),), claims) == ()


def test_a_value_this_run_lacks_is_reported_as_unknown_not_ignored() -> None:
    lacking = StampValues(("RELEASE",), FrozenDict())
    claims = tag_claims([(A, ("r/web:latest",)), (B, ("r/web:{env.RELEASE}",)), (B, ("r/api:{env.RELEASE}",))], lacking)
    (warning,) = refuse_conflicts(A, ("r/web:latest",), claims)
    assert warning.startswith(
        "Cannot tell whether apps:b is pushed to r/web:latest too (as r/web:{env.RELEASE}): "
        "{env.RELEASE}: RELEASE is not set"
    )
