"""An `oci_python_app` in an image's `layers` -> its layers and the image's entrypoint.

The steps: read the app and its `pex_binary` into a plan (checking what an image can run), check
the base image's Python where it declares one, build the requirement and code trees (with their
bytecode), split the requirements by distribution, and tar each part as one cached layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import (
    PexArgsField,
    PexBinary,
    PexCompletePlatformsField,
    PexEntryPointField,
    PexEnvField,
    PexIncludeRequirementsField,
    PexIncludeSourcesField,
    PexInheritPathField,
    PexPlatformsField,
    PexScriptField,
    ResolvedPexEntryPoint,
    ResolvePexEntryPointRequest,
)
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_from_targets import InterpreterConstraintsRequest
from pants.build_graph.address import ResolveError
from pants.engine.addresses import Address, AddressInput
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    FileContent,
    MergeDigests,
)
from pants.engine.internals.native_engine import AddressParseException
from pants.engine.platform import Platform as HostPlatform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException, Target, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.source.source_root import NoSourceRootError
from pants.util.frozendict import FrozenDict

from ocikit.image import Platform, PlatformImage, select_platform
from pants_oci.extensions import OciLayers, OciLayersRequest
from pants_oci.host_platform import container_platform
from pants_oci.layer_fields import OciLayerOwnerField
from pants_oci.python.interpreter import AppPythonRequest
from pants_oci.python.launcher import CODE_DIR, MAIN, PythonVersions, launcher_script
from pants_oci.python.requirement_layers import RequirementLayers, RequirementLayersRequest
from pants_oci.python.target_types import (
    OciPythonAppBinaryField,
    OciPythonAppCompileBytecodeField,
    OciPythonAppDestinationField,
    OciPythonAppLargeRequirementField,
    OciPythonAppPythonField,
    OciPythonAppTarget,
)
from pants_oci.python.trees import AppCode, AppCodeRequest, Bytecode, BytecodeRequest, no_source_root
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart
from pants_oci.util_rules.settings import LayerCompression

MiB = 1 << 20


class OciPythonAppLayersRequest(OciLayersRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return isinstance(target, OciPythonAppTarget)


@dataclass(frozen=True)
class PythonAppPlanRequest:
    app: Address


@dataclass(frozen=True)
class PythonAppPlan:
    """What an `oci_python_app` and its `pex_binary` decide, checked."""

    app: Address
    binary: Address
    destination: str
    uid: int
    gid: int
    python: str
    compile_bytecode: str  # requirements, all or none
    own_layer_bytes: int
    launcher: bytes
    args: tuple[str, ...]
    env: FrozenDict[str, str]
    include_requirements: bool
    include_sources: bool
    interpreter_constraints: InterpreterConstraints
    versions: PythonVersions

    @property
    def python_request(self) -> AppPythonRequest:
        """The local Python its requirements are resolved, installed and compiled for."""
        return AppPythonRequest(
            self.interpreter_constraints, self.versions.implementations[0], self.versions.minor_versions[0]
        )

    @property
    def entrypoint(self) -> tuple[str, ...]:
        # -S: none of the image Python's own site directories (the launcher adds the app's).
        return (self.python, "-S", f"{self.destination}/{MAIN}", *self.args)


async def _binary_target(app: Target) -> Target:
    value = app[OciPythonAppBinaryField].value
    origin = f"the `binary` field of {app.address}"
    try:
        address = await Get(
            Address,
            AddressInput,
            AddressInput.parse(value, relative_to=app.address.spec_path, description_of_origin=origin),
        )
        wrapped = await Get(WrappedTarget, WrappedTargetRequest(address, description_of_origin=origin))
    except (ResolveError, AddressParseException) as e:
        raise InvalidFieldException(
            f"The `binary` field in target {app.address} has an invalid value {value!r}: it names "
            f"no target ({e}); expected the address of a `pex_binary`."
        ) from e
    if not isinstance(wrapped.target, PexBinary):
        raise InvalidFieldException(
            f"The `binary` field in target {app.address} has an invalid value {value!r}: "
            f"{wrapped.target.address} is a `{wrapped.target.alias}` target; expected a `pex_binary`."
        )
    return wrapped.target


_UNSUPPORTED = {
    PexScriptField: 'run the console script\'s module instead, as `entry_point="pkg.module:function"`',
    PexPlatformsField: "the requirements are installed for a local interpreter of the constraints' Python version",
    PexCompletePlatformsField: "the requirements are installed for a local interpreter of the "
    "constraints' Python version",
}


def _refuse_unsupported(app: Address, binary: Target) -> None:
    """Settings of the pex_binary an image cannot honour: errors, never silently ignored."""
    for field, instead in _UNSUPPORTED.items():
        if binary[field].value:
            raise InvalidFieldException(
                f"oci_python_app {app} cannot use the `{field.alias}` field of {binary.address}: "
                f"{instead}. Remove it from the `pex_binary` (or give the image a `pex_binary` of its own)."
            )


def python_versions(
    app: Address, binary: Address, ics: InterpreterConstraints, universe: tuple[str, ...]
) -> PythonVersions:
    """The one Python minor version an image's app can be built for, from its constraints."""
    minors = ics.partition_into_major_minor_versions(universe)
    if len(minors) != 1:
        raise InvalidFieldException(
            f"oci_python_app {app}: the `interpreter_constraints` of {binary} ({ics}) allow "
            f"Python {', '.join(minors) or 'no version'} (of [python].interpreter_versions_universe), "
            "but an image runs one Python and its requirements and bytecode are built for it. "
            'Narrow them to the base image\'s version, e.g. `interpreter_constraints=["CPython==3.11.*"]`.'
        )
    implementations = tuple(sorted({r.project_name.lower() for r in ics}))
    return PythonVersions(implementations, minors, str(ics))


