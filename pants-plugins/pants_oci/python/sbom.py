"""An `oci_python_app` in an image's layers -> what its image's SBOM says of it: each installed
distribution (name, version, declared license, the locked wheel's sha256) and the app's own
files with the targets they come from.

Every answer comes from what the layer build reads (the same memoized requests): the
distributions are the `*.dist-info` directories of the resolved requirements that the
requirement layers' process installs, so the SBOM names exactly what those layers hold.
"""

from __future__ import annotations

import posixpath

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonResolveField, PythonSourceField
from pants.core.target_types import ResourceSourceField
from pants.core.util_rules.stripped_source_files import StrippedFileName, StrippedFileNameRequest
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    FileContent,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, TransitiveTargets, TransitiveTargetsRequest, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.contracts.requirement_layers import RequirementsMetadataCommand
from ocikit.sbom.model import SbomPackage
from ocikit.sbom.pypi import InstalledDistribution, locked_artifacts, python_package
from pants_oci.extensions import OciSbomContents, OciSbomContentsRequest
from pants_oci.python.app import PythonAppPlan, PythonAppPlanRequest
from pants_oci.python.launcher import CODE_DIR, MAIN
from pants_oci.python.target_types import OciPythonAppTarget
from pants_oci.python.trees import AppCode, AppCodeRequest, ResolvedRequirements, ResolvedRequirementsRequest
from pants_oci.util_rules.worker_runner import OcikitRunner

_METADATA = "metadata"


class OciPythonAppSbomRequest(OciSbomContentsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return isinstance(target, OciPythonAppTarget)


async def _lockfile_text(binary: Target, python_setup: PythonSetup) -> str:
    """The binary's resolve's lockfile (what pins each wheel's sha256), when resolves are on."""
    if not python_setup.enable_resolves:
        return ""
    path = python_setup.resolves.get(binary[PythonResolveField].normalized_value(python_setup))
    if not path:
        return ""
    contents = await Get(DigestContents, PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore))
    return contents[0].content.decode("utf-8", "replace") if contents else ""


async def _distributions(
    plan: PythonAppPlan, binary: Target, python_setup: PythonSetup, runner: OcikitRunner
) -> tuple[SbomPackage, ...]:
    if not plan.include_requirements:
        return ()
    resolved = await Get(ResolvedRequirements, ResolvedRequirementsRequest(plan.binary, plan.python_request))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            RequirementsMetadataCommand(repository=resolved.pex.name, out=_METADATA).to_argv(),
            input_digest=resolved.pex.digest,
            output_directories=(_METADATA,),
            description=f"Read the requirements' metadata of {plan.binary}",
            level=LogLevel.DEBUG,
        ),
    )
    metadata = await Get(DigestContents, Digest, await Get(Digest, RemovePrefix(result.output_digest, _METADATA)))
    locked = locked_artifacts(await _lockfile_text(binary, python_setup))
    text = {fc.path: fc.content.decode("utf-8", "replace") for fc in metadata}
    comment = f"Installed by the oci_python_app {plan.app} from the requirements of {plan.binary}."
    return tuple(
        python_package(
            InstalledDistribution(d, text.get(f"{d}/METADATA", ""), text.get(f"{d}/WHEEL", "")), locked, comment
        )
        for d in sorted({path.split("/", 1)[0] for path in text})
    )


async def _code_owners(plan: PythonAppPlan, code_dir: str) -> dict[str, str]:
    """Each source and resource of the binary's closure at its path in the image (below its
    source root, as the code layer places it) -> its target's address."""
    closure = await Get(TransitiveTargets, TransitiveTargetsRequest([plan.binary]))
    owned = [
        (t[f].file_path, str(t.address))
        for t in closure.closure
        for f in (PythonSourceField, ResourceSourceField)
        if t.has_field(f)
    ]
    stripped = await MultiGet(Get(StrippedFileName, StrippedFileNameRequest(path)) for path, _ in owned)
    return {posixpath.join(code_dir, s.value): owner for s, (_, owner) in zip(stripped, owned)}


async def _code(plan: PythonAppPlan) -> tuple[Digest, FrozenDict[str, str]]:
    """The code layer's first-party files (not its bytecode), at their paths in the image."""
    destination = plan.destination.strip("/")
    code_dir = posixpath.join(destination, CODE_DIR)
    main = posixpath.join(destination, MAIN)
    code = await Get(AppCode, AppCodeRequest(plan.binary, plan.app)) if plan.include_sources else AppCode(EMPTY_DIGEST)
    placed, launcher = await MultiGet(
        Get(Digest, AddPrefix(code.digest, code_dir)),
        Get(Digest, CreateDigest([FileContent(main, plan.launcher)])),
    )
    owners = await _code_owners(plan, code_dir) if plan.include_sources else {}
    owners[main] = str(plan.app)  # the launcher it generates
    return await Get(Digest, MergeDigests([placed, launcher])), FrozenDict(sorted(owners.items()))


@rule(desc="List what a Python app puts in its image, for the SBOM")
async def python_app_sbom_contents(
    request: OciPythonAppSbomRequest, python_setup: PythonSetup, runner: OcikitRunner
) -> OciSbomContents:
    plan = await Get(PythonAppPlan, PythonAppPlanRequest(request.target.address))
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(plan.binary, description_of_origin="oci_python_app"))
    packages = await _distributions(plan, wrapped.target, python_setup, runner)
    files, owners = await _code(plan)
    return OciSbomContents(files, owners, packages)


def rules():
    return [*collect_rules(), UnionRule(OciSbomContentsRequest, OciPythonAppSbomRequest)]
