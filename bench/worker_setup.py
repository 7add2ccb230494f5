"""What the setup of the workers' named cache costs when the cache is intact (what every pantsd
start and every `--no-pantsd` run pays), before and after the manifest check, interleaved.

    "$(./pants --print-venv)/bin/python" bench/worker_setup.py [--runs 30] [--before REV] [--pants N]

  before   the setup script at REV (default: the commit before issue 22's manifest): it
           trusted the `.complete` marker
  after    this checkout's: it takes the cache's lock, removes leftovers of killed setups and
           checks every file of the manifest (size, then sha256)

Each runs as Pants runs it (`python -S SCRIPT SPEC`, the core on PYTHONPATH) on a cache it set
up itself from the workers' real packages (requests, zstandard, PyYAML and what they require).
Also timed: the setup with the copy's files evicted from the page cache first
(posix_fadvise DONTNEED: as after a reboot, when the check reads 30 MB from disk), the manifest
check alone (in this process), the import check, and a full build (copy, compile, manifest,
import check), which runs only when the copy is missing or damaged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "pants-plugins"), str(REPO / "src" / "python")]

from ocikit import worker_cache  # noqa: E402
from pants_oci.util_rules import worker_setup  # noqa: E402
from pants_oci.util_rules.core import WORKER_IMPORTS  # noqa: E402
from pants_oci.util_rules.worker_dependencies import worker_dependencies  # noqa: E402

SCRIPT = "pants-plugins/pants_oci/util_rules/worker_setup.py"
BEFORE = "9bea154"


def _box(base: Path, name: str, script: bytes, spec: dict) -> Path:
    box = base / name
    (box / ".ocikit").mkdir(parents=True)
    (box / "setup.py").write_bytes(script)
    (box / "spec.json").write_text(json.dumps(spec))
    return box


def _run(box: Path) -> float:
    env = {"PYTHONPATH": str(REPO / "src" / "python")}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-S", "setup.py", "spec.json"], cwd=box, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def _evict(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _pants_setup_seconds(source: Path, state: Path, runs: int, tag: str):
    sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests")]
    from e2e_support import WORKER_SETUP_DESCRIPTION, BuildRoot

    root = BuildRoot.create(source, state / f"root-{tag}", state / f"state-{tag}", pantsd=False)

    def once() -> float:
        run = root.run("package", "examples/hello:hello")
        assert run.returncode == 0, run.describe()
        (w,) = [
            w
            for w in run.workunits
            if w.get("name") == "process" and w.get("description") == f"Scheduling: {WORKER_SETUP_DESCRIPTION}"
        ]
        return w["duration_secs"] + w["duration_nanos"] / 1e9

    once()
    return once


def _pants(args, base: Path) -> None:
    sources = {"before": base / "src-before", "after": REPO}
    sources["before"].mkdir()
    archive = subprocess.run(["git", "archive", args.before], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(sources["before"])], input=archive, check=True)
    runners = {tag: _pants_setup_seconds(src, base, args.pants, tag) for tag, src in sources.items()}
    times = {tag: [] for tag in runners}
    for _ in range(args.pants):
        for tag, once in runners.items():
            times[tag].append(once())
    print(f"| setup process in `./pants --no-pantsd package` | {_ms(times['before'])} | {_ms(times['after'])} |")


def _ms(values) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--before", default=BEFORE)
    ap.add_argument("--pants", type=int, default=0, metavar="N")
    args = ap.parse_args()
    deps = worker_dependencies()
    spec = {
        "cache": ".ocikit",
        "python": os.path.realpath(sys.executable),
        "directory": deps.directory,
        "files": [[f.source, f.path, f.sha256] for f in deps.files],
        "imports": list(WORKER_IMPORTS),
    }
    old = subprocess.run(["git", "show", f"{args.before}:{SCRIPT}"], cwd=REPO, capture_output=True, check=True).stdout
    base = Path(tempfile.mkdtemp(prefix="oci-worker-setup-"))
    try:
        boxes = {
            "before": _box(base, "before", old, spec),
            "after": _box(base, "after", (REPO / SCRIPT).read_bytes(), spec),
        }
        for box in boxes.values():
            _run(box)  # the first run builds the copy
        times = {name: [] for name in boxes}
        for _ in range(args.runs):
            for name, box in boxes.items():
                times[name].append(_run(box))
        copy = boxes["after"] / ".ocikit" / deps.directory
        files = [p for p in copy.rglob("*") if p.is_file()]
        check, imports, build, cold = [], [], [], []
        for _ in range(max(3, args.runs // 5)):
            _evict(copy)
            cold.append(_run(boxes["after"]))
        for _ in range(args.runs):
            t0 = time.perf_counter()
            assert worker_cache.check(str(copy)) is None
            check.append(time.perf_counter() - t0)
        for _ in range(max(3, args.runs // 5)):
            t0 = time.perf_counter()
            assert worker_setup.import_problem(spec["python"], str(copy), WORKER_IMPORTS) is None
            imports.append(time.perf_counter() - t0)
            shutil.rmtree(copy)
            build.append(_run(boxes["after"]))
        print(f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB in {deps.directory}")
        print("| setup, intact cache | before | after |\n| --- | --- | --- |")
        print(f"| `python -S worker_setup.py SPEC` | {_ms(times['before'])} | {_ms(times['after'])} |")
        print(f"| the same, the copy not in the page cache | - | {_ms(cold)} |")
        if args.pants:
            _pants(args, base)
        print(
            f"\nthe manifest check alone: {_ms(check)}; the import check ({', '.join(WORKER_IMPORTS)}): "
            f"{_ms(imports)}; a full build: {_ms(build)}"
        )
        print(
            f"Medians of {args.runs} interleaved runs (checks: {args.runs}; builds and import checks: "
            f"{len(build)}; Pants runs: {args.pants} of each)."
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
