"""dist/ after failed and interrupted `package` runs, through the real ./pants, checked with skopeo.

What Pants 2.17 does (pants/core/goals/package.py): it builds every package first, then writes
them all with ONE `workspace.write_digest(..., clear_paths=...)`. A failed or interrupted build
therefore never reaches dist/; only that final write is not atomic, and it is Pants' code, not
ours. These tests check that a failure or Ctrl-C while a layer builds leaves dist/ exactly as the
last good run wrote it (same bytes, and not even rewritten: same inodes and mtimes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pytest
from e2e_support import BuildRoot, MiB, pants_env, scratch_dir
from image_checks import Layout, skopeo_inspect

pytestmark = pytest.mark.integration


# -------------------------------------------------------------------------------------------
# dist/ as it is on disk
# -------------------------------------------------------------------------------------------


def dist_state(dist: Path) -> Dict[str, Tuple]:
    """`{path below dist/: (kind, mode, size, sha256)}` of everything in dist/ (dirs included)."""
    out: Dict[str, Tuple] = {}
    for path in sorted(dist.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(dist).as_posix()
        if stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(MiB), b""):
                    h.update(chunk)
            out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_size, h.hexdigest())
        else:
            out[rel] = ("other", stat.S_IMODE(st.st_mode), os.readlink(path) if path.is_symlink() else "")
    return out


def dist_identity(dist: Path) -> Dict[str, Tuple[int, int]]:
    """`{path: (inode, mtime_ns)}` of every file: unchanged only if nothing rewrote them."""
    return {
        p.relative_to(dist).as_posix(): (p.lstat().st_ino, p.lstat().st_mtime_ns)
        for p in sorted(dist.rglob("*"))
        if p.is_file()
    }


def diff_states(before: Dict[str, Tuple], after: Dict[str, Tuple]) -> List[str]:
    problems = []
    for path in sorted(set(before) | set(after)):
        if path not in after:
            problems.append(f"missing: {path}")
        elif path not in before:
            problems.append(f"new: {path}")
        elif before[path] != after[path]:
            problems.append(f"changed: {path}: {before[path]} -> {after[path]}")
    return problems


def assert_complete_layout(layout_dir: Path, tag: str, digest: str) -> None:
    """The layout names `digest` for `tag`, holds exactly the blobs it references (nothing
    missing, nothing left over from another image), and skopeo reads it."""
    layout = Layout(layout_dir)
    assert layout.top()["digest"] == digest
    referenced = layout.referenced_blobs()
    assert sorted(referenced) == layout.stored_blobs(), "the layout holds a mix of blobs"
    for blob, size in referenced.items():
        assert len(layout.blob(blob)) == size  # and it hashes to its name
    assert skopeo_inspect(layout_dir, tag)["Digest"] == digest


def write_random(path: Path, size: int) -> None:
    """`size` bytes never seen before (so no cache holds a layer of them)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n


# -------------------------------------------------------------------------------------------
# 1. A failed `package` keeps the previous output
# -------------------------------------------------------------------------------------------

FAILED = "e2e_dist_failed"

_FAILED_GOOD = f"""
files(name="a", sources=["a.txt"])
oci_layer(name="la", dependencies=[":a"], destination="/a")
oci_image(name="good", layers=[":la"], repository="e2e/dist-good", image_tags=["v1"])

files(name="m", sources=["m.txt"])
files(name="x1", sources=["x1/x.txt"])
files(name="x2", sources=["x2/x.txt"])
relocated_files(name="r1", files_targets=[":x1"], src="{FAILED}/x1", dest="")
relocated_files(name="r2", files_targets=[":x2"], src="{FAILED}/x2", dest="")
"""

