"""One `pants publish` of many `oci_image`s: which images the run publishes, which of them the
registries already serve (one check process for all), and the inputs of the one push.

Pants' publish goal asks each image for its processes separately and runs them one after
another. Each image's rule asks here for the whole run, as the same request, so the engine
computes it once: the run's images are found from the command line's specs the way the goal
finds them, then packaged (the same, memoized, packages the goal builds), checked for
`repository:tag` conflicts, and checked against the registries in one process that is never
cached across runs. Where the run cannot be found the way the goal finds it (`--changed-*`,
or a command run from another directory than the build root), each image is a run of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, cast

from pants_oci.goals.package import BuiltOciImageArtifact, OciImageFieldSet
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField
from pants_oci.publish_plan import (
    ImagePlan,
    check_plan,
    mount_sources,
    push_destinations,
    push_plan,
    read_check_result,
    refuse_conflicts,
)
from pants_oci.registries import OciRegistry
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.core import CREDENTIAL_ENV, OcikitRunner
from pants.base.build_root import BuildRoot
from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest
from pants.core.goals.publish import PublishFieldSet
from pants.core.util_rules.distdir import DistDir
from pants.engine.addresses import Address, Addresses
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.internals.options_parsing import _Options
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    NoApplicableTargetsBehavior,
    TargetRootsToFieldSets,
    TargetRootsToFieldSetsRequest,
    Targets,
)
from pants.option.global_options import GlobalOptions
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.vcs.changed import ChangedOptions

CHECK_PLAN = "__oci_check_plan.json"
PUSH_PLAN = "__oci_push_plan.json"
LAYOUTS_DIR = "__oci_layouts"
RUN_RECORD = "oci-publish.json"  # under dist/: what the last run published, image by image
STATE_DIR = ".oci-publish"  # under dist/: each run's outcomes, for its later processes


@dataclass(frozen=True)
class OciPublishRootsRequest:
    pass


@dataclass(frozen=True)
class OciPublishRoots:
    """The `oci_image`s of this run's target roots; None when they cannot be known exactly."""

    addresses: Optional[tuple[Address, ...]]


@dataclass(frozen=True)
class OciPublishRunRequest:
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class OciPublishRun:
    """What the run pushes: each image's plan, those already published, and the push inputs."""

    plans: FrozenDict[Address, ImagePlan]
    published: frozenset[Address]
    push_order: tuple[Address, ...]  # the images to push, in the push plan's order
    run_id: str
    push_input: Digest  # the core and the push plan
    layouts: Digest  # the layouts of the images to push
    state_dir: str
    env: FrozenDict[str, str]


@dataclass(frozen=True)
class OciImagePublishTarget:
    """One image's registries: those pushed to, and those skipped by their `skip_push`."""

    pushed: tuple[OciRegistry, ...]
    skipped: tuple[OciRegistry, ...]


def publish_registries(oci: OciSubsystem, address: Address, requested: Optional[tuple[str, ...]]
                       ) -> OciImagePublishTarget:
    registries = oci.registries().select(requested, f"the `registries` field of {address}")
    return OciImagePublishTarget(tuple(r for r in registries if not r.skip_push),
                                 tuple(r for r in registries if r.skip_push))


def image_plan(address: Address, artifact: BuiltOciImageArtifact, pushed: tuple[OciRegistry, ...],
               dist: str) -> ImagePlan:
    destinations = tuple(d for r in pushed for d in push_destinations(r.address, artifact.repository, artifact.tags))
    return ImagePlan(
        address=address,
        layout=artifact.relpath,
        digest=artifact.digest,
        destinations=destinations,
        mounts_from=mount_sources(artifact.mount_sources, artifact.base_repositories, pushed),
        record=os.path.join(dist, f"{artifact.relpath}.publish.json"),
    )


@rule(desc="Find the OCI images this publish run publishes", level=LogLevel.DEBUG)
async def find_publish_roots(
    _: OciPublishRootsRequest, options: _Options, global_options: GlobalOptions, build_root: BuildRoot
) -> OciPublishRoots:
    if ChangedOptions.from_options(options.options.for_scope("changed")).provided:
        return OciPublishRoots(None)
    # The goal parses specs relative to the client's directory, which rules cannot see: only a
    # command run from the build root is parsed here exactly as the goal parses it.
    pwd = (await Get(EnvironmentVars, EnvironmentVarsRequest(["PWD"]))).get("PWD")
    if not pwd or os.path.realpath(pwd) != os.path.realpath(build_root.path):
        return OciPublishRoots(None)
    specs = SpecsParser(root_dir=build_root.path).parse_specs(
        options.options.specs, description_of_origin="CLI arguments",
        unmatched_glob_behavior=global_options.unmatched_cli_globs,
    )
    roots = await Get(
        TargetRootsToFieldSets,
        {
            TargetRootsToFieldSetsRequest(
                PublishFieldSet, goal_description="", no_applicable_targets_behavior=NoApplicableTargetsBehavior.ignore
            ): TargetRootsToFieldSetsRequest,
            specs: Specs,
        },
    )
    images = {t.address for t in roots.targets if t.has_field(OciImageRegistriesField)}
    return OciPublishRoots(tuple(sorted(images)))


