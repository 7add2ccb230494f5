"""`pants oci-verify`: does each registry tag `publish` would push name exactly the image this
commit builds, signed with a key of `[oci-verify].keys`? And when it names another image, what
differs?

Each `oci_image` is packaged (the same memoized package `publish` pushes) and its destinations
computed as `publish` computes them (registries x repository x image_tags, `skip_push`
honoured). One process, never cached across runs, checks every destination of the run
(`python -m ocikit verify`, ocikit.registry.verify), with the credentials `publish` gets. The
goal prints a table and writes the whole result to dist/oci-verify.json.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple, cast

from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest
from pants.core.util_rules.distdir import DistDir
from pants.engine.addresses import Address, Addresses
from pants.engine.console import Console
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent, MergeDigests, PathGlobs, Workspace
from pants.engine.goal import Goal, GoalSubsystem
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule, rule
from pants.engine.target import FilteredTargets, Targets
from pants.option.errors import OptionsError
from pants.option.global_options import GlobMatchErrorBehavior
from pants.option.option_types import IntOption, StrListOption
from pants.util.strutil import softwrap

from ocikit.contracts.verify import SKIPPED, PublicKey, TagVerdict, VerifyCommand, VerifyImage, VerifyPlan, VerifyResult
from ocikit.verify_report import format_report
from pants_oci.goals.package import BuiltOciImageArtifact, OciImageFieldSet
from pants_oci.goals.publish_run import OciImagePublishTarget, publish_registries, stamp_request
from pants_oci.image_fields import OciImageRegistriesField, OciImageSkipPushField
from pants_oci.publish_plan import push_destinations
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.stamp import OciStampedNames, OciStampRequest
from pants_oci.util_rules.worker_runner import CREDENTIAL_ENV, OcikitRunner

logger = logging.getLogger(__name__)

VERIFY_PLAN = "__oci_verify_plan.json"
REPORT = "oci-verify.json"  # under dist/


class OciVerifyError(Exception):
    """The verify process could not run (a bad key file, a broken plan): its one error line."""


class OciVerifySubsystem(GoalSubsystem):
    name = "oci-verify"
    help = softwrap(
        """
        Check that the registries hold exactly the OCI images this commit builds, signed.

        For each `oci_image`, every tag `publish` would push is looked up: it `matches, signed`
        (the tag names this image's digest and a signature beside it verifies with a key of
        `[oci-verify].keys`), `matches, unsigned`, `differs` (with the layers and paths that
        differ, platform by platform) or is `missing`. Fails unless every tag matches, and
        with `[oci-verify].keys` set, is signed. Writes the result to `dist/oci-verify.json`.
        """
    )

    keys = StrListOption(
        default=[],
        help=softwrap(
            """
            Public keys to check signatures with: PEM `PUBLIC KEY` files (as `cosign
            generate-key-pair` writes `cosign.pub`), relative to the build root. When set, a tag
            passes only if a signature beside it verifies with one of them; when empty,
            signatures are not checked. Example: `keys = ["keys/cosign.pub"]` in `[oci-verify]`,
            or `--oci-verify-keys=keys/cosign.pub`.
            """
        ),
    )
    max_paths = IntOption(
        default=20,
        help=(
            "How many differing paths to list per layer; the others are counted. Example: `--oci-verify-max-paths=100`."
        ),
    )

    def key_paths(self) -> Tuple[str, ...]:
        """`keys`, each checked to lie inside the build root (they are read as its files)."""
        for path in self.keys:
            if os.path.isabs(path) or path.startswith("~") or ".." in path.split("/"):
                raise OptionsError(
                    f"[oci-verify].keys has {path!r}: expected a path relative to the build root, inside it, "
                    "e.g. 'keys/cosign.pub'."
                )
        if self.max_paths < 0:
            raise OptionsError(f"[oci-verify].max_paths = {self.max_paths}: expected 0 or more.")
        return tuple(self.keys)


class OciVerify(Goal):
    subsystem_cls = OciVerifySubsystem
    # Packages as `publish` does (each target in its own environment); the check itself
    # talks to registries from this machine, with this machine's credentials.
    environment_behavior = Goal.EnvironmentBehavior.LOCAL_ONLY


@dataclass(frozen=True)
class OciVerifyRequest:
    addresses: Tuple[Address, ...]
    keys: Tuple[str, ...]  # [oci-verify].keys
    max_paths: int


@dataclass(frozen=True)
class OciVerifyOutcome:
    result: VerifyResult


def verify_destinations(
    address: Address,
    artifact: BuiltOciImageArtifact,
    names: OciStampedNames,
    skip_push: bool,
    registries: OciImagePublishTarget,
) -> Tuple[Tuple[str, ...], Tuple[TagVerdict, ...]]:
    """The destinations `publish` would push the image to (its names stamped as `publish`
    stamps them), and a SKIPPED verdict for each one it would not (and for an image with no
    registries at all)."""
    repository, tags, digest = names.repository, names.tags, artifact.digest

    def skipped(references: Sequence[str], why: str) -> List[TagVerdict]:
        return [TagVerdict(address.spec, reference, SKIPPED, digest, why) for reference in references]

    if skip_push:
        every = [
            d for r in (*registries.pushed, *registries.skipped) for d in push_destinations(r.address, repository, tags)
        ]
        return (), tuple(skipped(every or [f"{repository}@{digest}"], "not published: `skip_push` on the target"))
    verdicts = [
        v
        for r in registries.skipped
        for v in skipped(push_destinations(r.address, repository, tags), f"`skip_push` on registry @{r.alias}")
    ]
    if not registries.pushed and not registries.skipped:
        verdicts += skipped(
            [f"{repository}@{digest}"],
            "not published: no registries (set `registries` on the target or a `default` registry in [oci].registries)",
        )
    destinations = tuple(d for r in registries.pushed for d in push_destinations(r.address, repository, tags))
    return destinations, tuple(verdicts)


def in_image_order(
    images: Sequence[Address], skipped: Sequence[TagVerdict], checked: Sequence[TagVerdict]
) -> Tuple[TagVerdict, ...]:
    """Every verdict, image by image (the images' order), each image's checked tags first."""
    by_key: dict = {}
    for verdict in (*checked, *skipped):
        by_key.setdefault(verdict.key, []).append(verdict)
    return tuple(v for address in images for v in by_key.get(address.spec, []))


async def _public_keys(paths: Tuple[str, ...]) -> Tuple[PublicKey, ...]:
    if not paths:
        return ()
    contents = await Get(
        DigestContents,
        PathGlobs(
            paths,
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin="the option `[oci-verify].keys`",
        ),
    )
    return tuple(PublicKey(c.path, c.content.decode("ascii", "replace")) for c in contents)


async def _run_verify(
    runner: OcikitRunner, plan: VerifyPlan, input_digest: Digest, env: EnvironmentVars
) -> VerifyResult:
    count = sum(len(image.destinations) for image in plan.images)
    result = await Get(
        FallibleProcessResult,
        Process,
        runner.process(
            VerifyCommand(VERIFY_PLAN).to_argv(),
            input_digest=input_digest,
            env=env,
            description=f"Verify {count} OCI image tag{'s' if count != 1 else ''} against the registries",
            # Registries change behind Pants' back: asked again on every run, never cached.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    if result.exit_code != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise OciVerifyError(lines[-1] if lines else f"`ocikit verify` exited with {result.exit_code}")
    return VerifyResult.loads(result.stdout, "the output of `ocikit verify`")


@rule(desc="Verify OCI images against their registries")
async def verify_oci_images(request: OciVerifyRequest, oci: OciSubsystem, runner: OcikitRunner) -> OciVerifyOutcome:
    settings = oci.verify_settings()
    targets = await Get(Targets, Addresses(request.addresses))
    packages = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(OciImageFieldSet.create(t))) for t in targets
    )
    artifacts = [cast(BuiltOciImageArtifact, package.artifacts[0]) for package in packages]
    names = await MultiGet(
        Get(OciStampedNames, OciStampRequest, stamp_request(t.address, artifact))
        for t, artifact in zip(targets, artifacts)
    )
    images: list[VerifyImage] = []
    skipped: list[TagVerdict] = []
    insecure: set[str] = set()
    layouts: list[Digest] = []
    for target, package, artifact, stamped in zip(targets, packages, artifacts, names):
        registries = publish_registries(oci, target.address, target[OciImageRegistriesField].value)
        destinations, not_checked = verify_destinations(
            target.address, artifact, stamped, bool(target[OciImageSkipPushField].value), registries
        )
        skipped.extend(not_checked)
        if destinations:
            images.append(VerifyImage(target.address.spec, artifact.layout, artifact.digest, destinations))
            insecure.update(r.address for r in registries.pushed if r.insecure)
            layouts.append(package.digest)
    if not images:
        return OciVerifyOutcome(VerifyResult.of(in_image_order(request.addresses, skipped, ())))
    plan = VerifyPlan(
        tuple(images), await _public_keys(request.keys), tuple(sorted(insecure)), settings.jobs, request.max_paths
    )
    plan_digest, env = await MultiGet(
        Get(Digest, CreateDigest([FileContent(VERIFY_PLAN, plan.dumps())])),
        Get(EnvironmentVars, EnvironmentVarsRequest([*CREDENTIAL_ENV, *settings.env_vars])),
    )
    checked = await _run_verify(runner, plan, await Get(Digest, MergeDigests([plan_digest, *layouts])), env)
    return OciVerifyOutcome(VerifyResult.of(in_image_order(request.addresses, skipped, checked.verdicts)))


@goal_rule
async def oci_verify(
    console: Console, targets: FilteredTargets, subsystem: OciVerifySubsystem, workspace: Workspace, dist_dir: DistDir
) -> OciVerify:
    images = tuple(sorted(t.address for t in targets if OciImageFieldSet.is_applicable(t)))
    if not images:
        logger.warning("No `oci_image` targets matched the arguments: nothing to verify.")
        return OciVerify(exit_code=0)
    outcome = await Get(OciVerifyOutcome, OciVerifyRequest(images, subsystem.key_paths(), subsystem.max_paths))
    console.print_stdout(format_report(outcome.result.verdicts))
    report = json.dumps(outcome.result.to_json(), indent=2, sort_keys=True) + "\n"
    workspace.write_digest(
        await Get(Digest, CreateDigest([FileContent(REPORT, report.encode())])), path_prefix=str(dist_dir.relpath)
    )
    console.print_stderr(f"Wrote {dist_dir.relpath / REPORT}")
    return OciVerify(exit_code=0 if outcome.result.ok else 1)


def rules():
    return collect_rules()
