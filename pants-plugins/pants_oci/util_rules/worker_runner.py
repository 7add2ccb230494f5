"""Running the Pants-independent core (`python -m ocikit ...`) as a process, on any machine.

Locally, every ocikit process starts as `.ocikit/python -S -m ocikit ...` with
`PYTHONPATH=__ocikit:.ocikit/deps-<hash>`: `.ocikit` is a named cache (mounted by Pants; only
its name and this relative path enter cache keys) holding a link to the interpreter Pants runs
on and a copy of the workers' third-party packages (see worker_setup.py); `__ocikit` holds the
core's source, an input of every process. So a cache key names the core's source and the
hash of the dependencies, never a machine path, and a remote cache serves every machine.

Where a process will not run on this machine (a docker or remote environment), the packages are
an input too and a Python found there runs them (worker_environment.py chooses, and builds that
runner).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from pants.core.goals.run import RunRequest
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, FileContent
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.option.global_options import NamedCachesDirOption
from pants.util.logging import LogLevel

import ocikit
from pants_oci.util_rules import worker_setup
from pants_oci.util_rules.worker_dependencies import WorkerDependencies, worker_dependencies

logger = logging.getLogger(__name__)

CORE_DIR = "__ocikit"
CACHE_DIR = ".ocikit"
SHIPPED_DEPS_DIR = "__ocikit_deps"
REMOTE_CACHE_SPECULATION_DELAY_MS = 2000

# What the registry client reads to find credentials and CAs the way docker, crane and skopeo
# do: paths, never secrets (the secrets are read from these files at run time). Only `publish`
# (never cached) passes them all.
CREDENTIAL_ENV = (
    "HOME",
    "PATH",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)

# What the setup imports with the workers' interpreter after it copies their packages: the C
# extension of zstandard named explicitly (its import falls back to nothing else on CPython, but
# a missing extension is what broke users' caches).
WORKER_IMPORTS = ("requests", "yaml", "zstandard.backend_c")

# What a cached `pull` passes when the user has set it (each enters the pull's cache key). The
# worker finds the home directory, a default PATH and podman's auth file by itself.
PULL_ENV = ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def worker_cache_name(abi: str | None = None) -> str:
    """The named cache of the worker interpreter, by ABI (`cpython-39-x86_64-linux-gnu`):
    whichever interpreter sits behind its `python` link (the last Pants run on this machine set
    it) runs the same compiled extensions. Pants accepts only `[a-z_]` in cache names, so the
    ABI is spelled as a hash in letters."""
    abi = abi or sysconfig.get_config_var("SOABI") or sysconfig.get_config_var("EXT_SUFFIX") or ""
    number = int.from_bytes(hashlib.sha256(abi.encode()).digest()[:8], "big")
    letters = ""
    for _ in range(10):
        number, rest = divmod(number, 26)
        letters += chr(ord("a") + rest)
    return f"ocikit_python_{letters}"


@dataclass(frozen=True)
class OcikitRunner:
    """How every ocikit process runs, the core's source an input (editing it invalidates
    exactly the results it could change). Locally (`shipped_deps` None): the interpreter and
    packages in the named cache `cache_name`. Shipped: `python`, a path in the environment the
    process runs in, with the packages as the input `shipped_deps` (and the named cache only
    when the process runs here: `publish` keeps its upload journal there)."""

    cache_name: str
    deps_directory: str
    core: Digest
    python: str | None = None
    shipped_deps: Digest | None = None

    @property
    def shipped(self) -> bool:
        return self.shipped_deps is not None

    def argv(self, *args: str, root: str = "") -> tuple[str, ...]:
        python = self.python if self.shipped else f"{root}{CACHE_DIR}/python"
        return (str(python), "-S", "-m", "ocikit", *args)

    @property
    def env(self) -> dict[str, str]:
        return self._env()

    def _env(self, root: str = "") -> dict[str, str]:
        deps = SHIPPED_DEPS_DIR if self.shipped else f"{CACHE_DIR}/{self.deps_directory}"
        return {"PYTHONPATH": f"{root}{CORE_DIR}:{root}{deps}", **_CORE_ENV}

    @property
    def append_only_caches(self) -> dict[str, str]:
        # No name: a shipped worker that may run where no named cache is (remote execution).
        return {self.cache_name: CACHE_DIR} if self.cache_name else {}

    @property
    def immutable_input_digests(self) -> dict[str, Digest]:
        if self.shipped_deps is not None:
            return {CORE_DIR: self.core, SHIPPED_DEPS_DIR: self.shipped_deps}
        return {CORE_DIR: self.core}

    def process(
        self,
        args: Iterable[str],
        *,
        description: str,
        env: Mapping[str, str] | None = None,
        input_digest: Digest = EMPTY_DIGEST,
        immutable_input_digests: Mapping[str, Digest] | None = None,
        append_only_caches: Mapping[str, str] | None = None,
        **kwargs,
    ) -> Process:
        """`python -m ocikit ARGS` as a Process, with `immutable_input_digests` linked in beside
        the core's and `append_only_caches` beside its own; `kwargs` go to Process unchanged.

        With a remote cache, Pants 2.17 starts the process locally while it looks the result
        up, unless told to wait: a layer's sandbox (a copy of every input) then competes with
        the download it is about to lose to. A miss still starts the local run at once; only a
        lookup slower than this waits (not part of the cache key)."""
        kwargs.setdefault("remote_cache_speculation_delay_millis", REMOTE_CACHE_SPECULATION_DELAY_MS)
        return Process(
            argv=self.argv(*args),
            description=description,
            env={**(env or {}), **self.env},
            input_digest=input_digest,
            immutable_input_digests={**(immutable_input_digests or {}), **self.immutable_input_digests},
            append_only_caches={**(append_only_caches or {}), **self.append_only_caches},
            **kwargs,
        )

    def run_request(self, args: Iterable[str], *, digest: Digest, env: Mapping[str, str] | None = None) -> RunRequest:
        """`python -m ocikit ARGS` for the `run` goal, which starts it in the workspace, not in
        the sandbox holding the core and the named cache: its paths start at `{chroot}`."""
        return RunRequest(
            digest=digest,
            args=self.argv(*args, root=_CHROOT),
            extra_env={**(env or {}), **self._env(_CHROOT)},
            immutable_input_digests=self.immutable_input_digests,
            append_only_caches=self.append_only_caches,
        )

    def core_process(
        self,
        python: LinkedInterpreter,
        args: Iterable[str],
        *,
        description: str,
        immutable_input_digests: Mapping[str, Digest] | None = None,
        **kwargs,
    ) -> Process:
        """`PYTHON -S -m ocikit ARGS` on another interpreter (the image's Python version, which
        bytecode is specific to), started through its link in the named cache: the core and the
        standard library only, none of the workers' packages (compiled for Pants' interpreter);
        `kwargs` go to Process unchanged."""
        if self.shipped:
            raise WorkerSetupError(_NOT_SHIPPED.format(what="Compiling an oci_python_app's bytecode"))
        return Process(
            argv=(f"{CACHE_DIR}/{python.name}", "-S", "-m", "ocikit", *args),
            description=description,
            env={"PYTHONPATH": CORE_DIR, **_CORE_ENV},
            immutable_input_digests={**(immutable_input_digests or {}), **self.immutable_input_digests},
            append_only_caches=self.append_only_caches,
            **kwargs,
        )


@dataclass(frozen=True)
class LinkInterpreterRequest:
    """Link an interpreter Pants found (an absolute, machine-specific path) into the named cache
    under `name` (e.g. `cpython3.11`), so that processes run by it name only `name`."""

    name: str
    path: str


@dataclass(frozen=True)
class LinkedInterpreter:
    name: str


@dataclass(frozen=True)
class FindInterpreterRequest:
    """Find a Python of `implementation` and minor `version` on `search_paths` (Pants' interpreter
    search path; file `names` most specific first) and link it into the named cache as `name`:
    one process, where Pants' own lookup runs the pex CLI (seconds, on every pantsd start)."""

    name: str  # "cpython3.11"
    implementation: str  # "cpython"
    version: str  # "3.11"
    search_paths: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class FoundInterpreter:
    path: str | None  # its real path; None: none on the search path
    fingerprint: str | None  # the sha256 of that file
    version: str | None = None  # its full version: "3.11.7"