def check_base_python(app: Address, versions: PythonVersions, base_images: tuple[PlatformImage, ...]) -> None:
    """Fail at package time when the base declares a Python (`PYTHON_VERSION` in its config, as
    the official images do) that the app's constraints exclude."""
    for image in base_images:
        env = json.loads(image.config.data).get("config", {}).get("Env") or []
        declared = dict(item.split("=", 1) for item in env if "=" in item).get("PYTHON_VERSION")
        if declared and not versions.allows("cpython", declared):
            raise InvalidFieldException(
                f"oci_python_app {app} needs a Python matching {versions.constraints} (its "
                f"`pex_binary`'s `interpreter_constraints`), but its image's base declares "
                f"PYTHON_VERSION={declared} ({image.platform}). Build on a base with that Python, "
                "or change the constraints to the base's version."
            )


@rule(desc="Plan the layers of a Python app")
async def plan_python_app(request: PythonAppPlanRequest, python_setup: PythonSetup) -> PythonAppPlan:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.app, description_of_origin="oci_python_app"))
    app = wrapped.target
    binary = await _binary_target(app)
    _refuse_unsupported(app.address, binary)
    try:
        entry_point, ics = await MultiGet(
            Get(ResolvedPexEntryPoint, ResolvePexEntryPointRequest(binary[PexEntryPointField])),
            Get(InterpreterConstraints, InterpreterConstraintsRequest([binary.address])),
        )
    except NoSourceRootError as e:  # the binary's closure is walked for its constraints
        raise no_source_root(app.address, binary.address, e) from e
    if entry_point.val is None:
        raise InvalidFieldException(
            f"oci_python_app {app.address} needs an `entry_point` on {binary.address} (a module, "
            "`module:function` or a file), which the image runs."
        )
    versions = python_versions(app.address, binary.address, ics, tuple(python_setup.interpreter_versions_universe))
    uid, gid = app[OciLayerOwnerField].uid_gid()
    return PythonAppPlan(
        app=app.address,
        binary=binary.address,
        destination=app[OciPythonAppDestinationField].value,
        uid=uid,
        gid=gid,
        python=app[OciPythonAppPythonField].value,
        compile_bytecode=app[OciPythonAppCompileBytecodeField].value,
        own_layer_bytes=app[OciPythonAppLargeRequirementField].value * MiB,
        launcher=launcher_script(
            str(binary.address),
            entry_point.val.module,
            entry_point.val.function,
            versions,
            binary[PexInheritPathField].value,
        ),
        args=tuple(binary[PexArgsField].value or ()),
        env=FrozenDict(binary[PexEnvField].value or {}),
        include_requirements=binary[PexIncludeRequirementsField].value,
        include_sources=binary[PexIncludeSourcesField].value,
        interpreter_constraints=ics,
        versions=versions,
    )


