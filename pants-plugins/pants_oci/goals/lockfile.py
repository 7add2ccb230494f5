"""`pants generate-lockfiles --resolve=oci-base-images`: refresh the base-image lockfile.

Plugged into Pants' own goal as the Python and JVM backends are: a resolve name, the tag-only
`oci_pull` references (with the platforms built on them) as its "requirements", and a rule
that writes the lockfile. Asking registries what a tag names happens in a process (`python -m
ocikit lock`), never cached across runs: a tag can move at any time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from pants.core.goals.generate_lockfiles import (
    GenerateLockfile,
    GenerateLockfileResult,
    GenerateLockfilesSubsystem,
    KnownUserResolveNames,
    KnownUserResolveNamesRequest,
    RequestedUserResolveNames,
    UserGenerateLockfiles,
)
from pants.engine.addresses import Address, AddressInput
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    CreateDigest,
    Digest,
    FileContent,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
    Snapshot,
)
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import Target, Targets
from pants.engine.unions import UnionRule
from pants.option.errors import OptionsError
from pants.util.logging import LogLevel

from ocikit.contracts.lockfile import LockCommand, TrackedImage, TrackedImages
from ocikit.lockfile import lock_key
from ocikit.reference import InvalidReference, parse_reference
from pants_oci.base_lockfile_pins import BASE_IMAGE_RESOLVE, regenerate_command, tracked_images
from pants_oci.bases import base_address
from pants_oci.image_fields import OciImageBaseField, OciImagePlatformsField
from pants_oci.pull_fields import OciPullImageField
from pants_oci.registries import OciRegistries
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.targets_with_field import TargetsWithFieldRequest
from pants_oci.util_rules.worker_runner import CREDENTIAL_ENV, OcikitRunner

logger = logging.getLogger(__name__)

_TRACKED = "__oci_tracked.json"
_OUT = "__oci_lock_out"


@dataclass(frozen=True)
class GenerateBaseImageLockfile(GenerateLockfile):
    tracked: tuple[TrackedImage, ...]


class KnownBaseImageResolveNamesRequest(KnownUserResolveNamesRequest):
    pass


class RequestedBaseImageResolveNames(RequestedUserResolveNames):
    pass


@rule(desc="Name the base-image resolve")
def known_base_image_resolve(_: KnownBaseImageResolveNamesRequest) -> KnownUserResolveNames:
    return KnownUserResolveNames(
        names=(BASE_IMAGE_RESOLVE,),
        option_name="[oci].base_image_lockfile",
        requested_resolve_names_cls=RequestedBaseImageResolveNames,
    )


def _base_of(image: Target) -> Address | None:
    """The target an image's `base` names, read without the engine; None for scratch, a
    registry reference, or an address that does not parse (building the image reports it)."""
    spec = base_address(image[OciImageBaseField].value)
    if spec is None:
        return None
    try:
        return AddressInput.parse(
            spec, relative_to=image.address.spec_path, description_of_origin=f"the `base` field of {image.address}"
        ).dir_to_address()
    except (AddressParseException, ValueError):
        return None


@rule(desc="Find the base images the lockfile tracks")
async def base_image_lockfile_request(_: RequestedBaseImageResolveNames, oci: OciSubsystem) -> UserGenerateLockfiles:
    origin = "the base images of the lockfile"
    pull_targets = await Get(Targets, TargetsWithFieldRequest(OciPullImageField, origin))
    images = await Get(Targets, TargetsWithFieldRequest(OciImageBaseField, origin))
    pulls = [(t.address, t[OciPullImageField].reference) for t in pull_targets]
    bases = [(base, tuple(t[OciImagePlatformsField].value)) for t in images if (base := _base_of(t)) is not None]
    tracked = tracked_images(pulls, bases)
    existing = await Get(
        Snapshot, PathGlobs([oci.base_image_lockfile], glob_match_error_behavior=GlobMatchErrorBehavior.ignore)
    )
    if not tracked and not existing.files:
        logger.info(f"{BASE_IMAGE_RESOLVE}: no `oci_pull` names a tag without a digest: no lockfile to write")
        return UserGenerateLockfiles()
    return UserGenerateLockfiles(
        [
            GenerateBaseImageLockfile(
                resolve_name=BASE_IMAGE_RESOLVE,
                lockfile_dest=oci.base_image_lockfile,
                diff=False,
                tracked=tracked,
            )
        ]
    )


def refresh_only_references(references: Sequence[str]) -> list[str]:
    """`[oci].refresh_base_images`, each a reference with a tag (the lockfile's keys)."""
    checked = []
    for value in references:
        try:
            checked.append(lock_key(parse_reference(value)))
        except InvalidReference as e:
            raise OptionsError(
                f"[oci].refresh_base_images has an invalid entry {value!r} ({e}): expected references "
                "with a tag as `oci_pull` names them, e.g. 'registry.example.com/base/debian:12'"
            ) from None
    return checked


def lock_command(lockfile: str, regenerate: str, only: Sequence[str], registries: OciRegistries) -> LockCommand:
    """`ocikit lock` of `lockfile`, the current one (if any) at its path in the sandbox."""
    return LockCommand(
        tracked=_TRACKED,
        out=f"{_OUT}/{lockfile}",
        lockfile=lockfile,
        regenerate_command=regenerate,
        only=tuple(only),
        insecure_registries=registries.insecure_addresses,
    )


@rule(desc="Refresh the base-image lockfile", level=LogLevel.DEBUG)
async def generate_base_image_lockfile(
    request: GenerateBaseImageLockfile,
    runner: OcikitRunner,
    oci: OciSubsystem,
    generate_lockfiles: GenerateLockfilesSubsystem,
) -> GenerateLockfileResult:
    path = request.lockfile_dest
    current = await Get(Digest, PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore))
    tracked = TrackedImages(request.tracked).dumps()
    inputs = await Get(Digest, CreateDigest([FileContent(_TRACKED, tracked)]))
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(CREDENTIAL_ENV))
    command = lock_command(
        path,
        regenerate_command(generate_lockfiles.custom_command),
        refresh_only_references(oci.refresh_base_images),
        oci.registries(),
    )
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            command.to_argv(),
            env=env,
            input_digest=await Get(Digest, MergeDigests([current, inputs])),
            output_files=(f"{_OUT}/{path}",),
            description=f"Ask the registries what the {len(request.tracked)} tracked base image tags name",
            level=LogLevel.DEBUG,
            # What a tag names changes without any input changing: ask every time.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    for line in result.stdout.decode().splitlines():
        logger.info(f"{BASE_IMAGE_RESOLVE}: {line}")
    for line in result.stderr.decode().splitlines():
        logger.warning(line)
    lockfile = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    return GenerateLockfileResult(lockfile, BASE_IMAGE_RESOLVE, path)


def rules():
    return [
        *collect_rules(),
        UnionRule(GenerateLockfile, GenerateBaseImageLockfile),
        UnionRule(KnownUserResolveNamesRequest, KnownBaseImageResolveNamesRequest),
        UnionRule(RequestedUserResolveNames, RequestedBaseImageResolveNames),
    ]