# The image `img` as each run defines it: good first, then one way to fail per case.
_IMG_OK = (
    'oci_layer(name="lm", dependencies=[":m", ":r1"], destination="/m")\n'
    'oci_image(name="img", layers=[":lm"], repository="e2e/dist-img", image_tags=["v1"])\n'
)
FAILURES = {
    "two inputs on one path (the layer's rule)": (
        'oci_layer(name="lm", dependencies=[":m", ":r1", ":r2"], destination="/m")\n'
        'oci_image(name="img", layers=[":lm"], repository="e2e/dist-img", image_tags=["v1"])\n',
        f"Two inputs of oci_layer {FAILED}:lm land on the same path /m/x.txt",
    ),
    "a layer without inputs": (
        'oci_layer(name="lm", destination="/m")\n'
        'oci_image(name="img", layers=[":lm"], repository="e2e/dist-img", image_tags=["v1"])\n',
        f"oci_layer {FAILED}:lm has no inputs",
    ),
    "an invalid field": (
        'oci_layer(name="lm", dependencies=[":m", ":r1"], destination="/m")\n'
        'oci_image(name="img", layers=[":lm"], repository="e2e/dist-img", image_tags=["v1"], '
        'workdir="app")\n',
        f"The `workdir` field in target {FAILED}:img has an invalid value 'app'",
    ),
}


def test_a_failed_package_leaves_dist_exactly_as_the_last_good_run_wrote_it(build_root: BuildRoot) -> None:
    files = {
        "BUILD": _FAILED_GOOD + _IMG_OK,
        "a.txt": "a, first version\n",
        "m.txt": "m\n",
        "x1/x.txt": "from x1\n",
        "x2/x.txt": "from x2\n",
    }
    targets = (f"{FAILED}:good", f"{FAILED}:img")
    try:
        with scratch_dir(build_root, FAILED, files) as directory:
            first = build_root.package(*targets)
            digests = {name: first.packaged[f"{FAILED}/{name}"][1] for name in ("good", "img")}
            for name, digest in digests.items():
                assert_complete_layout(build_root.dist(f"{FAILED}/{name}"), "v1", digest)
            before, identity = dist_state(build_root.dist()), dist_identity(build_root.dist())

            # `good` has a new input in every failing run: were anything of the run written,
            # dist/ would show a new `good` next to the old `img` (a mix).
            (directory / "a.txt").write_text("a, second version\n")
            for case, (img_build, message) in FAILURES.items():
                (directory / "BUILD").write_text(_FAILED_GOOD + img_build)
                run = build_root.run("package", *targets)
                assert run.returncode != 0, f"{case}: the build should fail\n{run.describe()}"
                assert message in run.output, f"{case}: unclear error\n{run.describe()}"
                assert "Wrote dist/" not in run.output, run.describe()
                assert "Traceback (most recent call last)" not in run.output, run.describe()
                problems = diff_states(before, dist_state(build_root.dist()))
                assert not problems, f"{case}: dist/ changed:\n" + "\n".join(problems)
                assert dist_identity(build_root.dist()) == identity, f"{case}: dist/ was rewritten"
                for name, digest in digests.items():
                    assert_complete_layout(build_root.dist(f"{FAILED}/{name}"), "v1", digest)

            # The same input change with a valid BUILD is written: the failed runs above really
            # held back a new `good`, and a successful run replaces the layout as a whole.
            (directory / "BUILD").write_text(_FAILED_GOOD + _IMG_OK)
            fixed = build_root.package(*targets)
            new_good = fixed.packaged[f"{FAILED}/good"][1]
            assert new_good != digests["good"]
            assert fixed.packaged[f"{FAILED}/img"][1] == digests["img"]
            assert_complete_layout(build_root.dist(f"{FAILED}/good"), "v1", new_good)
    finally:
        _remove_dist(build_root, FAILED)


def _remove_dist(root: BuildRoot, relpath: str) -> None:
    shutil.rmtree(root.dist(relpath), ignore_errors=True)


# -------------------------------------------------------------------------------------------
# 2. An interrupted `package` keeps the previous output
# -------------------------------------------------------------------------------------------

