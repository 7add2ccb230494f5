"""`pants publish` for `oci_image`: push the packaged layout with ocikit's registry client."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import cast

from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.registries import parse_registries, select_registries
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciImageRegistriesField, OciImageSkipPushField
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
from pants.option.errors import OptionsError

# What Pants' EnvironmentVarsRequest understands; it would silently drop 'A-B' and blame
# `--test-extra-env-var` for '1A'.
_ENV_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:=.*)?", re.DOTALL)


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


def validate_publish_options(oci: OciSubsystem) -> None:
    """`[oci].publish_jobs` and `[oci].env_vars`, checked on every publish so a bad value fails
    the same way whatever the targets (the core would silently treat jobs < 1 as 1)."""
    if oci.publish_jobs < 1:
        raise OptionsError(
            f"[oci].publish_jobs = {oci.publish_jobs} is out of range: expected 1 or more "
            "(how many blobs `publish` uploads at the same time; default 4)."
        )
    for entry in oci.env_vars:
        if not isinstance(entry, str) or not _ENV_VAR_RE.fullmatch(entry):
            raise OptionsError(
                f"[oci].env_vars has an invalid entry {entry!r}: expected NAME or NAME=value, "
                "where NAME is letters, digits and '_' and does not start with a digit, e.g. "
                "'DOCKER_CONFIG' or 'OCIKIT_LOG_LEVEL=DEBUG'."
            )


def push_destinations(address: str, repository: str, tags: tuple[str, ...]) -> tuple[str, ...]:
    if not tags:
        return (f"{address}/{repository}",)
    return tuple(f"{address}/{repository}:{tag}" for tag in tags)


@rule(desc="Publish an OCI image")
async def publish_oci_image(
    request: PublishOciImageRequest,
    oci: OciSubsystem,
    runner: OcikitRunner,
    build_root: BuildRoot,
    dist_dir: DistDir,
) -> PublishProcesses:
    validate_publish_options(oci)
    field_set = request.field_set
    where = f"the `registries` field of {field_set.address}"
    registries = select_registries(
        parse_registries(oci.registries), field_set.registries.value, where
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
        env = await Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *oci.env_vars]))
        record = os.path.join(build_root.path, str(dist_dir.relpath), f"{artifact.relpath}.publish.json")
        argv = ["push", artifact.relpath, "--jobs", str(oci.publish_jobs), "--record", record]
        for registry in pushed:
            argv += [a for d in planned[registry] for a in ("--dest", d)]
            if registry.insecure:
                argv += ["--insecure-registry", registry.address]
        # Base layers are mounted, not re-uploaded: from the repository a pulled base came from,
        # and from the repositories our own base images are published to on each registry.
        sources = [*artifact.mount_sources]
        sources += [f"{r.address}/{repo}" for r in pushed for repo in artifact.base_repositories]
        argv += [a for source in sources for a in ("--mount-from", source)]
        jobs.append(
            PublishPackages(
                names=tuple(d for r in pushed for d in planned[r]),
                process=runner.interactive_process(argv, env=env, input_digest=package.digest),
                description=f"{artifact.repository}@{artifact.digest}",
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
