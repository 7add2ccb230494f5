"""`[oci].base_image_lockfile` -> the parsed lockfile builds pin tag-only `oci_pull`s with.

Read from the workspace (Pants watches it, so an edit or a regeneration invalidates exactly
the images built on it); never from a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pants_oci.base_image_lock import regenerate_command
from pants_oci.subsystem import OciSubsystem
from pants.core.goals.generate_lockfiles import GenerateLockfilesSubsystem
from pants.engine.fs import DigestContents, GlobMatchErrorBehavior, PathGlobs
from pants.engine.rules import Get, collect_rules, rule

from ocikit.lockfile import BaseImageLock, LockfileError, check_platform_manifests, lock_key, parse_lockfile
from ocikit.reference import Reference


@dataclass(frozen=True)
class BaseImageLockfileRequest:
    """Asked only by builds that need the lockfile: a broken lockfile fails only those."""


@dataclass(frozen=True)
class BaseImageLockfile:
    lock: BaseImageLock  # empty when the file does not exist
    path: str
    regenerate_command: str


@rule(desc="Read the base-image lockfile")
async def read_base_image_lockfile(
    _: BaseImageLockfileRequest, oci: OciSubsystem, generate_lockfiles: GenerateLockfilesSubsystem
) -> BaseImageLockfile:
    path = oci.base_image_lockfile
    command = regenerate_command(generate_lockfiles.custom_command)
    contents = await Get(
        DigestContents,
        PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore),
    )
    if not contents:
        return BaseImageLockfile(BaseImageLock(path=path), path, command)
    lock = parse_lockfile(contents[0].content, path, f"Fix it, or delete it and run `{command}`.")
    return BaseImageLockfile(lock, path, command)


def check_locked_platforms(lockfile: BaseImageLockfile, pinned: Reference, pulled: Mapping[str, str]) -> None:
    """A LockfileError when the manifests pulled for `pinned` (`{platform: digest}`) are not the
    ones its entry records: the entry was edited by hand (the pull, keyed by the entry's
    digest and verified, is the truth)."""
    entry = lockfile.lock.get(pinned)
    differs = check_platform_manifests(entry, pulled) if entry is not None else None
    if differs:
        raise LockfileError(
            f"{lockfile.path}: the entry {lock_key(pinned)} does not match the image it pins: "
            f"{differs}. Run `{lockfile.regenerate_command}`."
        )


def rules():
    return collect_rules()