_INTERRUPT_BUILD = """
files(name="small", sources=["small.txt"])
files(name="data", sources=["data.bin"])
oci_layer(name="base", dependencies=[":small"], destination="/etc/e2e")
oci_layer(name="big", dependencies=[":data"], destination="/data")
oci_image(name="img", layers=[":base", ":big"], repository="e2e/interrupt", image_tags=["v1"])
"""
BIG_LAYER_DESTINATION = "/data"


def _children_map() -> Dict[int, List[int]]:
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(roots: Iterable[int]) -> List[int]:
    children = _children_map()
    out, todo = [], list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _layer_process(ancestors: Sequence[int], destination: str) -> Optional[int]:
    """The pid of a running `python -m ocikit layer` below `ancestors` whose spec (in its
    sandbox, its working directory) builds the layer for `destination`."""
    for pid in _descendants(ancestors):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ocikit" not in argv or b"layer" not in argv:
            continue
        try:
            spec = json.loads(Path(f"/proc/{pid}/cwd/layer-spec.json").read_text())
        except (OSError, ValueError):
            continue
        if spec.get("destination") == destination and _running(pid):
            return pid
    return None


@dataclass
class Interruption:
    returncode: int
    output: str
    layer_pid: Optional[int]
    landed: bool  # the interruption happened while the layer process ran
    seconds_to_layer: float

    def describe(self) -> str:
        text = self.output.split("[INFO] Counters:")[0]  # the --stats-log block says nothing here
        tail = "\n".join(text.strip().splitlines()[-40:])
        return (
            f"exit code {self.returncode}, layer pid {self.layer_pid} found after "
            f"{self.seconds_to_layer:.1f} s, interrupted while it ran: {self.landed}\n{tail}"
        )


def interrupt_package(root: BuildRoot, target: str, *, pantsd: bool, how: str, timeout: float = 300) -> Interruption:
    """Start `./pants package TARGET` in its own process group (as a shell runs a foreground
    job), wait until the layer process for BIG_LAYER_DESTINATION runs, then interrupt:
    `ctrl-c` sends SIGINT to the group (what a terminal's Ctrl-C does); `layer-killed` sends
    SIGKILL to the layer process alone (a crash or the OOM killer)."""
    logdir = root.workunit_logs / f"interrupt-{uuid.uuid4().hex[:8]}"
    logdir.mkdir(parents=True)
    # The same global options as BuildRoot.run, so the session's pantsd is not restarted.
    argv = [
        "./pants",
        "--pantsd" if pantsd else "--no-pantsd",
        "--stats-log",
        f"--local-store-dir={root.store}",
        f"--named-caches-dir={root.named_caches}",
        "--workunit-logger-enabled",
        f"--workunit-logger-logdir={logdir}",
        "package",
        target,
    ]
    out_path = logdir / "output.txt"
    started = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=root.path,
            env=pants_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    layer: Optional[int] = None
    landed = False
    try:
        deadline = started + timeout
        while layer is None and proc.poll() is None and time.monotonic() < deadline:
            ancestors = [proc.pid]
            daemon = root.pantsd_pid() if pantsd else None
            if daemon:
                ancestors.append(daemon)
            layer = _layer_process(ancestors, BIG_LAYER_DESTINATION)
            if layer is None:
                time.sleep(0.02)
        seconds_to_layer = time.monotonic() - started
        if layer is not None:
            if how == "ctrl-c":
                os.killpg(proc.pid, signal.SIGINT)
                # Still running after the signal was sent: Pants got it mid-layer, long before
                # it could reach dist/.
                landed = _running(layer)
            elif how == "layer-killed":
                landed = _running(layer)
                os.kill(layer, signal.SIGKILL)
            else:
                raise ValueError(how)
        try:
            returncode = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"./pants did not exit within 120 s of the interruption ({how})") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    output = out_path.read_text(errors="replace")
    return Interruption(returncode, output, layer, landed, seconds_to_layer)


