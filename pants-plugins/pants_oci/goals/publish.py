"""`pants publish` for `oci_image`: push the packaged layout with ocikit's registry client."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence, cast

from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField
from pants_oci.registries import OciRegistry
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.core import CREDENTIAL_ENV, OcikitRunner
from pants.base.build_root import BuildRoot
from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.core.util_rules.distdir import DistDir
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule


class PublishOciImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishOciImageFieldSet(PublishFieldSet):
    publish_request_type = PublishOciImageRequest
    required_fields = (OciImageRegistriesField,)

    registries: OciImageRegistriesField
    skip_push: OciImageSkipPushField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData(
            {"publisher": "oci", "registries": self.registries.value or (), **super().get_output_data()}
        )


def push_destinations(address: str, repository: str, tags: tuple[str, ...]) -> tuple[str, ...]:
    if not tags:
        return (f"{address}/{repository}",)
    return tuple(f"{address}/{repository}:{tag}" for tag in tags)


def push_arguments(
    artifact: BuiltOciImageArtifact,
    registries: Sequence[OciRegistry],
    destinations: Mapping[OciRegistry, tuple[str, ...]],
    jobs: int,
    record: str,
) -> list[str]:
    """The `ocikit push` options: destinations, insecure registries, and where base layers may
    be mounted from (the repository a pulled base came from, and the repositories our own base
    images are published to on each registry) instead of uploaded again."""
    args = ["--jobs", str(jobs), "--record", record]
    for registry in registries:
        args += [a for d in destinations[registry] for a in ("--dest", d)]
        if registry.insecure:
            args += ["--insecure-registry", registry.address]
    sources = [*artifact.mount_sources]
    sources += [f"{r.address}/{repo}" for r in registries for repo in artifact.base_repositories]
    return args + [a for source in sources for a in ("--mount-from", source)]


@rule(desc="Publish an OCI image")
async def publish_oci_image(
    request: PublishOciImageRequest,
    oci: OciSubsystem,
    runner: OcikitRunner,
    build_root: BuildRoot,
    dist_dir: DistDir,
) -> PublishProcesses:
    settings = oci.publish_settings()
    field_set = request.field_set
    registries = oci.registries().select(
        field_set.registries.value, f"the `registries` field of {field_set.address}"
    )
    (package,) = request.packages
    artifact = cast(BuiltOciImageArtifact, package.artifacts[0])
    tags = artifact.tags
    planned = {
        r: push_destinations(r.address, artifact.repository, tags) for r in registries
    }
    names = tuple(d for ds in planned.values() for d in ds)
    if field_set.skip_push.value:
        return PublishProcesses(
            [PublishPackages(names=names, description=f"(by `skip_push` on {field_set.address})")]
        )
    if not registries:
        return PublishProcesses(
            [
                PublishPackages(
                    names=(f"{artifact.repository}@{artifact.digest}",),
                    description=(
                        "(no registries: set `registries` on the target or a `default` registry "
                        "in [oci].registries)"
                    ),
                )
            ]
        )
    skipped = [r for r in registries if r.skip_push]
    pushed = [r for r in registries if not r.skip_push]
    jobs = []
    if pushed:
        env = await Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *settings.env_vars]))
        record = os.path.join(build_root.path, str(dist_dir.relpath), f"{artifact.relpath}.publish.json")
        args = ["push", artifact.relpath, *push_arguments(artifact, pushed, planned, settings.jobs, record)]
        jobs.append(
            PublishPackages(
                names=tuple(d for r in pushed for d in planned[r]),
                process=runner.interactive_process(args, env=env, input_digest=package.digest),
                description=f"{artifact.repository}@{artifact.digest} (oci_image {field_set.address})",
            )
        )
    for registry in skipped:
        jobs.append(
            PublishPackages(
                names=planned[registry], description=f"(by `skip_push` on registry @{registry.alias})"
            )
        )
    return PublishProcesses(jobs)


def rules():
    return [*collect_rules(), *PublishOciImageFieldSet.rules()]
