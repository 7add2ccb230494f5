"""One `pants publish` of many `oci_image`s: which images the run holds, which of them the
registries already serve (one check process for a batch of images), and the inputs of the
batch's one push.

Pants' publish goal asks each image for its processes separately, then runs them one after
another; the run's target roots are not visible below its `PublishRequest` union in Pants 2.17.
So the run is known exactly only from the images the goal asks for: each registers itself in
the run's directory (`register_publish_image`) while the run is planned, and a push pushes only
registered images. What is shared between images is only a *batch*: the images of the command
line as this module can guess them (`guess_publish_batch`), checked together in one process and
pushed together by one process, which skips any image of the batch that the run did not
register. A wrong guess costs speed (a larger check, or a batch of one), never a push.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, replace
from typing import Optional, cast

from pants.base.build_root import BuildRoot
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.util_rules.distdir import DistDir
from pants.engine.addresses import Address, Addresses
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.internals.session import RunId
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, Targets
from pants.option.errors import OptionsError
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.contracts.publish import Signing
from ocikit.registry.run_record import RunRecord
from pants_oci.goals.package import BuiltOciImageArtifact, OciImageFieldSet
from pants_oci.goals.promote import BuiltOciPromotionArtifact, OciPromotionFieldSet
from pants_oci.goals.publish_attestations import OciAttestations, OciAttestationsRequest
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField, OciImageTagsField
from pants_oci.promotion_fields import OciPromotionSourceField, OciPromotionTagsField
from pants_oci.publish_plan import (
    ImagePlan,
    TagClaims,
    check_plan,
    mount_sources,
    push_destinations,
    push_plan,
    read_check_result,
    tag_claims,
)
from pants_oci.registries import OciRegistry
from pants_oci.stamping import StampValues, has_placeholders
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.stamp import (
    OciStampedNames,
    OciStampRequest,
    OciStampValuesRequest,
    needs_git,
)
from pants_oci.util_rules.targets_with_field import TargetsWithFieldRequest
from pants_oci.util_rules.worker_runner import CACHE_DIR, CREDENTIAL_ENV, OcikitRunner

CHECK_PLAN = "__oci_check_plan.json"
PUSH_PLAN = "__oci_push_plan.json"
LAYOUTS_DIR = "__oci_layouts"
RUN_RECORD = "oci-publish.json"  # under dist/: what the last run published, image by image
STATE_DIR = ".oci-publish"  # under dist/: each run's registrations and each batch's outcomes
# In the workers' named cache: the sessions of blob uploads a push left unfinished, which the
# next push goes on with (ocikit.registry.upload_journal). Never under dist/: it is the
# machine's, not the run's, and outlives `rm -rf dist`.
UPLOADS_DIR = f"{CACHE_DIR}/uploads"


class SecretValue(str):
    """A secret environment value (a signing key's password). The engine passes its characters
    to the process; Pants' publish goal logs the processes it runs at debug level, and errors
    print the values they hold: both show `<secret>` instead."""

    def __repr__(self) -> str:
        return "'<secret>'"


@dataclass(frozen=True)
class OciPublishSessionRequest:
    pass


@dataclass(frozen=True)
class OciPublishSession:
    """Where this run's registrations and records live."""

    run_dir: str
    run_record: str
    state_dir: str

    def record(self) -> RunRecord:
        return RunRecord(self.run_dir, self.run_record)


@dataclass(frozen=True)
class OciTagClaimsRequest:
    pass


@dataclass(frozen=True)
class OciTagClaims:
    """Every tagged destination of every `oci_image` and `oci_promotion` of the repository, with
    its targets."""

    claims: TagClaims


@dataclass(frozen=True)
class OciPublishRunRequest:
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class OciPublishRun:
    """One batch: each image's plan, those already published, and the push inputs."""

    plans: FrozenDict[Address, ImagePlan]
    published: FrozenDict[Address, str]  # the images found published -> their record (JSON)
    push_order: tuple[Address, ...]  # the images to push, in the push plan's order
    batch_id: str
    push_input: Digest  # the push plan
    layouts: Digest  # the layouts of the images to push
    env: FrozenDict[str, str]  # the InteractiveProcess takes it whole; secrets as SecretValue


@dataclass(frozen=True)
class OciImagePublishTarget:
    """One image's registries: those pushed to, and those skipped by their `skip_push`."""

    pushed: tuple[OciRegistry, ...]
    skipped: tuple[OciRegistry, ...]


def publish_registries(
    oci: OciSubsystem, address: Address, requested: Optional[tuple[str, ...]]
) -> OciImagePublishTarget:
    registries = oci.registries().select(requested, f"the `registries` field of {address}")
    return OciImagePublishTarget(
        tuple(r for r in registries if not r.skip_push), tuple(r for r in registries if r.skip_push)
    )


def image_plan(
    address: Address,
    artifact: BuiltOciImageArtifact | BuiltOciPromotionArtifact,
    names: OciStampedNames,
    pushed: tuple[OciRegistry, ...],
    dist: str,
) -> ImagePlan:
    """Where an image's layout (or a promotion's source) goes, and its record under `dist`."""
    destinations = tuple(d for r in pushed for d in push_destinations(r.address, names.repository, names.tags))
    if isinstance(artifact, BuiltOciPromotionArtifact):
        record = os.path.join(dist, f"{artifact.record_relpath}.publish.json")
        return ImagePlan(address, "", artifact.digest, destinations, (), record, source=artifact.source)
    return ImagePlan(
        address=address,
        layout=artifact.layout,
        digest=artifact.digest,
        destinations=destinations,
        mounts_from=mount_sources(artifact.mount_sources, artifact.base_repositories, pushed),
        record=os.path.join(dist, f"{artifact.relpath}.publish.json"),
    )


def _target_destinations(target: Target, oci: OciSubsystem) -> tuple[str, ...]:
    """The destinations an `oci_image` or `oci_promotion` pushes to, from its fields alone (no
    packaging)."""
    if target[OciImageSkipPushField].value:
        return ()
    try:
        pushed = publish_registries(oci, target.address, target[OciImageRegistriesField].value).pushed
    except OptionsError:
        return ()  # a bad `registries` field fails that image's own publish, naming it
    if _is_promotion(target):
        repository = OciPromotionFieldSet.create(target).repository_name(oci)
        tags = tuple(target[OciPromotionTagsField].value or ())
    else:
        repository = OciImageFieldSet.create(target).repository_name(oci)
        tags = tuple(target[OciImageTagsField].value or ())
    return tuple(d for r in pushed for d in push_destinations(r.address, repository, tags))


@rule(desc="Find the tags the repository's OCI images publish", level=LogLevel.DEBUG)
async def find_tag_claims(_: OciTagClaimsRequest, oci: OciSubsystem) -> OciTagClaims:
    targets = await Get(Targets, TargetsWithFieldRequest(OciImageRegistriesField, "the tag claims of `publish`"))
    images = [(t.address, _target_destinations(t, oci)) for t in targets]
    templates = tuple(d for _, destinations in images for d in destinations if has_placeholders(d))
    if not templates:
        return OciTagClaims(tag_claims(images))
    # The values this run stamps with: the same for every image (only digests differ).
    values = await Get(StampValues, OciStampValuesRequest(needs_git(templates)))
    return OciTagClaims(tag_claims(images, values))


@dataclass(frozen=True)
class _SchedulerToken:
    value: str


@rule
async def scheduler_token() -> _SchedulerToken:
    # RunId counts runs within one scheduler only, and pantsd makes a new scheduler (restarting
    # the count) whenever bootstrap options change, in the same process. A rule without inputs
    # runs once per scheduler: with its token, a run's name is unique across schedulers,
    # pantsd restarts and concurrent `--no-pantsd` runs, which all share dist/.
    return _SchedulerToken(uuid.uuid4().hex[:12])


@rule(desc="Start an OCI publish run", level=LogLevel.DEBUG)
async def start_publish_session(
    _: OciPublishSessionRequest, run_id: RunId, token: _SchedulerToken, build_root: BuildRoot, dist_dir: DistDir
) -> OciPublishSession:
    dist = os.path.join(build_root.path, str(dist_dir.relpath))
    state_dir = os.path.join(dist, STATE_DIR)
    return OciPublishSession(
        os.path.join(state_dir, f"run-{token.value}-{int(run_id)}"), os.path.join(dist, RUN_RECORD), state_dir
    )


@dataclass(frozen=True)
class OciPublishCheckRequest:
    plans: tuple[ImagePlan, ...]
    insecure: tuple[str, ...]
    signing: Optional[Signing]  # with it, our signature (and attestations) must be there too


@dataclass(frozen=True)
class OciPublishCheck:
    batch_id: str  # new on every run: names the batch's answer files
    published: FrozenDict[str, str]  # key -> record (JSON) of each image whose every destination serves it


@rule(desc="Check which OCI images are already published")
async def check_published_images(
    request: OciPublishCheckRequest, oci: OciSubsystem, runner: OcikitRunner
) -> OciPublishCheck:
    settings = oci.publish_settings()
    plan = check_plan(request.plans, request.insecure, settings.jobs, request.signing)
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
    result = read_check_result(checked.stdout)
    return OciPublishCheck(
        result.batch_id, FrozenDict((key, json.dumps(result.records[key], sort_keys=True)) for key in result.published)
    )


def _pushed_targets(targets: Targets, oci: OciSubsystem) -> list[tuple[Target, tuple[OciRegistry, ...]]]:
    """The targets publish pushes somewhere, with the registries each goes to."""
    pushing = [
        (t, publish_registries(oci, t.address, t[OciImageRegistriesField].value).pushed)
        for t in targets
        if not t[OciImageSkipPushField].value
    ]
    return [(t, pushed) for t, pushed in pushing if pushed]


async def _attestations(images: list, signed: bool) -> dict:
    """With signing, what to attest about each built image, by address (a promotion carries
    its source's attestations, copied with it)."""
    if not signed:
        return {}
    attestations = await MultiGet(
        Get(OciAttestations, OciAttestationsRequest(t.address, p.digest, _artifact(p).layout)) for t, p in images
    )
    return {t.address: a.predicates for (t, _), a in zip(images, attestations)}


@rule(desc="Plan the publish of OCI images")
async def plan_publish_run(
    request: OciPublishRunRequest,
    oci: OciSubsystem,
    runner: OcikitRunner,
    build_root: BuildRoot,
    dist_dir: DistDir,
) -> OciPublishRun:
    settings = oci.publish_settings()
    dist = os.path.join(build_root.path, str(dist_dir.relpath))
    targets, session = await MultiGet(
        Get(Targets, Addresses(request.addresses)), Get(OciPublishSession, OciPublishSessionRequest())
    )
    pushing = _pushed_targets(targets, oci)
    packages = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(_package_field_set(t))) for t, _ in pushing
    )
    names = await MultiGet(
        Get(OciStampedNames, OciStampRequest, stamp_request(t.address, _stampable(p)))
        for (t, _), p in zip(pushing, packages)
    )
    signing = settings.signing
    predicates = await _attestations(
        [(t, p) for (t, _), p in zip(pushing, packages) if not _is_promotion(t)], signed=signing is not None
    )
    plans = [
        replace(
            image_plan(t.address, _stampable(p), names[n], pushed, dist), attestations=predicates.get(t.address, ())
        )
        for n, ((t, pushed), p) in enumerate(zip(pushing, packages))
    ]
    insecure = tuple(sorted({r.address for _, pushed in pushing for r in pushed if r.insecure}))
    signer = Signing(signing.key, signing.password_env, signing.platform_manifests) if signing else None
    check = await Get(OciPublishCheck, OciPublishCheckRequest(tuple(plans), insecure, signer))
    to_push = [(plan, package) for plan, package in zip(plans, packages) if plan.key not in check.published]
    queued = [plan for plan, _ in to_push]
    push_plan_file = push_plan(
        queued, check.batch_id, session.run_dir, session.run_record, insecure, settings.jobs, signer
    )
    # The key's password reaches the push process's environment only (never a file or a key).
    secret_env = (signing.password_env,) if signing else ()
    plan_digest, layouts, env = await MultiGet(
        Get(Digest, CreateDigest([FileContent(PUSH_PLAN, push_plan_file)])),
        Get(Digest, MergeDigests(package.digest for plan, package in to_push if plan.source is None)),
        Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *settings.env_vars, *secret_env])),
    )
    return OciPublishRun(
        plans=FrozenDict((plan.address, plan) for plan in plans),
        published=FrozenDict(
            (plan.address, check.published[plan.key]) for plan in plans if plan.key in check.published
        ),
        push_order=tuple(plan.address for plan in queued),
        batch_id=check.batch_id,
        push_input=plan_digest,
        layouts=layouts,
        env=FrozenDict({**{k: SecretValue(v) if k in secret_env else v for k, v in env.items()}, **runner.env}),
    )


