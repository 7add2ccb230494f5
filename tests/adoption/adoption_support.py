"""Parts of the adoption tests: a stock Pants venv, the pex CLI Pants needs to install plugins,
the plugin wheel, a scratch user repo and a BuildGrid remote cache.

What takes long to make and never changes (venvs, the pex CLI) is made once per machine under
~/.cache/pants-oci/ (or $PANTS_OCI_CACHE), by the first test that needs it or by .ci/run, under
a lock. A part that cannot be made fails the test with a message naming it: CI runs these
tests, so they are never skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:  # bench/run.py imports this module too
    sys.path.append(str(REPO / "tests"))
# The pex CLI (also what the Python build root uses), where parts are cached and the error
# for a part that cannot be made, shared with tests/python_tools.py.
from python_tools import CACHE, PexCli, pex_cli  # noqa: E402, F401
from python_tools import MissingTool as MissingPart  # noqa: E402
from python_tools import pants_venv as launcher_venv  # noqa: E402, F401

PANTS_VERSION = "2.17.1"
BUILDGRID_VERSION = "0.9.1"
WORKER_SETUP_DESCRIPTION = "Prepare the Python for ocikit processes"


def _run(argv, what: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    if proc.returncode != 0:
        raise MissingPart(f"{what} failed: $ {' '.join(map(str, argv))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def find_python(version: str) -> str:
    """An interpreter `python<version>`: on PATH, or in pyenv (as on these machines)."""
    candidates = [shutil.which(f"python{version}") or ""]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    candidates += sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}.*/bin/python{version}")), reverse=True)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
            )
            if probe.stdout.strip() == version:
                return candidate
    raise MissingPart(
        f"CPython {version} is needed and was found neither on PATH nor in pyenv (install it: pyenv install {version})"
    )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _made_once(target: Path, make: Callable[[Path], None]) -> Path:
    """`target`, made by `make(target)` unless a complete one is there (venvs cannot move, so
    they are made in place; the `.complete` marker says the last attempt finished)."""
    marker = target / ".complete"
    if marker.exists():
        return target
    with _lock(target.parent / f".{target.name}.lock"):
        if not marker.exists():
            shutil.rmtree(target, ignore_errors=True)
            make(target)
            marker.touch()
    return target


def _pip_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _venv_of(python: str, requirement: str, directory: str) -> Path:
    """A venv of CPython `python` holding `requirement` and what it requires, made once."""

    def make(venv: Path) -> None:
        _run([find_python(python), "-m", "venv", str(venv)], f"creating the venv for {requirement}")
        _run(
            [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
            f"installing {requirement}",
            env=_pip_env(),
        )

    return _made_once(CACHE / directory, make)


def stock_pants_venv() -> Path:
    """A venv holding only `pantsbuild.pants==2.17.1` and what it requires: what a user gets
    from `pip install pantsbuild.pants` (no requests, no zstandard)."""
    return _venv_of("3.9", f"pantsbuild.pants=={PANTS_VERSION}", f"stock-pants-{PANTS_VERSION}")


def build_plugin(out: Path) -> Path:
    """The plugin wheel, built from this checkout by ./build-plugin into `out`."""
    _run([str(REPO / "build-plugin"), str(out)], "./build-plugin")
    wheels = sorted(out.glob("pants_oci-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise MissingPart(f"./build-plugin {out} made {wheels}, expected one wheel")
    return wheels[0]


def plugin_version() -> str:
    import pants_oci

    return pants_oci.__version__


def user_repo_toml(find_links: Path, pex: PexCli, extra: str = "") -> str:
    """pants.toml of a repo that installs the plugin the Pants way."""
    return (
        "[GLOBAL]\n"
        f'pants_version = "{PANTS_VERSION}"\n'
        f'plugins = ["pants-oci=={plugin_version()}"]\n'
        'backend_packages = ["pants_oci"]\n'
        'ignore_warnings = ["DEPRECATED: Running Pants in an external Python interpreter"]\n'
        f"{extra}\n"
        "[python-repos]\n"
        f'find_links = ["file://{find_links}"]\n\n'
        f"{pex.toml()}\n"
        "[anonymous-telemetry]\nenabled = false\n"
    )


def write_stock_launcher(root: Path, venv: Path) -> None:
    """`./pants` in a user repo: the stock venv's own `pants` script, nothing of ours."""
    launcher = root / "pants"
    launcher.write_text(f'#!/bin/sh\nexec "{venv}/bin/pants" "$@"\n')
    launcher.chmod(0o755)


# ------------------------------------------------------------------------------- -ldebug


def process_lines(output: str) -> List[str]:
    """The `-ldebug` lines in which Pants shows each process it spawns, whole."""
    return [line for line in output.splitlines() if "spawned local process" in line and "Process {" in line]


def machine_paths(*extra: Path) -> List[str]:
    """Absolute paths that must not reach a cacheable process: home, interpreters, venvs,
    build roots, temp dirs."""
    paths = {
        str(Path.home()),
        sys.prefix,
        sys.executable,
        os.path.realpath(sys.executable),
        str(REPO),
        "/tmp",
        "/root",
        "/home",
        *map(str, extra),
    }
    return sorted(p for p in paths if p not in ("", "/"))


# ------------------------------------------------------------------------------- BuildGrid


def buildgrid_venv() -> Path:
    """BuildGrid (a REAPI server: CAS, ActionCache, ByteStream) from PyPI, on Python 3.13."""
    return _venv_of("3.13", f"buildgrid=={BUILDGRID_VERSION}", f"buildgrid-{BUILDGRID_VERSION}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_BUILDGRID_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: {instance}
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
thread-pool-size: 16
"""


def remote_cache_flags(address: str, instance: str = "oci") -> List[str]:
    """Pants' options for reading and writing a remote cache at `address` (grpc://HOST:PORT)."""
    return [
        "--remote-cache-read",
        "--remote-cache-write",
        f"--remote-store-address={address}",
        f"--remote-instance-name={instance}",
    ]


class BuildGrid:
    """A BuildGrid server on loopback with its CAS on disk under `directory`."""

    instance = "oci"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cas = directory / "cas"
        self.cas.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = directory / "buildgrid.yml"
        config.write_text(_BUILDGRID_CONFIG.format(port=self.port, cas=self.cas, instance=self.instance))
        self.log = directory / "buildgrid.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(buildgrid_venv() / "bin" / "bgd"), "server", "start", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_pip_env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MissingPart(f"BuildGrid exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        self.stop()
        raise MissingPart(
            f"BuildGrid did not listen on 127.0.0.1:{self.port} within 60 s:\n{self.log.read_text()[-3000:]}"
        )

    @property
    def address(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def pants_flags(self) -> List[str]:
        return remote_cache_flags(self.address, self.instance)

    def blob_file(self, digest: str) -> Path:
        """Where the disk storage keeps the blob of `sha256:<hex>`."""
        hexpart = digest.split(":", 1)[-1]
        return self.cas / "cas" / "objects" / hexpart[:2] / hexpart[2:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
