"""Helpers for the end-to-end tests: a copied build root running the real `./pants`, the
example images, and scratch BUILD directories. Readers of OCI layouts and of unpacked trees,
and the wrappers around skopeo and umoci, are in `image_checks`.

(Named `e2e_support` rather than `helpers`/`util`: test directories here have no `__init__.py`,
so module basenames must be unique across `tests/`.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from image_checks import Layout

REPO = Path(__file__).resolve().parents[2]

MiB = 1 << 20

# What a build root needs; everything else of the repo (tests, docs, bench) stays out.
COPIED = ("pants", "pants.toml", "BUILD", "requirements-pants.txt", "pants-plugins", "src", "examples")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "dist", ".pants.d", ".pids")

# Pants' own workunit logger (a backend shipped in the Pants wheel) writes every completed
# workunit of a run to a JSON file: it names each process that really ran. Enabled through the
# environment so the copied pants.toml stays byte-identical to the repo's.
WORKUNIT_LOGGER_BACKEND = "pants.backend.experimental.tools.workunit_logger"
LAYER_PROCESS_PREFIX = "Build layer of "
# What the SBOM runs (ocikit.sbom.worker): SHA1s of first-party files, a base layer's packages.
SBOM_PROCESS_PREFIXES = ("Hash the files of ", "Read the Debian packages of layer ", "Write the SBOM of ")
WORKER_SETUP_DESCRIPTION = "Prepare the Python for ocikit processes"

BUSYBOX = Path("/bin/busybox")  # static (busybox-static): runs in a scratch image
# podman on these machines: crun fails on hybrid cgroups, and the default ulimits are refused.
PODMAN_RUN_ARGS = "--oci-run-args=['--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']"


def busybox_layer_build(directory: str) -> str:
    """BUILD lines of an `oci_layer` named `bin`: `directory`'s `bin/busybox` at /bin/busybox,
    with /bin/sh linked to it."""
    return (
        'files(name="busybox", sources=["bin/busybox"])\n'
        f'relocated_files(name="bb", files_targets=[":busybox"], src="{directory}/bin", dest="")\n'
        'oci_layer(name="bin", dependencies=[":bb"], destination="/bin", symlinks={"sh": "busybox"})\n'
    )


_COUNTER_RE = re.compile(r"^\s+([a-z_0-9]+): (\d+)\s*$")
_WROTE_RE = re.compile(r"Wrote dist/(\S+)\n\s+(\S+)@(sha256:[0-9a-f]{64})\n")


def copy_sources(src: Path, dst: Path) -> None:
    """Copy the parts of a repo that a build root needs from `src` to `dst`."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = src / name
        if source.is_dir():
            shutil.copytree(source, dst / name, ignore=_IGNORE, symlinks=True)
        else:
            shutil.copy2(source, dst / name)


