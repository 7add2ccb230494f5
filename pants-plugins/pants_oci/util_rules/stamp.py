"""The stamped `repository` and `image_tags` of an image being published (pants_oci.stamping).

The values come from this run: the git worktree through Pants' own `MaybeGitWorktree` (not
cacheable by design: a new commit is seen by the next run, even under pantsd) and the
variables of `[oci].stamp_env_vars` through the engine. Only publish and oci-verify ask for
them, after the image is built: no image, layer or cache key depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pants.core.util_rules.system_binaries import GitBinaryException
from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.vcs.git import GitWorktree, GitWorktreeRequest, MaybeGitWorktree

from pants_oci.field_validation import FieldName, invalid_value
from pants_oci.image_fields import OciImageRepositoryField, OciImageTagsField
from pants_oci.stamping import (
    GIT_COMMIT,
    Destination,
    StampError,
    StampValues,
    has_placeholders,
    stamp_repository,
    stamp_tag,
    template_pattern,
    uses,
)
from pants_oci.subsystem import OciSubsystem


@dataclass(frozen=True)
class OciStampValuesRequest:
    git: bool  # whether to read the commit (a template uses it)


@dataclass(frozen=True)
class OciStampRequest:
    address: Address
    repository: str  # templates, as the target's fields hold them
    tags: tuple[str, ...]
    digest: str


@dataclass(frozen=True)
class OciStampedNames:
    repository: str
    tags: tuple[str, ...]
    repository_template: str
    tag_templates: tuple[str, ...]
    values: StampValues

    def destinations(self, registry: str) -> tuple[Destination, ...]:
        """This image's destinations on `registry` (a tagless one pushes by digest only)."""
        pairs = zip(self.tags, self.tag_templates) if self.tags else [("", "")]
        return tuple(
            Destination(
                f"{registry}/{self.repository}" + (f":{tag}" if tag else ""),
                template_pattern(
                    f"{registry}/{self.repository_template}" + (f":{tt}" if tt else ""), self.values
                ).partial,
            )
            for tag, tt in pairs
        )


def read_git(worktree: Optional[GitWorktree]) -> tuple[Optional[str], bool, str]:
    """(commit, dirty, why there is no commit). Dirty means tracked files differ from HEAD
    (as `git describe --dirty`); untracked files do not count."""
    if worktree is None:
        return None, False, "the build root is not in a git worktree (or git is not installed)"
    try:
        commit = worktree.commit_id
        return commit, bool(worktree.changed_files()), ""
    except GitBinaryException as e:
        return None, False, f"git gave no commit ({str(e).strip() or 'no HEAD'}): commit first"


@rule(desc="Read the values OCI image tags are stamped with", level=LogLevel.DEBUG)
async def read_stamp_values(request: OciStampValuesRequest, oci: OciSubsystem) -> StampValues:
    defaults = oci.stamp_env_vars_defaults()
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(sorted(defaults)))
    values = {name: env.get(name, default) for name, default in defaults.items()}
    known = FrozenDict((k, v) for k, v in sorted(values.items()) if v is not None)
    if not request.git:
        return StampValues(tuple(sorted(defaults)), known)
    maybe = await Get(MaybeGitWorktree, GitWorktreeRequest())
    commit, dirty, problem = read_git(maybe.git_worktree)
    return StampValues(tuple(sorted(defaults)), known, commit, dirty, problem)


def needs_git(templates: tuple[str, ...]) -> bool:
    """Whether any template uses the commit (a bad template is reported by its stamping)."""
    try:
        return any(uses(t, GIT_COMMIT) for t in templates if has_placeholders(t))
    except StampError:
        return False


def stamp_names(request: OciStampRequest, values: StampValues) -> OciStampedNames:
    """The request's templates stamped; an error names the target, field and template."""

    def stamped(alias: str, template: str, stamp) -> str:
        try:
            return stamp(template, values, request.digest) if has_placeholders(template) else template
        except StampError as e:
            raise invalid_value(FieldName(alias, request.address), template, str(e)) from e

    repository = stamped(OciImageRepositoryField.alias, request.repository, stamp_repository)
    tags = tuple(stamped(OciImageTagsField.alias, t, stamp_tag) for t in request.tags)
    return OciStampedNames(repository, tags, request.repository, request.tags, values)


@rule(desc="Stamp an OCI image's repository and tags", level=LogLevel.DEBUG)
async def stamp_image_names(request: OciStampRequest) -> OciStampedNames:
    templates = (request.repository, *request.tags)
    if not any(has_placeholders(t) for t in templates):
        return OciStampedNames(
            request.repository, request.tags, request.repository, request.tags, StampValues((), FrozenDict())
        )
    values = await Get(StampValues, OciStampValuesRequest(needs_git(templates)))
    return stamp_names(request, values)


def rules():
    return collect_rules()
