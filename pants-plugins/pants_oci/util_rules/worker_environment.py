"""Which runner ocikit processes get, and the shipped one for processes that leave this machine.

A process runs where its environment says (`[environments-preview].names`; an `oci_image`'s
`environment` field). Locally, the named cache's link to Pants' interpreter is the fast path
(worker_runner.py). In a `docker_environment` or `remote_environment` that link and cache mean
nothing, so the worker is shipped: the core and its packages, unpacked from wheels built for the
Python found *in that environment*, are inputs of each process, run as `PYTHON -S -m ocikit`.
Cache keys then hold the core, the packages' digest and PYTHON's path inside the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.core.util_rules.environments import EnvironmentTarget, LocalEnvironmentTarget
from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.environment import ChosenLocalEnvironmentName, EnvironmentName
from pants.engine.fs import CreateDigest, Digest, FileContent, RemovePrefix
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.option.option_types import EnumOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from pants_oci.util_rules import worker_wheels
from pants_oci.util_rules.worker_dependencies import WorkerDependencies
from pants_oci.util_rules.worker_runner import (
    LocalRunner,
    LocalRunnerRequest,
    OcikitRunner,
    WorkerSetupError,
    core_files,
    worker_cache_name,
)


class WorkerMode(Enum):
    auto = "auto"
    shipped = "shipped"


class OciWorkerSubsystem(Subsystem):
    options_scope = "oci-worker"
    help = "How pants-oci runs its worker processes (`python -m ocikit ...`)."

    mode = EnumOption(
        default=WorkerMode.auto,
        help=softwrap(
            """
            `auto`: processes that run on this machine use the interpreter Pants runs on and a
            copy of the workers' packages in a named cache; processes in a `docker_environment`
            or `remote_environment` get the workers' packages as an input, built for the Python
            found there (`[python-bootstrap].search_path`, or the environment's
            `python_bootstrap_search_path`). `shipped`: every process does the latter, locally
            too (the Python found on the search path, not Pants' own).
            """
        ),
        advanced=True,
    )


def runs_here(environment: EnvironmentTarget) -> bool:
    return environment.val is None or isinstance(environment.val, LocalEnvironmentTarget)


def ships_worker(mode: WorkerMode, environment: EnvironmentTarget) -> bool:
    """The one decision: does this environment's process get the shipped worker?"""
    return mode is WorkerMode.shipped or not runs_here(environment)


# Run by the candidate interpreter with `-S`, so any Python 3 can answer: what pip needs to pick
# wheels for it. Exits 1 (not a candidate) below the core's minimum version.
PROBE = """\
import json, os, platform, sys, sysconfig
if sys.version_info < (3, 9):
    sys.exit(1)
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (AttributeError, ValueError, OSError):
    libc = ""
print(json.dumps({"implementation": sys.implementation.name, "version": list(sys.version_info[:2]),
                  "machine": platform.machine(), "libc": libc, "soabi": sysconfig.get_config_var("SOABI") or ""}))
"""

# Names that the PEP 600 manylinux_2_N tags had before it.
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


class ShippedWorkerError(Exception):
    """The environment's Python cannot run a shipped worker: one line naming it and why."""


@dataclass(frozen=True)
class WorkerPython:
    """A Python found in the environment the processes run in, and what its probe said."""

    path: str
    implementation: str
    version: tuple[int, int]
    machine: str
    libc: str

    @classmethod
    def from_probe(cls, path: str, stdout: str) -> WorkerPython:
        facts = json.loads(stdout)
        return cls(path, facts["implementation"], tuple(facts["version"]), facts["machine"], facts["libc"])


def pip_target_args(python: WorkerPython, where: str) -> tuple[str, ...]:
    """pip's arguments that select wheels this Python imports: CPython of its minor version on
    glibc Linux (manylinux tags down to glibc 2.5)."""
    if python.implementation != "cpython":
        raise ShippedWorkerError(
            f"pants-oci: the Python found {where} ({python.path}) is {python.implementation}; shipped "
            "ocikit processes need CPython 3.9 or newer (set `python_bootstrap_search_path` to one)."
        )
    name, _, version = python.libc.partition(" ")
    if name != "glibc" or not version.replace(".", "").isdigit():
        raise ShippedWorkerError(
            f"pants-oci: the Python found {where} ({python.path}) does not run on glibc "
            f"({python.libc or 'unknown libc'}); shipped ocikit processes need a glibc Linux (manylinux wheels)."
        )
    major, minor = (int(n) for n in version.split(".")[:2])
    cp = f"cp{python.version[0]}{python.version[1]}"
    args = ["--python-version", f"{python.version[0]}.{python.version[1]}", "--implementation", "cp"]
    for abi in (cp, "abi3", "none"):
        args += ["--abi", abi]
    for glibc_minor in range(minor, 4, -1) if major == 2 else ():
        args += ["--platform", f"manylinux_2_{glibc_minor}_{python.machine}"]
        legacy = _LEGACY_MANYLINUX.get((2, glibc_minor))
        if legacy:
            args += ["--platform", f"{legacy}_{python.machine}"]
    return tuple(args)


def environment_description(environment: EnvironmentTarget) -> str:
    return f"in the environment `{environment.name}`" if environment.name else "on this machine"


@dataclass(frozen=True)
class WorkerPythonRequest:
    """The Python that shipped ocikit processes run with, in the current environment."""


@rule(desc="Find the Python for shipped ocikit processes", level=LogLevel.DEBUG)
async def find_worker_python(
    _: WorkerPythonRequest, bootstrap: PythonBootstrap, environment: EnvironmentTarget
) -> WorkerPython:
    found = await Get(
        BinaryPaths,
        BinaryPathRequest(
            binary_name="python3",
            search_path=bootstrap.interpreter_search_paths,
            check_file_entries=True,
            test=BinaryPathTest(["-S", "-c", PROBE], fingerprint_stdout=False),
        ),
    )
    first = found.first_path
    if first is None:
        raise ShippedWorkerError(
            f"pants-oci: no `python3` of version 3.9 or newer was found {environment_description(environment)} "
            f"on {list(bootstrap.interpreter_search_paths)}, and ocikit processes that run there need one: "
            "install it in that environment, or point `[python-bootstrap].search_path` (the "
            "environment's `python_bootstrap_search_path`) at it."
        )
    return WorkerPython.from_probe(first.path, first.fingerprint)


@dataclass(frozen=True)
class ShippedPackagesRequest:
    target_args: tuple[str, ...]


@dataclass(frozen=True)
class ShippedPackages:
    digest: Digest


_WHEELS_SCRIPT = "ocikit_worker_wheels.py"
_WHEELS_SPEC = "ocikit_worker_wheels.json"
_WHEELHOUSE = ".ocikit-wheels"
_WHEELHOUSE_CACHE = "ocikit_wheels"
_OUTPUT = "deps"
# What pip reads to find a user's package index and its credentials and CAs.
PIP_ENV = ("HOME", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE", "PIP_CERT")


@rule(desc="Fetch the packages of shipped ocikit processes", level=LogLevel.DEBUG)
async def fetch_shipped_packages(
    request: ShippedPackagesRequest, python: PythonBuildStandaloneBinary, deps: WorkerDependencies
) -> ShippedPackages:
    """Runs on this machine (pip and the network are here), whatever the environment."""
    spec = {
        "wheelhouse": _WHEELHOUSE,
        "requirements": list(deps.distributions),
        "target": list(request.target_args),
        "output": _OUTPUT,
    }
    files = [
        FileContent(_WHEELS_SCRIPT, Path(worker_wheels.__file__).read_bytes()),
        FileContent(_WHEELS_SPEC, json.dumps(spec, sort_keys=True).encode()),
    ]
    script, pip_env = (
        await Get(Digest, CreateDigest(files)),
        await Get(EnvironmentVars, EnvironmentVarsRequest(PIP_ENV)),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            # Pants' interpreter by its machine path (it has pip): like the local setup, never
            # cached on disk. The processes that use its output name only its digest.
            argv=(python.path, _WHEELS_SCRIPT, _WHEELS_SPEC),
            description=f"Fetch the packages of ocikit processes ({' '.join(request.target_args[:2])})",
            input_digest=script,
            env=dict(pip_env),
            append_only_caches={_WHEELHOUSE_CACHE: _WHEELHOUSE},
            output_directories=(_OUTPUT,),
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise WorkerSetupError(
            lines[-1] if lines else f"fetching the packages failed with exit code {result.exit_code}"
        )
    return ShippedPackages(await Get(Digest, RemovePrefix(result.output_digest, _OUTPUT)))


@rule(desc="Prepare the runner of ocikit processes")
async def choose_ocikit_runner(
    worker: OciWorkerSubsystem, environment: EnvironmentTarget, local: ChosenLocalEnvironmentName
) -> OcikitRunner:
    if not ships_worker(worker.mode, environment):
        prepared = await Get(LocalRunner, LocalRunnerRequest())
        return prepared.runner
    python = await Get(WorkerPython, WorkerPythonRequest())
    target_args = pip_target_args(python, environment_description(environment))
    packages = await Get(
        ShippedPackages, {ShippedPackagesRequest(target_args): ShippedPackagesRequest, local.val: EnvironmentName}
    )
    core = await Get(Digest, CreateDigest(core_files()))
    return OcikitRunner(
        cache_name=worker_cache_name() if runs_here(environment) else "",
        deps_directory="",
        core=core,
        python=python.path,
        shipped_deps=packages.digest,
    )


def rules():
    return [*collect_rules(), *OciWorkerSubsystem.rules()]