@pytest.mark.parametrize(
    "how, pantsd",
    [("ctrl-c", False), ("ctrl-c", True), ("layer-killed", True)],
    ids=["ctrl-c-no-pantsd", "ctrl-c-pantsd", "layer-process-killed"],
)
def test_an_interrupted_package_leaves_dist_exactly_as_the_last_good_run_wrote_it(
    build_root: BuildRoot, how: str, pantsd: bool
) -> None:
    d = f"e2e_interrupt_{how.replace('-', '_')}_{'pantsd' if pantsd else 'nopantsd'}"
    target = f"{d}:img"
    files = {"BUILD": _INTERRUPT_BUILD, "small.txt": "small\n", "data.bin": b"first, small\n"}
    try:
        with scratch_dir(build_root, d, files) as directory:
            first = build_root.package(target)
            digest = first.packaged[f"{d}/img"][1]
            layout_dir = build_root.dist(f"{d}/img")
            assert_complete_layout(layout_dir, "v1", digest)
            before, identity = dist_state(build_root.dist()), dist_identity(build_root.dist())
            daemon_before = build_root.pantsd_pid()

            # A big input, new every attempt, so the layer process runs long enough to be caught
            # running; if the run still got past it, try again with twice the data.
            size = 128 * MiB
            attempts: List[str] = []
            for _ in range(3):
                write_random(directory / "data.bin", size)
                result = interrupt_package(build_root, target, pantsd=pantsd, how=how)
                attempts.append(f"{size // MiB} MiB: {result.describe()}")
                if result.layer_pid is not None and result.landed and result.returncode != 0:
                    break
                assert result.returncode == 0 or result.layer_pid is not None, (
                    "./pants failed before the layer process ran:\n" + attempts[-1]
                )
                # The run finished before the interruption: nothing was tested. Restore the
                # previous good output's state and try with a bigger layer.
                build_root.write(f"{d}/data.bin", b"first, small\n")
                build_root.package(target)
                before, identity = dist_state(build_root.dist()), dist_identity(build_root.dist())
                size *= 2
            else:
                pytest.fail("could not interrupt the layer process while it ran:\n" + "\n\n".join(attempts))

            assert result.returncode != 0, result.describe()
            assert "Wrote dist/" not in result.output, result.describe()
            assert "Traceback (most recent call last)" not in result.output, result.describe()
            if how == "ctrl-c":
                assert "Interrupted by user." in result.output, result.describe()
            else:
                assert f"Process 'Build layer of oci_layer {d}:big' failed with exit code -9." in result.output, (
                    result.describe()
                )
            problems = diff_states(before, dist_state(build_root.dist()))
            assert not problems, "dist/ changed:\n" + "\n".join(problems)
            assert dist_identity(build_root.dist()) == identity, "dist/ was rewritten"
            assert_complete_layout(layout_dir, "v1", digest)

            # Pants stops the layer process (it runs in a process group of its own, so a
            # terminal's Ctrl-C does not reach it directly): nothing keeps running.
            deadline = time.monotonic() + 10
            while result.layer_pid and _running(result.layer_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not (result.layer_pid and _running(result.layer_pid)), "the layer process outlived ./pants"
            if pantsd:
                assert build_root.pantsd_pid() == daemon_before, "the interruption cost the pantsd"

            if how == "layer-killed":
                # The failure was not cached: the next run builds the layer and replaces the
                # layout as a whole (no blob of the previous image left in it).
                rerun = build_root.package(target)
                assert [p for p in rerun.layer_processes_run if p.endswith(f"{d}:big")], rerun.describe()
                new_digest = rerun.packaged[f"{d}/img"][1]
                assert new_digest != digest
                assert_complete_layout(layout_dir, "v1", new_digest)
    finally:
        _remove_dist(build_root, d)
