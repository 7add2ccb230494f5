"""`pants test` for `oci_image_test`: one cached process per test runs the checks of an
`oci_image` (`python -m ocikit image-test`, ocikit.image_test) on its packaged layout.

The process's inputs are the layout, the checks and the container runtime's path (or why there
is none): a second `pants test` of an unchanged image is a cache hit, as for any Pants test,
and only successful results are cached (as Pants' own runners do), unless `--test-force`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest
from pants.core.goals.test import TestFieldSet, TestRequest, TestResult, TestSubsystem
from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.platform import Platform as HostPlatform
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException, UnexpandedTargets
from pants.option.option_types import SkipOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel

from ocikit.contracts.image_test import ImageTestCommand, ImageTestPlan
from pants_oci.goals.package import BuiltOciImageArtifact, OciImageFieldSet
from pants_oci.host_platform import container_platform
from pants_oci.image_test_fields import (
    OciImageTestCommandChecksField,
    OciImageTestConfigChecksField,
    OciImageTestFileChecksField,
    OciImageTestImageField,
    config_check,
)
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.runtime import MaybeContainerRuntime
from pants_oci.util_rules.worker_runner import OcikitRunner

PLAN = "__oci_image_test.json"
# The process's PATH (the runtime finds its helpers, e.g. runc and conmon, there): fixed, so
# no machine's own PATH enters the test's cache key.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class OciImageTestSubsystem(Subsystem):
    options_scope = "oci-image-checks"
    name = "oci-image-checks"
    help = "Checks of OCI images run by `pants test` (`oci_image_test` targets)."

    skip = SkipOption("test")


@dataclass(frozen=True)
class OciImageTestFieldSet(TestFieldSet):
    required_fields = (OciImageTestImageField,)

    image: OciImageTestImageField
    file_checks: OciImageTestFileChecksField
    config_checks: OciImageTestConfigChecksField
    command_checks: OciImageTestCommandChecksField


class OciImageTestRequest(TestRequest):
    tool_subsystem = OciImageTestSubsystem
    field_set_type = OciImageTestFieldSet


async def _tested_image(field_set: OciImageTestFieldSet) -> OciImageFieldSet:
    """The `oci_image` the `image` field names, or an error naming the field."""
    addresses = await Get(
        Addresses,
        UnparsedAddressInputs(
            [field_set.image.value],
            owning_address=field_set.address,
            description_of_origin=f"the `image` field of {field_set.address}",
        ),
    )
    targets = await Get(UnexpandedTargets, Addresses, addresses)
    if not OciImageFieldSet.is_applicable(targets[0]):
        raise InvalidFieldException(
            f"The `image` field in target {field_set.address} has an invalid value {field_set.image.value!r}: "
            f"it names {targets[0].alias} {targets[0].address}; expected an `oci_image` target"
        )
    return OciImageFieldSet.create(targets[0])


def image_test_plan(
    field_set: OciImageTestFieldSet,
    image: Address,
    artifact: BuiltOciImageArtifact,
    platform: str,
    runtime: MaybeContainerRuntime,
    run_args: tuple[str, ...],
) -> ImageTestPlan:
    commands = tuple(field_set.command_checks.value or ())
    found = runtime.runtime
    return ImageTestPlan(
        what=f"oci_image_test {field_set.address}",
        image=f"oci_image {image}",
        layout=artifact.layout,
        platform=platform,
        files=tuple(field_set.file_checks.value or ()),
        config=config_check(field_set.config_checks.value),
        commands=commands,
        runtime=found.path if found and commands else None,
        runtime_missing="" if found or not commands else runtime.missing("a command check"),
        run_args=run_args if commands else (),
    )


@rule(desc="Run OCI image checks", level=LogLevel.DEBUG)
async def run_oci_image_test(
    batch: OciImageTestRequest.Batch[OciImageTestFieldSet, Any],
    test_subsystem: TestSubsystem,
    oci: OciSubsystem,
    runner: OcikitRunner,
    host: HostPlatform,
    runtime: MaybeContainerRuntime,
) -> TestResult:
    field_set = batch.single_element
    image = await _tested_image(field_set)
    package = await Get(BuiltPackage, EnvironmentAwarePackageRequest(image))
    artifact = cast(BuiltOciImageArtifact, package.artifacts[0])
    plan = image_test_plan(
        field_set, image.address, artifact, str(container_platform(host)), runtime, tuple(oci.run_args)
    )
    plan_digest = await Get(Digest, CreateDigest([FileContent(PLAN, plan.dumps())]))
    result = await Get(
        FallibleProcessResult,
        Process,
        runner.process(
            ImageTestCommand(PLAN).to_argv(),
            input_digest=await Get(Digest, MergeDigests([plan_digest, package.digest])),
            env={"PATH": SYSTEM_PATH},
            description=f"Check {image.address} for {field_set.address}",
            cache_scope=ProcessCacheScope.PER_SESSION if test_subsystem.force else ProcessCacheScope.SUCCESSFUL,
            level=LogLevel.DEBUG,
        ),
    )
    return TestResult.from_fallible_process_result(
        result, address=field_set.address, output_setting=test_subsystem.output
    )


def rules():
    return [*collect_rules(), *OciImageTestRequest.rules()]
