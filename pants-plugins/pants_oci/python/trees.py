"""What an app's layers hold: its resolved requirements (a packed pex, which the requirement
layers' process installs as a flat site-packages tree), its code (sources and resources below
their source roots, as inside a pex) and their bytecode."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PexLayout
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFiles,
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.target_types import FileSourceField
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, Digest, RemovePrefix
from pants.engine.internals.native_engine import IntrinsicError
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException, TransitiveTargets, TransitiveTargetsRequest
from pants.source.source_root import NoSourceRootError
from pants.util.logging import LogLevel

from ocikit.contracts.bytecode import BytecodeCommand
from pants_oci.util_rules.worker_runner import LinkedInterpreter, LinkInterpreterRequest, OcikitRunner

logger = logging.getLogger(__name__)

_TREE = "tree"
_PYC = "pyc"


@dataclass(frozen=True)
class ResolvedRequirementsRequest:
    binary: Address  # a pex_binary: its closure's requirements, from its resolve
    interpreter_constraints: InterpreterConstraints  # one Python minor version: the wheels' tags


@dataclass(frozen=True)
class ResolvedRequirements:
    pex: Pex  # a packed pex of the requirements (`pex.name` is its directory in `pex.digest`)
    python: PythonExecutable  # the interpreter they were resolved for


@dataclass(frozen=True)
class AppCodeRequest:
    binary: Address
    app: Address  # the oci_python_app, for messages


@dataclass(frozen=True)
class AppCode:
    digest: Digest  # sources and resources below their source roots


@dataclass(frozen=True)
class BytecodeRequest:
    tree: Digest
    interpreter_constraints: InterpreterConstraints  # one Python minor version
    implementation: str  # sys.implementation.name: "cpython"
    minor_version: str  # what the constraints allow: "3.11"
    what: str  # e.g. "the requirements of src/python/app:bin"


@dataclass(frozen=True)
class Bytecode:
    digest: Digest  # the `__pycache__` files of the tree, at their paths in it


@rule(desc="Resolve the requirements of a Python app", level=LogLevel.DEBUG)
async def resolve_requirements(request: ResolvedRequirementsRequest, python_setup: PythonSetup) -> ResolvedRequirements:
    # `internal_only`: Pants resolves for the one interpreter it finds for the constraints
    # (`--python`), the one the requirement layers' process installs for, instead of for every
    # interpreter the constraints allow on this machine (pip's work once per interpreter). Not
    # with `run_against_entire_lockfile`, which makes an internal pex hold the whole lockfile.
    # The packed layout keeps each installed wheel a zip of its own, which `venv create`
    # installs, for that interpreter too (it otherwise takes the one pex runs on, whose wheel
    # tags need not be the app's).
    pex, python = await MultiGet(
        Get(
            Pex,
            PexFromTargetsRequest(
                [request.binary],
                output_filename="requirements.pex",
                internal_only=not python_setup.run_against_entire_lockfile,
                layout=PexLayout.PACKED,
                include_source_files=False,
                include_local_dists=False,
                description=f"Resolve the requirements of {request.binary}",
            ),
        ),
        Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints),
    )
    return ResolvedRequirements(pex, python)


@rule(desc="Collect the code of a Python app", level=LogLevel.DEBUG)
async def app_code(request: AppCodeRequest) -> AppCode:
    closure = await Get(TransitiveTargets, TransitiveTargetsRequest([request.binary]))
    files = sorted(str(t.address) for t in closure.closure if t.has_field(FileSourceField))
    if files:
        # As when Pants builds the pex itself: `files` are not part of a Python app.
        logger.warning(
            f"oci_python_app {request.app}: the closure of {request.binary} holds `files` "
            f"targets, which a pex (and so this app's code layer) leaves out: {', '.join(files)}. "
            "Make them `resources` to ship them with the code, or put them in an `oci_layer` "
            "of the image, where they keep their path from the build root."
        )
    sources = await Get(PythonSourceFiles, PythonSourceFilesRequest(closure.closure, include_resources=True))
    try:
        stripped = await Get(StrippedPythonSourceFiles, PythonSourceFiles, sources)
    except NoSourceRootError as e:
        raise no_source_root(request.app, request.binary, e) from e
    except IntrinsicError as e:
        if "Can only merge Directories with no duplicates" not in str(e):
            raise
        # Stripped of their source roots, two of the binary's files landed on one path.
        raise InvalidFieldException(
            f"oci_python_app {request.app}: two sources or resources of {request.binary} (its "
            f"`binary` field) land on the same path below their source roots, which a pex "
            f"cannot hold either. Rename or move one. {' '.join(str(e).split())[:600]}"
        ) from e
    return AppCode(stripped.stripped_source_files.snapshot.digest)


def no_source_root(app: Address, binary: Address, error: NoSourceRootError) -> InvalidFieldException:
    return InvalidFieldException(
        f"oci_python_app {app} cannot place the code of {binary} (its `binary` field): {error} "
        "Its sources and resources land at their path below their source root, as in a pex: "
        "add a pattern to `[source].root_patterns` or a `[source].marker_filenames` file."
    )


@rule(desc="Compile Python bytecode", level=LogLevel.DEBUG)
async def compile_bytecode(request: BytecodeRequest, runner: OcikitRunner) -> Bytecode:
    if request.tree == EMPTY_DIGEST:
        return Bytecode(EMPTY_DIGEST)
    found = await Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints)
    # Named by its version, not its path: the cache key is the same on every machine, and the
    # compiler refuses an interpreter of another version behind the name.
    name = f"{request.implementation}{request.minor_version}"
    python = await Get(LinkedInterpreter, LinkInterpreterRequest(name, found.path))
    result = await Get(
        ProcessResult,
        Process,
        runner.core_process(
            # The tree (all of site-packages, for requirements) is linked in, not copied.
            python,
            BytecodeCommand(root=_TREE, out=_PYC, python=name).to_argv(),
            immutable_input_digests={_TREE: request.tree},
            output_directories=(_PYC,),
            description=f"Compile the bytecode of {request.what}",
            level=LogLevel.DEBUG,
        ),
    )
    return Bytecode(await Get(Digest, RemovePrefix(result.output_digest, _PYC)))


def rules():
    return collect_rules()