@dataclass(frozen=True)
class _AppPartRequest:
    plan: PythonAppPlan
    compression: LayerCompression


class CodeLayerRequest(_AppPartRequest):
    pass


@dataclass(frozen=True)
class CodeLayers:
    layers: tuple[BuiltOciLayer, ...]


def requirement_layers_request(plan: PythonAppPlan, compression: LayerCompression) -> RequirementLayersRequest:
    compile_bytecode = plan.compile_bytecode in ("requirements", "all")
    return RequirementLayersRequest(
        app=plan.app,
        binary=plan.binary,
        python=plan.python_request,
        compile_bytecode=compile_bytecode,
        destination=plan.destination,
        uid=plan.uid,
        gid=plan.gid,
        own_layer_bytes=plan.own_layer_bytes,
        compression=compression,
    )


async def _with_bytecode(plan: PythonAppPlan, tree: Digest, what: str, part: str) -> Digest:
    if plan.compile_bytecode not in (part, "all"):
        return tree
    request = BytecodeRequest(tree, plan.python_request, what)
    bytecode = await Get(Bytecode, BytecodeRequest, request)
    return await Get(Digest, MergeDigests([tree, bytecode.digest]))


def _part(plan: PythonAppPlan, digest: Digest, part: str, compression: LayerCompression) -> LayerPart:
    return LayerPart(digest, plan.destination, plan.uid, plan.gid, f"oci_python_app {plan.app} ({part})", compression)


@rule(desc="Build the code layer of a Python app")
async def code_layer(request: CodeLayerRequest) -> CodeLayers:
    plan = request.plan
    code = await Get(AppCode, AppCodeRequest(plan.binary, plan.app)) if plan.include_sources else AppCode(EMPTY_DIGEST)
    tree = await _with_bytecode(plan, code.digest, f"the code of {plan.binary}", "code")
    placed, launcher = await MultiGet(
        Get(Digest, AddPrefix(tree, CODE_DIR)),
        Get(Digest, CreateDigest([FileContent(MAIN, plan.launcher)])),
    )
    digest = await Get(Digest, MergeDigests([placed, launcher]))
    built = await Get(BuiltOciLayer, LayerPart, _part(plan, digest, "code", request.compression))
    return CodeLayers((built,))


def check_platforms(
    app: Address, platform_specific: Sequence[str], platforms: Sequence[Platform], here: Platform
) -> None:
    """Requirements are installed for the containers this machine runs: an image for other
    platforms can hold them only when none is built for one platform."""
    others = [p for p in platforms if select_platform(p, [here]) is None]
    if platform_specific and others:
        raise InvalidFieldException(
            f"oci_python_app {app} installs its requirements for the containers this machine runs "
            f"({here}), and {', '.join(platform_specific)} are built for that platform only, but "
            f"its image's `platforms` field asks for {', '.join(map(str, others))} too. Build the "
            f"image for {here} only, or build it on a machine of each platform."
        )


@rule(desc="Build the layers of a Python app")
async def python_app_layers(request: OciPythonAppLayersRequest, host: HostPlatform) -> OciLayers:
    plan = await Get(PythonAppPlan, PythonAppPlanRequest(request.target.address))
    check_base_python(plan.app, plan.versions, request.base_images)
    code_request = CodeLayerRequest(plan, request.compression)
    if plan.include_requirements:
        requirements, code = await MultiGet(
            Get(RequirementLayers, RequirementLayersRequest, requirement_layers_request(plan, request.compression)),
            Get(CodeLayers, CodeLayerRequest, code_request),
        )
    else:
        requirements, code = RequirementLayers((), ()), await Get(CodeLayers, CodeLayerRequest, code_request)
    check_platforms(plan.app, requirements.platform_specific, request.platforms, container_platform(host))
    return OciLayers((*requirements.layers, *code.layers), entrypoint=plan.entrypoint, env=plan.env)


def rules():
    return [*collect_rules(), UnionRule(OciLayersRequest, OciPythonAppLayersRequest)]
