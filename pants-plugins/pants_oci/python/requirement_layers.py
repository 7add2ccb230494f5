"""A Python app's resolved requirements -> their layers, by one cached process.

The process (`python -m ocikit requirement-layers`) installs the resolved requirements (the
packed pex Pants resolved) with pex's own `venv create`, compiles their bytecode, splits the tree
by distribution and writes each layer's blob: only the blobs come back into the store, not the
tree's thousands of files and their bytecode. (A separate install process would have its tree
captured into the store and then written into this process's sandbox: seconds per app.)"""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.util_rules.pex_cli import PexPEX
from pants.backend.python.util_rules.pex_environment import PexEnvironment
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestContents, DigestSubset, FileContent, MergeDigests, PathGlobs
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from ocikit.contracts.requirement_layers import (
    RESULT,
    RequirementLayersCommand,
    RequirementLayersResult,
    RequirementLayersSpec,
    RequirementsInstall,
)
from ocikit.requirement_layers import SHARED
from pants_oci.python.interpreter import AppPythonRequest
from pants_oci.python.launcher import REQUIREMENTS_DIR
from pants_oci.python.trees import ResolvedRequirements, ResolvedRequirementsRequest
from pants_oci.util_rules.layers import BuiltOciLayer, read_layer_files
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import CACHE_DIR, OcikitRunner

_SPEC = "requirement-layers.json"
_TREE = "site-packages"
_OUT = "layers"


@dataclass(frozen=True)
class RequirementLayersRequest:
    app: Address  # the oci_python_app, for names
    binary: Address  # its pex_binary: the requirements of its closure
    python: AppPythonRequest  # the Python the tree is installed for (one minor version)
    compile_bytecode: bool  # compile the tree's bytecode for that Python
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
    request: RequirementLayersRequest, python: str, mtime: int, install: RequirementsInstall
) -> RequirementLayersSpec:
    """What decides the layers' bytes, besides the resolved requirements: the Python they are
    installed and compiled for, named by its version and reached through its link in the named
    cache (`python`), never by a machine path."""
    return RequirementLayersSpec(
        root=_TREE,
        destination=request.destination,
        prefix=REQUIREMENTS_DIR,
        own_layer_bytes=request.own_layer_bytes,
        python=python if request.compile_bytecode else None,
        python_name=request.python.name if request.compile_bytecode else None,
        uid=request.uid,
        gid=request.gid,
        compression=request.compression.compression.value,
        level=request.compression.level,
        mtime=mtime,
        install=install,
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
    request: RequirementLayersRequest,
    runner: OcikitRunner,
    settings: OciBuildSettings,
    pex_pex: PexPEX,
    pex_env: PexEnvironment,
) -> RequirementLayers:
    resolved = await Get(ResolvedRequirements, ResolvedRequirementsRequest(request.binary, request.python))
    linked = resolved.python.linked
    # No link where processes run elsewhere: the path Pants found there.
    python = f"{CACHE_DIR}/{linked.name}" if linked else resolved.python.executable.path
    pex_sandbox = pex_env.in_sandbox(working_directory=None)
    pex_root = str(pex_sandbox.pex_root)
    # pex's named cache, as Pants' own pex processes mount it (the installed wheels `venv
    # create` copies from); not the bootstrap Python's caches, which this process does not use.
    pex_caches = {name: path for name, path in pex_sandbox.append_only_caches.items() if path == pex_root}
    install = RequirementsInstall(pex_cli=pex_pex.exe, repository=resolved.pex.name, python=python, pex_root=pex_root)
    spec = requirement_layers_spec(request, python, settings.epoch, install)
    spec_digest = await Get(Digest, CreateDigest([FileContent(_SPEC, spec.dumps())]))
    inputs = await Get(Digest, MergeDigests([spec_digest, resolved.pex.digest, pex_pex.digest]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            RequirementLayersCommand(spec=_SPEC, out=_OUT).to_argv(),
            input_digest=inputs,
            output_directories=(_OUT,),
            append_only_caches=pex_caches,
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