@dataclass(frozen=True)
class OciPublishRegistration:
    session: OciPublishSession
    plan: ImagePlan
    published_record: Optional[str]  # the image's record (JSON) when found published


@dataclass(frozen=True)
class OciPublishRegistered:
    pass


@rule(desc="Register an OCI image in this publish run", level=LogLevel.DEBUG)
async def register_publish_image(request: OciPublishRegistration) -> OciPublishRegistered:
    # The one side effect of planning a publish, and the only way the run's own images can be
    # told from the batch's in Pants 2.17: the session names this run, so it runs once per
    # image and run. It writes under dist/ only (records and the run's directory).
    published = request.published_record is not None
    request.session.record().register(
        request.plan.run_entry(published),
        json.loads(request.published_record) if request.published_record is not None else None,
    )
    return OciPublishRegistered()


# Every image's process runs this: the first of the batch finds no answer and execs the push of
# all; each later one prints and exits with the answer the first wrote for it, without
# starting Python (ocikit.registry.run_cli.answer_paths names the files).
_ANSWER_OR_PUSH = 'if [ -f "$1.exit" ]; then cat "$1.err" >&2; exit "$(cat "$1.exit")"; fi; shift; exec "$@"'


def push_run_argv(
    runner: OcikitRunner, run: OciPublishRun, session: OciPublishSession, plan: ImagePlan
) -> tuple[str, ...]:
    answer = os.path.join(session.state_dir, f"{run.batch_id}.{run.push_order.index(plan.address)}")
    return (
        "/bin/sh",
        "-c",
        _ANSWER_OR_PUSH,
        "ocikit-push-run",
        answer,
        *runner.argv(
            "push-run",
            "--plan",
            PUSH_PLAN,
            "--state",
            session.state_dir,
            "--image",
            plan.key,
            "--layouts",
            LAYOUTS_DIR,
            "--resume-dir",
            UPLOADS_DIR,
        ),
    )


def _is_promotion(target: Target) -> bool:
    return target.has_field(OciPromotionSourceField)


def _package_field_set(target: Target) -> PackageFieldSet:
    return OciPromotionFieldSet.create(target) if _is_promotion(target) else OciImageFieldSet.create(target)


def stamp_request(address: Address, artifact: BuiltOciImageArtifact | BuiltOciPromotionArtifact) -> OciStampRequest:
    """What a publish stamps: an image's or a promotion's repository and tags (placeholders
    filled from the commit, the environment, the digest)."""
    return OciStampRequest(address, artifact.repository, artifact.tags, artifact.digest)


def _stampable(package: BuiltPackage) -> BuiltOciImageArtifact | BuiltOciPromotionArtifact:
    return cast("BuiltOciImageArtifact | BuiltOciPromotionArtifact", package.artifacts[0])


def _artifact(package: BuiltPackage) -> BuiltOciImageArtifact:
    return cast(BuiltOciImageArtifact, package.artifacts[0])


def rules():
    return collect_rules()
