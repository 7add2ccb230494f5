"""A Python app's installed requirements -> their layers, by one cached process.

The process (`python -m ocikit requirement-layers`) reads the installed tree where Pants links
it in, compiles its bytecode, splits it by distribution and writes each layer's blob: only the
blobs come back into the store, not the tree's thousands of files and their bytecode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    PathGlobs,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from ocikit.contracts.requirement_layers import (
    RESULT,
    RequirementLayersCommand,
    RequirementLayersResult,
    RequirementLayersSpec,
)
from ocikit.requirement_layers import SHARED
from pants_oci.python.launcher import REQUIREMENTS_DIR
from pants_oci.python.trees import InstalledRequirements, InstalledRequirementsRequest
from pants_oci.util_rules.layers import BuiltOciLayer, executable_paths, read_layer_files
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import (
    CACHE_DIR,
    LinkedInterpreter,
    LinkInterpreterRequest,
    OcikitRunner,
)

_SPEC = "requirement-layers.json"
_TREE = "site-packages"
_OUT = "layers"


@dataclass(frozen=True)
class RequirementLayersRequest:
    app: Address  # the oci_python_app, for names
    binary: Address  # its pex_binary: the requirements of its closure
    interpreter_constraints: InterpreterConstraints  # one Python minor version
    python_name: Optional[str]  # compile the bytecode for this Python ("cpython3.11"), or None
    destination: str
    uid: int
    gid: int
    own_layer_bytes: int
    compression: LayerCompression


@dataclass(frozen=True)
class RequirementLayers:
    layers: tuple[BuiltOciLayer, ...]
    platform_specific: tuple[str, ...]  # installed distributions built for this machine only


def layer_what(app: Address, name: str) -> str:
    """How errors and the image's history name a requirement layer."""
    return f"oci_python_app {app} ({'requirements' if name == SHARED else f'requirement {name}'})"


def requirement_layers_spec(
    request: RequirementLayersRequest,
    python: Optional[LinkedInterpreter],
    mtime: int,
    executables: tuple[str, ...] = (),
) -> RequirementLayersSpec:
    """What decides the layers' bytes, besides the tree: the bytecode's Python is named by its
    version and reached through its link in the named cache, never by a machine path; the
    tree's executables are the ones Pants records (`LayerSpec.executables` says why)."""
    return RequirementLayersSpec(
        root=_TREE,
        destination=request.destination,
        prefix=REQUIREMENTS_DIR,
        own_layer_bytes=request.own_layer_bytes,
        python=f"{CACHE_DIR}/{python.name}" if python else None,
        python_name=python.name if python else None,
        uid=request.uid,
        gid=request.gid,
        compression=request.compression.compression.value,
        level=request.compression.level,
        mtime=mtime,
        executables=executables,
    )


@dataclass(frozen=True)
class RequirementLayerFiles:
    outputs: Digest
    blob: str
    descriptor: str
    what: str


@rule(desc="Read a built requirement layer", level=LogLevel.DEBUG)
async def read_requirement_layer(request: RequirementLayerFiles) -> BuiltOciLayer:
    return await read_layer_files(request.outputs, request.blob, request.descriptor, request.what)


@rule(desc="Build the requirement layers of a Python app", level=LogLevel.DEBUG)
async def build_requirement_layers(
    request: RequirementLayersRequest, runner: OcikitRunner, settings: OciBuildSettings
) -> RequirementLayers:
    installed = await Get(
        InstalledRequirements, InstalledRequirementsRequest(request.binary, request.interpreter_constraints)
    )
    if installed.digest == EMPTY_DIGEST:
        return RequirementLayers((), ())
    python = None
    if request.python_name:
        found = await Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints)
        python = await Get(LinkedInterpreter, LinkInterpreterRequest(request.python_name, found.path))
    executables = executable_paths(await Get(DigestEntries, Digest, installed.digest))
    spec = requirement_layers_spec(request, python, settings.epoch, executables)
    spec_digest = await Get(Digest, CreateDigest([FileContent(_SPEC, spec.dumps())]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            RequirementLayersCommand(spec=_SPEC, out=_OUT).to_argv(),
            input_digest=spec_digest,
            # Linked, not copied: the tree is read where the store holds it.
            immutable_input_digests={_TREE: installed.digest},
            output_directories=(_OUT,),
            description=f"Build the requirement layers of oci_python_app {request.app}",
            level=LogLevel.DEBUG,
        ),
    )
    contents = await Get(DigestContents, DigestSubset(result.output_digest, PathGlobs([f"{_OUT}/{RESULT}"])))
    written = RequirementLayersResult.loads(contents[0].content, f"the requirement layers of {request.app}")
    outputs = result.output_digest
    layers = await MultiGet(
        Get(
            BuiltOciLayer,
            RequirementLayerFiles(
                outputs, f"{_OUT}/{w.blob}", f"{_OUT}/{w.descriptor}", layer_what(request.app, w.name)
            ),
        )
        for w in written.layers
    )
    return RequirementLayers(tuple(layers), written.platform_specific)


def rules():
    return collect_rules()
