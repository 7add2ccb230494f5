"""Python runtime base benchmark: examples/python's `images:python-base` (bookworm's python3,
ca-certificates and tzdata with their closure, 45 packages, from its committed lockfile) built by
Pants, side by side with debootstrap + umoci repack of the same request.

    "$(./pants --print-venv)/bin/python" bench/debian_base.py               # 3 runs
    "$(./pants --print-venv)/bin/python" bench/debian_base.py --debootstrap # + debootstrap (root, ~2.5 min)

Each run: a fresh copy of the repo, a fresh local store and named caches (so the workers'
Python setup, every .deb fetch and every layer run), pantsd started first with `--version`
(not timed: starting Pants is not image work). The .debs come from a loopback mirror of exactly
the locked files (tests/debian_archive.py, filled once per machine from the archive apt uses),
so the archive's network is not timed. Measured, as wall time of `pants package
images:python-base`:

  cold   lockfile present, empty caches
  no-op  the same command again (and the processes it ran: 0 expected)
  bump   one small package (media-types, in the shared "small packages" layer) bumped: a
         rebuilt .deb with another version in the mirror and its lockfile line edited; the
         image work is the layer process's time (`bump_layer_process_s`): the rest is Pants
         reading the edited lockfile, fetching the one .deb and writing the layout

debootstrap: `debootstrap --variant=minbase --include=python3,ca-certificates,tzdata bookworm`
from the archive apt uses (it also installs the essential and required set, which
oci_debian_packages leaves out), then `umoci init/new/insert`: the route the tests used.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration"), str(REPO / "src" / "python")]
from debian_archive import mirrored_lockfile, rebuilt_deb, served  # noqa: E402
from e2e_support import BuildRoot, PantsRun, copy_sources  # noqa: E402
from python_tools import _debian_mirror, require  # noqa: E402

from ocikit.debian.lockfile import DebianLock, format_lockfile, new_target_lock, parse_lockfile  # noqa: E402

LOCKFILE = "3rdparty/oci/debian-packages.lock.yaml"
TARGET = "images:python-base"
BUMPED = "media-types"


def ok(run: PantsRun) -> PantsRun:
    assert run.returncode == 0, run.describe()
    return run


def bump(root: BuildRoot, mirror: Path, work: Path) -> None:
    """Put a rebuilt BUMPED with a new version in the mirror and point the lockfile at it."""
    lockfile = root.path / LOCKFILE
    lock = parse_lockfile(lockfile.read_bytes(), str(lockfile))
    (target,) = lock.targets
    ((arch, debs),) = target.architectures
    old = next(d for d in debs if d.name == BUMPED)
    deb = rebuilt_deb(mirror / old.path, old.version + "+bench1", work)
    path = str(Path(old.path).parent / deb.name)
    shutil.copyfile(deb, mirror / path)
    data = deb.read_bytes()
    new = dataclasses.replace(
        old, version=old.version + "+bench1", path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    bumped = new_target_lock(
        target.target, target.suite, target.requested, [(arch, [new if d is old else d for d in debs])]
    )
    regenerate = lockfile.read_text().splitlines()[3].split("Regenerate: ", 1)[1]
    lockfile.write_bytes(format_lockfile(DebianLock((bumped,)), regenerate))


def process_seconds(run: PantsRun, prefix: str) -> float:
    """Seconds spent in the processes whose description starts with `prefix` (that really ran)."""
    return sum(
        w["duration_secs"] + w["duration_nanos"] / 1e9
        for w in run.workunits
        if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(prefix)
    )


def one_run(base: Path, mirror: Path, url: str) -> Dict[str, float]:
    copy_sources(REPO, base / "repo")
    root = BuildRoot(base / "repo" / "examples" / "python", base / "state", launcher="../../pants")
    env = {"PANTS_OCI_DEBIAN_ARCHIVE": url}
    try:
        ok(root.run("--version", env=env))
        cold = ok(root.run("package", TARGET, env=env))
        noop = ok(root.run("package", TARGET, env=env))
        bump(root, mirror, base)
        bumped = ok(root.run("package", TARGET, env=env))
    finally:
        root.stop()
    return {
        "cold_s": cold.seconds,
        "cold_processes": cold.counters["local_execution_requests"],
        "noop_s": noop.seconds,
        "noop_processes": noop.local_processes_besides_setup,
        "cold_fetch_process_s": process_seconds(cold, "Fetch "),
        "cold_layer_process_s": process_seconds(cold, "Build layer of "),
        "bump_s": bumped.seconds,
        "bump_layer_process_s": process_seconds(bumped, "Build layer of "),
        "bump_layer_processes": len(bumped.layer_processes_run),
        "bump_processes": bumped.local_processes_besides_setup,
    }


def debootstrap_run(base: Path) -> float:
    debootstrap, umoci = require("debootstrap", "debootstrap"), require("umoci", "umoci")
    started = time.monotonic()
    rootfs, layout = base / "rootfs", base / "layout"
    subprocess.run(
        [
            debootstrap,
            "--variant=minbase",
            "--include=python3,ca-certificates,tzdata",
            "bookworm",
            str(rootfs),
            _debian_mirror(),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run([umoci, "init", "--layout", str(layout)], check=True)
    subprocess.run([umoci, "new", "--image", f"{layout}:base"], check=True)
    subprocess.run([umoci, "insert", "--image", f"{layout}:base", str(rootfs), "/"], check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--debootstrap", action="store_true", help="also time debootstrap + umoci (root)")
    args = parser.parse_args()
    runs: List[Dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-debian-") as tmp:
        mirror = mirrored_lockfile(REPO / "examples/python" / LOCKFILE, Path(tmp) / "mirror")
        with served(mirror) as url:
            for n in range(args.runs):
                runs.append(one_run(Path(tmp) / f"run-{n}", mirror, url))
                print(f"run {n + 1}: {runs[-1]}", flush=True)
        deboot = debootstrap_run(Path(tmp) / "debootstrap") if args.debootstrap else None
    if runs:
        print(f"\nMedians of {len(runs)} run(s) of `pants package {TARGET}` (examples/python):")
        for key in runs[0]:
            print(f"  {key:22} {statistics.median(r[key] for r in runs):8.2f}")
    if deboot is not None:
        print(f"  {'debootstrap+umoci_s':22} {deboot:8.2f}  (one run)")


if __name__ == "__main__":
    main()