_CHROOT = "{chroot}/"  # replaced by the run goal with its sandbox's absolute path
# PYTHONHASHSEED: output that follows string hashing (a frozenset's order in marshalled code)
# is the same in every run.
_CORE_ENV = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def core_files() -> list[FileContent]:
    root = Path(ocikit.__file__).parent
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        files.append(FileContent(rel, path.read_bytes()))
    return files


_NOT_SHIPPED = (
    "pants-oci: {what} needs the local Python of ocikit processes, and this process would run "
    'in a docker or remote environment (or with `[oci-worker].mode = "shipped"`): build '
    "oci_python_app images in the local environment."
)
_SETUP_SCRIPT = "ocikit_worker_setup.py"
_SETUP_SPEC = "ocikit_worker_setup.json"


@rule(desc="Find the packages ocikit processes import")
async def find_worker_dependencies() -> WorkerDependencies:
    return worker_dependencies()


class WorkerSetupError(Exception):
    """The setup of the workers' named cache failed: one line naming the cache and how to clear it."""


@dataclass(frozen=True)
class LocalRunnerRequest:
    """The runner of processes that run on this machine (worker_environment.py asks)."""


@dataclass(frozen=True)
class LocalRunner:
    runner: OcikitRunner


@rule(desc="Prepare the Python that runs ocikit processes")
async def prepare_local_runner(
    _: LocalRunnerRequest,
    python: PythonBuildStandaloneBinary,
    deps: WorkerDependencies,
    caches_dir: NamedCachesDirOption,
) -> LocalRunner:
    cache_name = worker_cache_name()
    spec = {
        "cache": CACHE_DIR,
        # The real interpreter, not a venv's link to it: the workers need its standard library
        # only (-S), and a base interpreter outlives the venvs made from it.
        "python": os.path.realpath(python.path),
        "directory": deps.directory,
        "files": [[f.source, f.path, f.sha256] for f in deps.files],
        "imports": list(WORKER_IMPORTS),
    }
    core, setup, test_env = await MultiGet(
        Get(Digest, CreateDigest(core_files())),
        Get(Digest, CreateDigest(_setup_files(spec))),
        Get(EnvironmentVars, EnvironmentVarsRequest([worker_setup.TEST_CRASH_ENV])),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            # The only process of ours with a machine path in its command line: it is never
            # cached on disk, and runs again whenever pantsd starts (and after it failed). Not
            # once per run (PER_SESSION): that re-ran it and everything after it, doubling a
            # no-op package. It checks the whole copy each time (~27 ms for 29 MB).
            argv=(python.path, "-S", _SETUP_SCRIPT, _SETUP_SPEC),
            description="Prepare the Python for ocikit processes",
            input_digest=setup,
            immutable_input_digests={CORE_DIR: core},
            env=_setup_env(test_env),
            append_only_caches={cache_name: CACHE_DIR},
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
            level=LogLevel.DEBUG,
        ),
    )
    _check_setup(result, caches_dir, cache_name)
    report = json.loads(result.stdout.decode() or "{}")
    if report.get("damaged"):
        logger.warning(
            f"pants-oci: the packages of ocikit processes in Pants' named cache {cache_name} "
            f"were damaged ({report['rebuilt']}) and have been copied again."
        )
    return LocalRunner(OcikitRunner(cache_name=cache_name, deps_directory=deps.directory, core=core))


