"""`pants run` for `oci_image`: package it, load it into podman's or docker's store as
REPOSITORY:TAG and run it there (`python -m ocikit run`), keeping its output and exit status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, cast

from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest
from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.engine.platform import Platform as HostPlatform
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException, WrappedTarget, WrappedTargetRequest

from ocikit.contracts.run import RunCommand
from ocikit.image import Platform, select_platform
from pants_oci.goals.package import BuiltOciImageArtifact, OciImageFieldSet
from pants_oci.host_platform import container_platform
from pants_oci.image_fields import OciImagePlatformsField
from pants_oci.stamping import has_placeholders, unstamped
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.runtime import ContainerRuntime
from pants_oci.util_rules.worker_runner import OcikitRunner


@dataclass(frozen=True)
class OciImageRunFieldSet(RunFieldSet):
    required_fields = (OciImagePlatformsField,)
    run_in_sandbox_behavior = RunInSandboxBehavior.NOT_SUPPORTED

    platforms: OciImagePlatformsField


def check_platform(address: str, host: str, platforms: Sequence[str]) -> Platform:
    """The image's platform that runs here (the runtime picks it out of an index itself); an
    InvalidFieldException naming the `platforms` field when it has none."""
    offered = [Platform.parse(p) for p in platforms]
    chosen = select_platform(Platform.parse(host), offered)
    if chosen is None:
        raise InvalidFieldException(
            f"`pants run` cannot run {address} here: the `platforms` field in target {address} "
            f"builds it for {', '.join(map(str, offered))}, and this machine runs {host} "
            f"containers. Add {host} to its `platforms`."
        )
    return offered[chosen]


def run_arguments(
    runtime: ContainerRuntime,
    artifact: BuiltOciImageArtifact,
    what: str,
    run_args: Sequence[str],
    load_only: bool,
) -> tuple[str, ...]:
    """The arguments of `python -m ocikit run`, ending with `--` so the run goal's arguments
    reach the container."""
    # `run` stamps nothing: placeholders (stamped by publish only) are left out of the name.
    tag = next((t for t in artifact.tags if not has_placeholders(t)), "latest")
    return RunCommand(
        runtime=runtime.path,
        layout=f"{{chroot}}/{artifact.relpath}",
        name=f"{unstamped(artifact.repository)}:{tag}",
        what=what,
        run_args=tuple(run_args),
        load_only=load_only,
    ).to_argv()


@rule(desc="Run an OCI image")
async def run_oci_image(
    field_set: OciImageRunFieldSet,
    runtime: ContainerRuntime,
    oci: OciSubsystem,
    runner: OcikitRunner,
    host: HostPlatform,
) -> RunRequest:
    check_platform(str(field_set.address), str(container_platform(host)), field_set.platforms.value or ())
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(field_set.address, description_of_origin="pants run"))
    package = await Get(BuiltPackage, EnvironmentAwarePackageRequest(OciImageFieldSet.create(wrapped.target)))
    artifact = cast(BuiltOciImageArtifact, package.artifacts[0])
    args = run_arguments(runtime, artifact, f"oci_image {field_set.address}", oci.run_args, oci.run_load_only)
    return runner.run_request(args, digest=package.digest)


def rules():
    return [*collect_rules(), *OciImageRunFieldSet.rules()]