@dataclass(frozen=True)
class OciPublishCheckRequest:
    plans: tuple[ImagePlan, ...]
    insecure: tuple[str, ...]


@dataclass(frozen=True)
class OciPublishCheck:
    run_id: str  # new on every run: names the run's state for its processes
    published: frozenset[str]  # the keys of the images whose every destination serves their digest


@rule(desc="Check which OCI images are already published")
async def check_published_images(
    request: OciPublishCheckRequest, oci: OciSubsystem, runner: OcikitRunner, build_root: BuildRoot,
    dist_dir: DistDir,
) -> OciPublishCheck:
    settings = oci.publish_settings()
    run_record = os.path.join(build_root.path, str(dist_dir.relpath), RUN_RECORD)
    plan = check_plan(request.plans, request.insecure, settings.jobs, run_record)
    plan_digest, env = await MultiGet(
        Get(Digest, CreateDigest([FileContent(CHECK_PLAN, plan)])),
        Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *settings.env_vars])),
    )
    checked = await Get(
        ProcessResult,
        Process,
        runner.process(
            ("published", "--plan", CHECK_PLAN),
            input_digest=plan_digest,
            env=env,
            description=f"Check which of {len(request.plans)} OCI images the registries already serve",
            # Registries change behind Pants' back: asked again on every run, never cached.
            cache_scope=ProcessCacheScope.PER_SESSION,
            level=LogLevel.DEBUG,
        ),
    )
    run_id, published = read_check_result(checked.stdout)
    return OciPublishCheck(run_id, published)


@rule(desc="Plan the publish of OCI images")
async def plan_publish_run(
    request: OciPublishRunRequest, oci: OciSubsystem, runner: OcikitRunner, build_root: BuildRoot,
    dist_dir: DistDir,
) -> OciPublishRun:
    settings = oci.publish_settings()
    dist = os.path.join(build_root.path, str(dist_dir.relpath))
    targets = await Get(Targets, Addresses(request.addresses))
    pushing = [(t, publish_registries(oci, t.address, t[OciImageRegistriesField].value).pushed)
               for t in targets if not t[OciImageSkipPushField].value]
    pushing = [(t, pushed) for t, pushed in pushing if pushed]
    packages = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(OciImageFieldSet.create(t))) for t, _ in pushing
    )
    plans = [image_plan(t.address, _artifact(p), pushed, dist) for (t, pushed), p in zip(pushing, packages)]
    refuse_conflicts(plans)
    insecure = tuple(sorted({r.address for _, pushed in pushing for r in pushed if r.insecure}))
    check = await Get(OciPublishCheck, OciPublishCheckRequest(tuple(plans), insecure))
    to_push = [(plan, package) for plan, package in zip(plans, packages) if plan.key not in check.published]
    published = [plan for plan in plans if plan.key in check.published]
    push_plan_file = push_plan([plan for plan, _ in to_push], published, check.run_id, insecure, settings.jobs,
                               os.path.join(dist, RUN_RECORD))
    plan_digest, layouts, env = await MultiGet(
        Get(Digest, CreateDigest([FileContent(PUSH_PLAN, push_plan_file)])),
        Get(Digest, MergeDigests(package.digest for _, package in to_push)),
        Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *settings.env_vars])),
    )
    return OciPublishRun(
        plans=FrozenDict((plan.address, plan) for plan in plans),
        published=frozenset(plan.address for plan in published),
        push_order=tuple(plan.address for plan, _ in to_push),
        run_id=check.run_id,
        push_input=plan_digest,
        layouts=layouts,
        state_dir=os.path.join(dist, STATE_DIR),
        env=FrozenDict({**env, **runner.env}),  # the InteractiveProcess takes it whole
    )


# Every image's process runs this: the first of the run finds no answer and execs the push of
# all; each later one prints and exits with the answer the first wrote for it, without the
# ~0.1-0.3 s of a Python start (ocikit.registry.run_cli.answer_paths names the files).
_ANSWER_OR_PUSH = 'if [ -f "$1.exit" ]; then cat "$1.err" >&2; exit "$(cat "$1.exit")"; fi; shift; exec "$@"'


def push_run_argv(runner: OcikitRunner, run: OciPublishRun, plan: ImagePlan) -> tuple[str, ...]:
    answer = os.path.join(run.state_dir, f"{run.run_id}.{run.push_order.index(plan.address)}")
    return ("/bin/sh", "-c", _ANSWER_OR_PUSH, "ocikit-push-run", answer,
            *runner.argv("push-run", "--plan", PUSH_PLAN, "--state", run.state_dir, "--image", plan.key,
                         "--layouts", LAYOUTS_DIR))


def _artifact(package: BuiltPackage) -> BuiltOciImageArtifact:
    return cast(BuiltOciImageArtifact, package.artifacts[0])


def rules():
    return collect_rules()