async def _link_setup_process(runner: OcikitRunner, spec: dict, description: str) -> Process:
    """The setup step run in the named cache to link (or find and link) an interpreter. Like the
    runner's own setup, never cached on disk: machine paths are its input and its output. The
    processes that use a link name only the link."""
    setup = await Get(Digest, CreateDigest(_setup_files(spec)))
    return Process(
        argv=(f"{CACHE_DIR}/python", "-S", _SETUP_SCRIPT, _SETUP_SPEC),
        description=description,
        input_digest=setup,
        immutable_input_digests=runner.immutable_input_digests,
        env={"PYTHONPATH": CORE_DIR},
        append_only_caches=runner.append_only_caches,
        cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
        level=LogLevel.DEBUG,
    )


@rule(desc="Link a Python into the cache of ocikit processes", level=LogLevel.DEBUG)
async def link_interpreter(
    request: LinkInterpreterRequest, runner: OcikitRunner, caches_dir: NamedCachesDirOption
) -> LinkedInterpreter:
    if runner.shipped:
        raise WorkerSetupError(_NOT_SHIPPED.format(what=f"Linking {request.path} as {request.name}"))
    spec = {"cache": CACHE_DIR, "links": {request.name: os.path.realpath(request.path)}}
    result = await Get(
        FallibleProcessResult,
        Process,
        await _link_setup_process(runner, spec, f"Link {request.path} as {CACHE_DIR}/{request.name}"),
    )
    _check_setup(result, caches_dir, runner.cache_name)
    return LinkedInterpreter(request.name)


