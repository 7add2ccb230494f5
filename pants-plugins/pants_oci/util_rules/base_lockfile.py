"""`[oci].base_image_lockfile` in builds: the parsed lockfile tag-only `oci_pull`s are pinned
with, and its place in the build graph.

Read from the workspace (Pants watches it, so an edit or a regeneration invalidates exactly
the images built on it); never from a registry. As Python lockfiles, it is a synthetic
`_lockfiles` target that tag-only `oci_pull`s depend on, so `--changed-since` sees a
regenerated lockfile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from pants.core.goals.generate_lockfiles import GenerateLockfilesSubsystem
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents, GlobMatchErrorBehavior, PathGlobs, Snapshot
from pants.engine.internals.synthetic_targets import SyntheticAddressMaps, SyntheticTargetsRequest
from pants.engine.internals.target_adaptor import TargetAdaptor
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule

from ocikit.lockfile import BaseImageLock, LockfileError, check_platform_manifests, lock_key, parse_lockfile
from ocikit.reference import Reference
from pants_oci.base_lockfile_pins import BASE_IMAGE_RESOLVE, regenerate_command
from pants_oci.pull_fields import OciPullDependenciesField, OciPullImageField
from pants_oci.subsystem import OciSubsystem


@dataclass(frozen=True)
class BaseImageLockfileRequest:
    """Asked only by builds that need the lockfile: a broken lockfile fails only those."""


@dataclass(frozen=True)
class BaseImageLockfile:
    lock: BaseImageLock  # empty when the file does not exist
    path: str
    regenerate_command: str


async def read_lockfile_bytes(path: str) -> bytes | None:
    """A lockfile's bytes as the workspace holds them (Pants watches the file), None when it
    does not exist. Every lockfile of the plugin is read this way."""
    contents = await Get(DigestContents, PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore))
    return contents[0].content if contents else None


@rule(desc="Read the base-image lockfile")
async def read_base_image_lockfile(
    _: BaseImageLockfileRequest, oci: OciSubsystem, generate_lockfiles: GenerateLockfilesSubsystem
) -> BaseImageLockfile:
    path = oci.base_image_lockfile
    command = regenerate_command(generate_lockfiles.custom_command)
    content = await read_lockfile_bytes(path)
    if content is None:
        return BaseImageLockfile(BaseImageLock(path=path), path, command)
    lock = parse_lockfile(content, path, f"Fix it, or delete it and run `{command}`.")
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


def lockfile_target_name(resolve: str) -> str:
    return f"_{resolve}_lockfile"


LOCKFILE_TARGET_NAME = lockfile_target_name(BASE_IMAGE_RESOLVE)


@dataclass(frozen=True)
class BaseImageLockfileTargetRequest(SyntheticTargetsRequest):
    path: str = SyntheticTargetsRequest.SINGLE_REQUEST_FOR_ALL_TARGETS


@rule(desc="Make the base-image lockfile a target")
async def base_image_lockfile_target(
    request: BaseImageLockfileTargetRequest, oci: OciSubsystem
) -> SyntheticAddressMaps:
    return lockfile_target(request, oci.base_image_lockfile, BASE_IMAGE_RESOLVE, "[oci].base_image_lockfile")


def lockfile_target(request: SyntheticTargetsRequest, path: str, resolve: str, option: str) -> SyntheticAddressMaps:
    """The lockfile of `resolve` as a `_lockfiles` target beside it (`lockfile_target_name`), so
    the targets depending on it are changed dependents when it is regenerated."""
    directory, name = os.path.split(path)
    adaptor = TargetAdaptor(
        "_lockfiles",
        name=lockfile_target_name(resolve),
        sources=[name],
        __description_of_origin__=f"the {option} option",
    )
    return SyntheticAddressMaps.for_targets_request(
        request, [(os.path.join(directory, f"BUILD.{resolve}-lockfile"), (adaptor,))]
    )


@dataclass(frozen=True)
class OciPullInferenceFieldSet(FieldSet):
    required_fields = (OciPullImageField, OciPullDependenciesField)

    image: OciPullImageField
    dependencies: OciPullDependenciesField


class InferOciPullDependencies(InferDependenciesRequest):
    infer_from = OciPullInferenceFieldSet


@rule(desc="Infer the base-image lockfile of an oci_pull")
async def infer_oci_pull_dependencies(request: InferOciPullDependencies, oci: OciSubsystem) -> InferredDependencies:
    if request.field_set.image.reference.digest:
        return InferredDependencies([])
    path = oci.base_image_lockfile
    exists = await Get(Snapshot, PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore))
    if not exists.files:
        return InferredDependencies([])  # building the image says which goal writes it
    directory, name = os.path.split(path)
    return InferredDependencies([Address(directory, target_name=LOCKFILE_TARGET_NAME, relative_file_path=name)])


def rules():
    return [
        *collect_rules(),
        *BaseImageLockfileTargetRequest.rules(),
        UnionRule(InferDependenciesRequest, InferOciPullDependencies),
    ]
