"""`pants generate-lockfiles --resolve=oci-debian-packages`, and the lockfile in builds.

Plugged into Pants' goal as the base-image lockfile is (`pants_oci.goals.lockfile`): a resolve
name, the `oci_debian_packages` targets as its "requirements", and a rule that runs `python -m
ocikit deb-lock` against `[oci].debian_archive`, never cached (the archive changes). An
archive that is down, an unknown package or an unsatisfiable dependency fails the process:
Pants then writes no lockfile. Builds read the file from the workspace only.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from dataclasses import dataclass
from typing import Iterable

from pants.core.goals.generate_lockfiles import (
    GenerateLockfile,
    GenerateLockfileResult,
    GenerateLockfilesSubsystem,
    KnownUserResolveNames,
    KnownUserResolveNamesRequest,
    RequestedUserResolveNames,
    UserGenerateLockfiles,
)
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, FileContent, RemovePrefix
from pants.engine.internals.synthetic_targets import SyntheticAddressMaps, SyntheticTargetsRequest
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies, Target, Targets
from pants.engine.unions import UnionRule
from pants.option.errors import OptionsError
from pants.util.logging import LogLevel

from ocikit.contracts.debian import DebLockCommand, DebLockRequest, DebTargetRequest
from ocikit.debian.archive import shown
from ocikit.debian.lockfile import DebianLock, parse_lockfile
from pants_oci.debian.plan import DEBIAN_RESOLVE, regenerate_command
from pants_oci.debian.target_types import (
    OciDebianArchitecturesField,
    OciDebianDependenciesField,
    OciDebianPackagesField,
    OciDebianSuiteField,
)
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.base_lockfile import lockfile_target, lockfile_target_name, read_lockfile_bytes
from pants_oci.util_rules.targets_with_field import TargetsWithFieldRequest
from pants_oci.util_rules.worker_runner import OcikitRunner

logger = logging.getLogger(__name__)

_REQUEST = "__oci_deb_request.json"
_OUT = "__oci_deb_lock_out"


def debian_archive(oci: OciSubsystem) -> str:
    """`[oci].debian_archive`, or an error saying what to set."""
    archive = (oci.debian_archive or "").strip()
    if "@" in urllib.parse.urlsplit(archive).netloc:
        # It would be in every fetch's command line, hence in logs and cache keys.
        raise OptionsError(
            f"[oci].debian_archive is {shown(archive)!r} with a user and password: credentials are not accepted "
            "there (they would reach process command lines and cache keys); use an archive that needs none"
        )
    if not archive.startswith(("http://", "https://")):
        raise OptionsError(
            f"[oci].debian_archive is {oci.debian_archive!r}: `oci_debian_packages` targets need the URL of "
            "a Debian archive (the directory holding dists/ and pool/), e.g. 'http://deb.debian.org/debian' "
            "or a snapshot 'http://snapshot.debian.org/archive/debian/20250520T000000Z'"
        )
    return archive


@dataclass(frozen=True)
class GenerateDebianLockfile(GenerateLockfile):
    targets: tuple[DebTargetRequest, ...]


class KnownDebianResolveNamesRequest(KnownUserResolveNamesRequest):
    pass


class RequestedDebianResolveNames(RequestedUserResolveNames):
    pass


@rule(desc="Name the Debian package resolve")
async def known_debian_resolve(_: KnownDebianResolveNamesRequest) -> KnownUserResolveNames:
    return KnownUserResolveNames(
        names=(DEBIAN_RESOLVE,),
        option_name="[oci].debian_packages_lockfile",
        requested_resolve_names_cls=RequestedDebianResolveNames,
    )


def target_requests(targets: Iterable[Target]) -> tuple[DebTargetRequest, ...]:
    """The lock requests of the `oci_debian_packages` targets, in address order."""
    return tuple(
        DebTargetRequest(
            str(t.address),
            t[OciDebianSuiteField].value,
            t[OciDebianPackagesField].value,
            t[OciDebianArchitecturesField].value,
        )
        for t in sorted(targets, key=lambda t: str(t.address))
    )


@rule(desc="Find the Debian packages the lockfile pins")
async def debian_lockfile_request(_: RequestedDebianResolveNames, oci: OciSubsystem) -> UserGenerateLockfiles:
    candidates = await Get(Targets, TargetsWithFieldRequest(OciDebianPackagesField, "the Debian package lockfile"))
    targets = target_requests(candidates)
    if not targets:
        logger.info(f"{DEBIAN_RESOLVE}: no `oci_debian_packages` target: no lockfile to write")
        return UserGenerateLockfiles()
    return UserGenerateLockfiles(
        [
            GenerateDebianLockfile(
                resolve_name=DEBIAN_RESOLVE, lockfile_dest=oci.debian_packages_lockfile, diff=False, targets=targets
            )
        ]
    )


@rule(desc="Resolve the Debian package lockfile", level=LogLevel.DEBUG)
async def generate_debian_lockfile(
    request: GenerateDebianLockfile,
    runner: OcikitRunner,
    oci: OciSubsystem,
    generate_lockfiles: GenerateLockfilesSubsystem,
) -> GenerateLockfileResult:
    path = request.lockfile_dest
    lock_request = DebLockRequest(debian_archive(oci), request.targets)
    inputs = await Get(Digest, CreateDigest([FileContent(_REQUEST, lock_request.dumps())]))
    command = DebLockCommand(_REQUEST, f"{_OUT}/{path}", regenerate_command(generate_lockfiles.custom_command))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            command.to_argv(),
            input_digest=inputs,
            output_files=(f"{_OUT}/{path}",),
            description=f"Resolve the Debian packages of {len(request.targets)} targets",
            level=LogLevel.DEBUG,
            # The archive changes without any input changing: ask every time.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    for line in result.stdout.decode().splitlines():
        logger.info(f"{DEBIAN_RESOLVE}: {line}")
    lockfile = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    return GenerateLockfileResult(lockfile, DEBIAN_RESOLVE, path)


@dataclass(frozen=True)
class DebianLockfileRequest:
    """Asked only by builds of `oci_debian_packages` targets."""


@dataclass(frozen=True)
class DebianLockfile:
    lock: DebianLock  # empty when the file does not exist
    path: str
    regenerate_command: str


@rule(desc="Read the Debian package lockfile")
async def read_debian_lockfile(
    _: DebianLockfileRequest, oci: OciSubsystem, generate_lockfiles: GenerateLockfilesSubsystem
) -> DebianLockfile:
    path = oci.debian_packages_lockfile
    command = regenerate_command(generate_lockfiles.custom_command)
    content = await read_lockfile_bytes(path)
    if content is None:
        return DebianLockfile(DebianLock(path=path), path, command)
    return DebianLockfile(parse_lockfile(content, path, f"Fix it, or delete it and run `{command}`."), path, command)


LOCKFILE_TARGET_NAME = lockfile_target_name(DEBIAN_RESOLVE)


@dataclass(frozen=True)
class DebianLockfileTargetRequest(SyntheticTargetsRequest):
    path: str = SyntheticTargetsRequest.SINGLE_REQUEST_FOR_ALL_TARGETS


@rule(desc="Make the Debian package lockfile a target")
async def debian_lockfile_target(request: DebianLockfileTargetRequest, oci: OciSubsystem) -> SyntheticAddressMaps:
    return lockfile_target(request, oci.debian_packages_lockfile, DEBIAN_RESOLVE, "[oci].debian_packages_lockfile")


@dataclass(frozen=True)
class DebianInferenceFieldSet(FieldSet):
    required_fields = (OciDebianDependenciesField,)

    dependencies: OciDebianDependenciesField


class InferDebianLockfileDependency(InferDependenciesRequest):
    infer_from = DebianInferenceFieldSet


@rule(desc="Infer the Debian package lockfile of an oci_debian_packages")
async def infer_debian_lockfile(_: InferDebianLockfileDependency, oci: OciSubsystem) -> InferredDependencies:
    path = oci.debian_packages_lockfile
    if await read_lockfile_bytes(path) is None:
        return InferredDependencies([])  # building says which goal writes it
    directory, name = os.path.split(path)
    return InferredDependencies([Address(directory, target_name=LOCKFILE_TARGET_NAME, relative_file_path=name)])


def rules():
    return [
        *collect_rules(),
        *DebianLockfileTargetRequest.rules(),
        UnionRule(InferDependenciesRequest, InferDebianLockfileDependency),
        UnionRule(GenerateLockfile, GenerateDebianLockfile),
        UnionRule(KnownUserResolveNamesRequest, KnownDebianResolveNamesRequest),
        UnionRule(RequestedUserResolveNames, RequestedDebianResolveNames),
    ]