def pants_env() -> Dict[str, str]:
    """The environment for `./pants`: the caller's, minus what would leak into the copy.

    `./run-tests` sets PYTHONPATH to the repo's plugin and core: left in, the copied build root
    would import the plugin from the repo instead of from its own copy.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("PANTS_") and k != "PANTS_VENV_DIR")
        and k not in ("PYTHONPATH", "PYTHONHOME", "SOURCE_DATE_EPOCH")
    }
    env["PANTS_BACKEND_PACKAGES"] = f"+['{WORKUNIT_LOGGER_BACKEND}']"
    return env


@dataclass
class PantsRun:
    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    workunits: List[dict]
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    @property
    def counters(self) -> Dict[str, int]:
        """The `--stats-log` counters printed at the end of the run."""
        lines = self.stderr.splitlines()
        start = next((i for i, line in enumerate(lines) if line.endswith("Counters:")), None)
        assert start is not None, f"no `Counters:` in the output\n{self.describe()}"
        counters = {}
        for line in lines[start + 1 :]:
            match = _COUNTER_RE.match(line)
            if not match:
                break
            counters[match.group(1)] = int(match.group(2))
        assert "local_execution_requests" in counters, self.describe()
        return counters

    @property
    def packaged(self) -> Dict[str, Tuple[str, str]]:
        """`{dist-relative layout dir: (repository, printed digest)}` for every image written."""
        return {m.group(1): (m.group(2), m.group(3)) for m in _WROTE_RE.finditer(self.output)}

    @property
    def layer_processes_run(self) -> List[str]:
        """Descriptions of the layer processes that really executed (not cache hits)."""
        return sorted(
            w.get("description") or ""
            for w in self.workunits
            if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(LAYER_PROCESS_PREFIX)
        )

    @property
    def sbom_processes_run(self) -> List[str]:
        """Descriptions of the SBOM's processes that really executed (not cache hits)."""
        return sorted(
            w.get("description") or ""
            for w in self.workunits
            if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(SBOM_PROCESS_PREFIXES)
        )

    @property
    def local_processes_besides_setup(self) -> int:
        """`local_execution_requests` less the setup of the workers' Python (run once per
        pantsd, or in every `--no-pantsd` run)."""
        setups = sum(
            1
            for w in self.workunits
            if w.get("name") == "run_local_process" and w.get("description") == WORKER_SETUP_DESCRIPTION
        )
        return self.counters["local_execution_requests"] - setups

    def layer_process_sources(self) -> Dict[str, str]:
        """`{description: source}` of every layer process requested (`Ran`, `HitLocally`, ...)."""
        out = {}
        for w in self.workunits:
            desc = w.get("description") or ""
            if w.get("name") == "process" and LAYER_PROCESS_PREFIX in desc:
                out[desc.split(": ", 1)[-1]] = (w.get("metadata") or {}).get("source", "")
        return out

    def describe(self) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-60:])
        return f"$ {' '.join(self.argv)}\nexit code {self.returncode}\n{tail}"


