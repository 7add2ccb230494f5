"""What an app's layers hold: its resolved requirements (a packed pex, which the requirement
layers' process installs as a flat site-packages tree), its code (sources and resources below
their source roots, as inside a pex) and their bytecode."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PexLayout
from pants.backend.python.util_rules.pex import Pex
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
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException, TransitiveTargets, TransitiveTargetsRequest
from pants.source.source_root import NoSourceRootError
from pants.util.logging import LogLevel

from ocikit.contracts.bytecode import BytecodeCommand
from pants_oci.python.interpreter import AppPython, AppPythonRequest
from pants_oci.util_rules.worker_runner import LinkedInterpreter, OcikitRunner

logger = logging.getLogger(__name__)

_TREE = "tree"
_PYC = "pyc"


@dataclass(frozen=True)
class ResolvedRequirementsRequest:
    binary: Address  # a pex_binary: its closure's requirements, from its resolve
    python: AppPythonRequest  # one Python minor version: the wheels' tags


@dataclass(frozen=True)
class ResolvedRequirements:
    pex: Pex  # a packed pex of the requirements (`pex.name` is its directory in `pex.digest`)
    python: AppPython  # the interpreter they were resolved for


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
    python: AppPythonRequest  # one Python minor version
    what: str  # e.g. "the requirements of src/python/app:bin"


@dataclass(frozen=True)
class Bytecode:
    digest: Digest  # the `__pycache__` files of the tree, at their paths in it


@rule(desc="Resolve the requirements of a Python app", level=LogLevel.DEBUG)
async def resolve_requirements(request: ResolvedRequirementsRequest, python_setup: PythonSetup) -> ResolvedRequirements:
    # For the one interpreter the app's Python is, the one the requirement layers' process
    # installs for, instead of for every interpreter the constraints allow on this machine
    # (pip's work once per interpreter): by its exact version when the search found it
    # (interpreter.py), looked for in its own directory only (a later `--python-path` wins over
    # Pants' whole search path, where pex would first identify every interpreter on it), else
    # as Pants' own lookup found it (`internal_only`, unless `run_against_entire_lockfile`,
    # which makes an internal pex hold the whole lockfile). The packed layout keeps each
    # installed wheel a zip of its own, which `venv create` installs.
    python = await Get(AppPython, AppPythonRequest, request.python)
    exact = python.exact_constraints(request.python)
    search = ("--python-path", os.path.dirname(python.executable.path)) if exact else ()
    pex = await Get(
        Pex,
        PexFromTargetsRequest(
            [request.binary],
            output_filename="requirements.pex",
            internal_only=exact is None and not python_setup.run_against_entire_lockfile,
            layout=PexLayout.PACKED,
            include_source_files=False,
            include_local_dists=False,
            hardcoded_interpreter_constraints=exact,
            additional_args=search,
            description=f"Resolve the requirements of {request.binary}",
        ),
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
    python = await Get(AppPython, AppPythonRequest, request.python)
    result = await Get(
        ProcessResult,
        Process,
        runner.core_process(
            # The tree (all of site-packages, for requirements) is linked in, not copied.
            # No link where processes run elsewhere: core_process refuses that, naming why.
            python.linked or LinkedInterpreter(request.python.name),
            BytecodeCommand(root=_TREE, out=_PYC, python=request.python.name).to_argv(),
            immutable_input_digests={_TREE: request.tree},
            output_directories=(_PYC,),
            description=f"Compile the bytecode of {request.what}",
            level=LogLevel.DEBUG,
        ),
    )
    return Bytecode(await Get(Digest, RemovePrefix(result.output_digest, _PYC)))


def rules():
    return collect_rules()