@rule(desc="Find a Python and link it into the cache of ocikit processes", level=LogLevel.DEBUG)
async def find_interpreter(
    request: FindInterpreterRequest, runner: OcikitRunner, caches_dir: NamedCachesDirOption
) -> FoundInterpreter:
    if runner.shipped:
        raise WorkerSetupError(_NOT_SHIPPED.format(what=f"Linking a {request.name}"))
    find = {
        "link": request.name,
        "implementation": request.implementation,
        "version": request.version,
        "search_paths": list(request.search_paths),
        "names": list(request.names),
    }
    description = f"Find a {request.name} and link it as {CACHE_DIR}/{request.name}"
    result = await Get(
        FallibleProcessResult,
        Process,
        await _link_setup_process(runner, {"cache": CACHE_DIR, "find": find}, description),
    )
    _check_setup(result, caches_dir, runner.cache_name)
    found = json.loads(result.stdout)
    return FoundInterpreter(found["path"], found["fingerprint"], found["version"])


def _setup_env(test_env: EnvironmentVars) -> dict[str, str]:
    env = {"PYTHONPATH": CORE_DIR}  # the setup imports ocikit.worker_cache
    crash = test_env.get(worker_setup.TEST_CRASH_ENV)
    if crash:
        env[worker_setup.TEST_CRASH_ENV] = crash
    return env


def _check_setup(result: FallibleProcessResult, caches_dir: NamedCachesDirOption, cache_name: str) -> None:
    """The setup's own line when it wrote one, else one naming the cache (it was killed)."""
    if result.exit_code == 0:
        return
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    if lines and lines[-1].startswith("pants-oci: "):
        raise WorkerSetupError(lines[-1])
    path = caches_dir.val / cache_name
    raise WorkerSetupError(
        f"pants-oci: preparing the Python for ocikit processes in Pants' named cache {cache_name} "
        f"failed with exit code {result.exit_code}{': ' + lines[-1] if lines else ''}. The next "
        f"run repairs the cache; if it fails again, clear it with `rm -rf {path}` and run Pants again."
    )


def _setup_files(spec: dict) -> list[FileContent]:
    return [
        FileContent(_SETUP_SCRIPT, Path(worker_setup.__file__).read_bytes()),
        FileContent(_SETUP_SPEC, json.dumps(spec, sort_keys=True).encode()),
    ]


def rules():
    return collect_rules()