class BuildRoot:
    """A copy of the repo under a temp dir, with its own local store, named caches and pantsd."""

    def __init__(self, path: Path, state: Path, pantsd: bool = True, launcher: str = "./pants") -> None:
        self.path = path.resolve()
        self.launcher = launcher  # relative to the root: examples/python runs `../../pants`
        self.state = state  # beside the root, so Pants never globs it
        self.store = state / "lmdb_store"
        self.named_caches = state / "named_caches"
        self.workunit_logs = state / "workunits"
        self.pantsd = pantsd
        self._runs = 0
        for d in (self.store, self.named_caches, self.workunit_logs):
            d.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, source: Path, path: Path, state: Path, pantsd: bool = True) -> "BuildRoot":
        copy_sources(source, path)
        return cls(path, state, pantsd)

    # -- running Pants ---------------------------------------------------------------------

    def run(
        self,
        *args: str,
        timeout: float = 300,
        env: Optional[Dict[str, str]] = None,
        cwd: str = "",
        launcher: Optional[Sequence[str]] = None,
    ) -> PantsRun:
        """`./pants ARGS` in this root. Every run passes the same global options, so pantsd
        is never restarted by an option change (that would also drop its memoized graph).
        `cwd` (relative to the root) and `launcher` (an argv prefix) start it another way."""
        self._runs += 1
        logdir = self.workunit_logs / f"run-{self._runs:03d}"
        logdir.mkdir(parents=True)
        argv = (
            *(launcher or (self.launcher,)),
            "--pantsd" if self.pantsd else "--no-pantsd",
            "--stats-log",
            f"--local-store-dir={self.store}",
            f"--named-caches-dir={self.named_caches}",
            "--workunit-logger-enabled",
            f"--workunit-logger-logdir={logdir}",
            *args,
        )
        started = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=self.path / cwd,
            env={**pants_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.monotonic() - started
        workunits: List[dict] = []
        for log in sorted(logdir.glob("*.json")):
            workunits.extend(json.loads(log.read_text()))
        return PantsRun(argv, proc.returncode, proc.stdout, proc.stderr, workunits, seconds)

    def package(self, *specs: str) -> PantsRun:
        result = self.run("package", *specs)
        assert result.returncode == 0, result.describe()
        return result

    # -- files -----------------------------------------------------------------------------

    def write(self, relpath: str, content: str | bytes, mode: Optional[int] = None) -> Path:
        path = self.path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        if mode is not None:
            path.chmod(mode)
        return path

    def dist(self, relpath: str = "") -> Path:
        return self.path / "dist" / relpath

    # -- pantsd ----------------------------------------------------------------------------

    def _pid_files(self) -> List[Path]:
        return sorted((self.path / ".pids").glob("*/pantsd/pid"))

    def pantsd_pid(self) -> Optional[int]:
        """The pid of this root's live pantsd (from `<root>/.pids/<hash>/pantsd/pid`)."""
        for pid_file in self._pid_files():
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            if self._is_ours(pid):
                return pid
        return None

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return False
        # The root's path, not a longer path it is a prefix of (root vs root2).
        return re.search(re.escape(str(self.path)) + r"(?=[\]\s/]|$)", cmdline) is not None

    def _stray_pids(self) -> List[int]:
        """Processes still running whose command line names this root (pantsd sets its
        title to `pantsd [<root>]`); none of them can belong to anyone else."""
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid() and self._is_ours(int(proc.name)):
                pids.append(int(proc.name))
        return pids

    def stop(self) -> None:
        """Stop this root's pantsd (and anything else still naming this root), by pid."""
        pids = [p for p in [self.pantsd_pid()] if p] + self._stray_pids()
        for pid in dict.fromkeys(pids):
            _terminate(pid, self._is_ours)


def _terminate(pid: int, still_ours, grace: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not still_ours(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -------------------------------------------------------------------------------------------
# The example images
# -------------------------------------------------------------------------------------------

# name -> (layout dir under dist/, repository, tags)
EXAMPLES = {
    "hello": ("examples.hello/hello", "examples/hello", ["latest"]),
    "layered": ("examples.layered/layered", "examples/layered", ["1.0", "latest"]),
    "derived": ("examples.derived/derived", "examples/derived", ["latest"]),
    "multiarch": ("examples.multiarch/multiarch", "examples/multiarch", ["latest"]),
}

# The SBOMs' processes: a read of each base layer (derived's base is layered: three layers), and
# each image's documents. The SHA1s SPDX needs of every file come from the layer processes
# (test_e2e_sbom).
EXAMPLE_SBOM_PROCESSES = sorted(
    ["Read the Debian packages of layer"] * 3 + [f"Write the SBOM of oci_image examples/{n}:{n}" for n in EXAMPLES]
)


def sbom_process_kinds(run: "PantsRun") -> List[str]:
    """The SBOM processes of a run, with a layer read's digest left out (it names a blob)."""
    return sorted(p.split(" sha256:")[0] for p in run.sbom_processes_run)


# One process per layer; the two platforms of multiarch share one.
EXAMPLE_LAYER_PROCESSES = sorted(
    [
        "Build layer of oci_image examples/hello:hello (its `dependencies`)",
        "Build layer of oci_layer examples/layered:deps",
        "Build layer of oci_layer examples/layered:assets",
        "Build layer of oci_layer examples/layered:app",
        "Build layer of oci_layer examples/derived:extra_layer",
        "Build layer of oci_image examples/multiarch:multiarch (its `dependencies`)",
    ]
)


@dataclass
class ExamplesBuild:
    """The first `package examples::` of the session root, with a copy of its dist/ (later
    tests rebuild in that root; this copy stays as the first run wrote it)."""

    run: PantsRun
    dist: Path

    def layout(self, name: str) -> Layout:
        return Layout(self.dist / EXAMPLES[name][0])

    def layout_dir(self, name: str) -> Path:
        return self.dist / EXAMPLES[name][0]

    def printed_digest(self, name: str) -> str:
        return self.run.packaged[EXAMPLES[name][0]][1]


@contextmanager
def scratch_dir(root: BuildRoot, dirname: str, files: Mapping[str, str | bytes]):
    """Write `files` under `root/dirname` (a BUILD file and its inputs) for one test, and
    remove the directory afterwards so later commands in the shared root never parse it."""
    directory = root.path / dirname
    assert not directory.exists(), f"{directory} is left over from another test"
    try:
        for relpath, content in files.items():
            root.write(f"{dirname}/{relpath}", content)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
