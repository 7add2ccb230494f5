"""`pants publish` for `oci_image` (push the packaged layouts with ocikit's registry client) and
`oci_promotion` (copy the source image by digest), alike.

Each image is refused when another `oci_image` of the repository would push one of its tags,
then planned with its batch (goals/publish_run.py) and registered in the run: images whose
every tag already names their digest are reported as already published and run nothing; the
others share one push per batch, made by the first of their processes that Pants runs, each
process then answering for its own image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, cast

from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.addresses import Address
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, MultiGet, collect_rules, rule

from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.goals.promote import (
    BuiltOciPromotionArtifact,
    PublishOciPromotionFieldSet,
    PublishOciPromotionRequest,
)
from pants_oci.goals.publish_roots import OciPublishBatch, OciPublishBatchRequest
from pants_oci.goals.publish_run import (
    LAYOUTS_DIR,
    OciPublishRegistered,
    OciPublishRegistration,
    OciPublishRun,
    OciPublishRunRequest,
    OciPublishSession,
    OciPublishSessionRequest,
    OciTagClaims,
    OciTagClaimsRequest,
    publish_registries,
    push_destinations,
    push_run_argv,
)
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField
from pants_oci.publish_plan import refuse_conflicts
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.stamp import OciStampedNames, OciStampRequest
from pants_oci.util_rules.worker_runner import OcikitRunner

logger = logging.getLogger(__name__)


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


async def _plan_batch(batch: tuple[Address, ...], address: Address) -> OciPublishRun:
    """The batch's plan; alone when another image of the batch fails to build: the batch is a
    guess at the command line, and an image the command did not name must not fail it."""
    if batch == (address,):
        return await Get(OciPublishRun, OciPublishRunRequest(batch))
    try:
        return await Get(OciPublishRun, OciPublishRunRequest(batch))
    except Exception as e:  # noqa: BLE001 - this image's own failure is raised by the plan of one
        logger.debug("planning %s with its batch failed (%s): planning it alone", address, e)
        return await Get(OciPublishRun, OciPublishRunRequest((address,)))


@dataclass(frozen=True)
class Publishable:
    """What the publish of an `oci_image` or an `oci_promotion` needs of its target and package."""

    address: Address
    kind: str  # the target's alias
    registries: Optional[tuple[str, ...]]
    skip_push: bool
    repository: str
    tags: tuple[str, ...]
    digest: str

    @classmethod
    def of(
        cls,
        field_set: PublishOciImageFieldSet | PublishOciPromotionFieldSet,
        kind: str,
        artifact: BuiltOciImageArtifact | BuiltOciPromotionArtifact,
    ) -> Publishable:
        return cls(
            field_set.address,
            kind,
            field_set.registries.value,
            bool(field_set.skip_push.value),
            artifact.repository,
            artifact.tags,
            artifact.digest,
        )


async def publish_processes(item: Publishable, oci: OciSubsystem, runner: OcikitRunner) -> PublishProcesses:
    oci.publish_settings()  # validated on every publish, whether anything is pushed or not
    address, kind = item.address, item.kind
    target = publish_registries(oci, address, item.registries)
    stamp = OciStampRequest(address, item.repository, item.tags, item.digest)
    names = await Get(OciStampedNames, OciStampRequest, stamp)
    repository, tags, digest = names.repository, names.tags, item.digest
    if item.skip_push:
        skipped = tuple(
            d for r in (*target.pushed, *target.skipped) for d in push_destinations(r.address, repository, tags)
        )
        return PublishProcesses([PublishPackages(names=skipped, description=f"(by `skip_push` on {address})")])
    jobs = [
        PublishPackages(
            names=push_destinations(r.address, repository, tags), description=f"(by `skip_push` on registry @{r.alias})"
        )
        for r in target.skipped
    ]
    if not target.pushed:
        if not target.skipped:
            jobs.append(
                PublishPackages(
                    names=(f"{repository}@{digest}",),
                    description=(
                        "(no registries: set `registries` on the target or a `default` registry in [oci].registries)"
                    ),
                )
            )
        return PublishProcesses(jobs)
    claims, batch = await MultiGet(
        Get(OciTagClaims, OciTagClaimsRequest()), Get(OciPublishBatch, OciPublishBatchRequest())
    )
    for warning in refuse_conflicts(
        address, tuple(d for r in target.pushed for d in names.destinations(r.address)), claims.claims
    ):
        logger.warning(warning)
    run = await _plan_batch(batch.batch_of(address), address)
    session = await Get(OciPublishSession, OciPublishSessionRequest())
    plan = run.plans[address]
    await Get(OciPublishRegistered, OciPublishRegistration(session, plan, run.published.get(address)))
    if address in run.published:
        jobs.insert(
            0, PublishPackages(names=plan.destinations, description=f"(already published: {repository}@{digest})")
        )
        return PublishProcesses(jobs)
    jobs.insert(
        0,
        PublishPackages(
            names=plan.destinations,
            process=InteractiveProcess(
                argv=push_run_argv(runner, run, session, plan),
                env=dict(run.env),
                input_digest=run.push_input,
                immutable_input_digests={LAYOUTS_DIR: run.layouts, **runner.immutable_input_digests},
                append_only_caches=runner.append_only_caches,
            ),
            description=f"{repository}@{digest} ({kind} {address})",
        ),
    )
    return PublishProcesses(jobs)


@rule(desc="Publish an OCI image")
async def publish_oci_image(
    request: PublishOciImageRequest, oci: OciSubsystem, runner: OcikitRunner
) -> PublishProcesses:
    field_set = cast(PublishOciImageFieldSet, request.field_set)
    artifact = cast(BuiltOciImageArtifact, request.packages[0].artifacts[0])
    return await publish_processes(Publishable.of(field_set, "oci_image", artifact), oci, runner)


@rule(desc="Publish an OCI promotion")
async def publish_oci_promotion(
    request: PublishOciPromotionRequest, oci: OciSubsystem, runner: OcikitRunner
) -> PublishProcesses:
    field_set = cast(PublishOciPromotionFieldSet, request.field_set)
    artifact = cast(BuiltOciPromotionArtifact, request.packages[0].artifacts[0])
    return await publish_processes(Publishable.of(field_set, "oci_promotion", artifact), oci, runner)


def rules():
    return [*collect_rules(), *PublishOciImageFieldSet.rules()]
