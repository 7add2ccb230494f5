"""Placeholders in `image_tags` and `repository`, stamped when an image is published.

`{git.commit}` and `{git.commit_short}` (the checkout's HEAD, `-dirty` appended when tracked
files differ from it), `{env.NAME}` (a variable of `[oci].stamp_env_vars`) and
`{image.digest}` / `{image.digest_short}` (the hex of the image's own digest). Stamping
happens after the image is built: the values never enter an image, a layer or a cache key.

These functions are pure: the rules (util_rules/stamp.py) gather the values, and the tag
conflict check (publish_plan.py) turns a template into a pattern when a value is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from pants.util.frozendict import FrozenDict

from ocikit.reference import is_valid_repository, is_valid_tag

GIT_COMMIT = "git.commit"
GIT_COMMIT_SHORT = "git.commit_short"
IMAGE_DIGEST = "image.digest"
IMAGE_DIGEST_SHORT = "image.digest_short"
ENV_PREFIX = "env."
SHORT = 12  # hex digits of `*_short`: fixed, so a tag's length never depends on the history
DIRTY_SUFFIX = "-dirty"
ACCEPTED = (
    "placeholders are {git.commit}, {git.commit_short}, {image.digest}, {image.digest_short} "
    "and {env.NAME} for a NAME listed in [oci].stamp_env_vars"
)

_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STAMP_ENV_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$")
_DIGEST_WIDTH = {IMAGE_DIGEST: 64, IMAGE_DIGEST_SHORT: SHORT}
_GIT = (GIT_COMMIT, GIT_COMMIT_SHORT)
# What an unknown variable could expand to, for the conflict check: any run of tag characters.
_ANY_TAG_TEXT = "[A-Za-z0-9_.-]*"


class StampError(ValueError):
    """A template that cannot be stamped; the caller names the target and field."""


@dataclass(frozen=True)
class Placeholder:
    name: str


Segment = Union[str, Placeholder]


def has_placeholders(value: str) -> bool:
    return "{" in value or "}" in value


def unstamped(template: str) -> str:
    """`template` with each placeholder replaced by `unstamped`: a name for where nothing is
    stamped (`pants run`)."""
    return _PLACEHOLDER_RE.sub("unstamped", template)


def parse_template(template: str) -> tuple[Segment, ...]:
    """The literal text and placeholders of `template`, each placeholder checked."""
    segments: list[Segment] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        segments.append(template[position : match.start()])
        name = match.group(1)
        if not (
            name in _GIT
            or name in _DIGEST_WIDTH
            or (name.startswith(ENV_PREFIX) and _ENV_NAME_RE.match(name[len(ENV_PREFIX) :]))
        ):
            raise StampError(f"unknown placeholder {{{name}}}: {ACCEPTED}")
        segments.append(Placeholder(name))
        position = match.end()
    segments.append(template[position:])
    if any(isinstance(s, str) and ("{" in s or "}" in s) for s in segments):
        raise StampError(f"unbalanced '{{' or '}}': {ACCEPTED}")
    return tuple(s for s in segments if s != "")


def uses(template: str, prefix: str) -> bool:
    return any(isinstance(s, Placeholder) and s.name.startswith(prefix) for s in parse_template(template))


def check_template(template: str, valid: Callable[[str], bool], accepted: str) -> None:
    """Field-time check: the placeholders are known, and the text around them is valid (each
    placeholder taken as one valid character)."""
    sample = "".join(s if isinstance(s, str) else "a" for s in parse_template(template))
    if not valid(sample):
        raise StampError(f"with its placeholders stamped it cannot be valid: {accepted}")


def parse_stamp_env_vars(entries: Sequence[str]) -> FrozenDict[str, Optional[str]]:
    """`[oci].stamp_env_vars`: NAME -> its default (None: none). Raises ValueError on a bad entry."""
    parsed: dict[str, Optional[str]] = {}
    for entry in entries:
        match = _STAMP_ENV_RE.match(entry) if isinstance(entry, str) else None
        if match is None:
            raise ValueError(entry)
        parsed[match.group(1)] = match.group(2)
    return FrozenDict(parsed)


@dataclass(frozen=True)
class StampValues:
    """What this run stamps with. `commit` is None when git was not asked or gave none (then
    `git_problem` says why); `env` holds the allowlisted variables that have a value."""

    allowlist: tuple[str, ...]
    env: FrozenDict[str, str]
    commit: Optional[str] = None
    dirty: bool = False
    git_problem: str = "git was not asked"

    def git(self, name: str) -> str:
        if self.commit is None:
            raise StampError(f"{{{name}}} needs the commit, but {self.git_problem}")
        commit = self.commit if name == GIT_COMMIT else self.commit[:SHORT]
        return commit + (DIRTY_SUFFIX if self.dirty else "")

    def env_value(self, name: str) -> str:
        if name not in self.allowlist:
            raise StampError(
                f"{{env.{name}}}: {name} is not in [oci].stamp_env_vars (add `{name}` or "
                f"`{name}=default` there to stamp with it)"
            )
        if name not in self.env:
            raise StampError(
                f"{{env.{name}}}: {name} is not set and [oci].stamp_env_vars gives it no default "
                f"(set it, or list it as `{name}=default`)"
            )
        return self.env[name]


def _value(name: str, values: StampValues, digest: Optional[str]) -> Optional[str]:
    """A placeholder's value; None for the image's digest when `digest` is None."""
    if name in _GIT:
        return values.git(name)
    if name in _DIGEST_WIDTH:
        return None if digest is None else digest.split(":", 1)[-1][: _DIGEST_WIDTH[name]]
    return values.env_value(name[len(ENV_PREFIX) :])


def stamp(template: str, values: StampValues, digest: str) -> str:
    return "".join(s if isinstance(s, str) else _value(s.name, values, digest) or "" for s in parse_template(template))


def stamp_tag(template: str, values: StampValues, digest: str) -> str:
    tag = stamp(template, values, digest)
    if not is_valid_tag(tag):
        raise StampError(f"stamps to {tag!r}, not a valid tag: tags match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    return tag


def stamp_repository(template: str, values: StampValues, digest: str) -> str:
    repository = stamp(template, values, digest)
    if not is_valid_repository(repository):
        raise StampError(
            f"stamps to {repository!r}, not a valid repository: lowercase path components of "
            "[a-z0-9] separated by '.', '_', '__' or '-', joined by '/'"
        )
    return repository


@dataclass(frozen=True)
class Destination:
    """A reference an image is pushed to, and the same with only what every image of the run
    shares stamped (its digest left as a placeholder): two images with one such template push
    to one tag only when their digests agree (see publish_plan.refuse_conflicts)."""

    reference: str
    partial: str


@dataclass(frozen=True)
class TemplatePattern:
    """A destination whose image digest is unknown (another target's, not built by this run):
    `regex` matches every reference it can stamp to; `partial` is the template with what this
    run knows stamped (the digest left as a placeholder); `unknown` names values this run
    lacks (an unset variable), which `regex` lets be anything."""

    regex: str
    partial: str
    unknown: tuple[str, ...] = ()

    @property
    def has_digest(self) -> bool:
        return any(f"{{{name}}}" in self.partial for name in _DIGEST_WIDTH)


def template_pattern(template: str, values: StampValues) -> TemplatePattern:
    regex, partial, unknown = [], [], []
    for segment in parse_template(template):
        if isinstance(segment, str):
            regex.append(re.escape(segment))
            partial.append(segment)
        elif segment.name in _DIGEST_WIDTH:
            regex.append(f"[0-9a-f]{{{_DIGEST_WIDTH[segment.name]}}}")
            partial.append(f"{{{segment.name}}}")
        else:
            try:
                value = _value(segment.name, values, None) or ""
            except StampError as e:
                unknown.append(str(e))
                regex.append(_ANY_TAG_TEXT)
                partial.append(f"{{{segment.name}}}")
            else:
                regex.append(re.escape(value))
                partial.append(value)
    return TemplatePattern("".join(regex), "".join(partial), tuple(unknown))
