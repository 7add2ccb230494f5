"""Many images in one `pants publish`: N tiny images, and N images sharing one 20 MB layer.

    "$(./pants --print-venv)/bin/python" bench/many_images.py                 # N = 10 and 50, 3 runs
    "$(./pants --print-venv)/bin/python" bench/many_images.py --counts 10 --runs 1 --out /tmp/m.md

Each run and N builds a fresh build root (this repo's Pants setup plus `tiny/` with N images of
one small file each, in N repositories, and `shared/` with N images of one 20 MB random layer
plus a small layer each, in N repositories), with its own local store, warms pantsd, then times
with the native client, from the build root (PWD set, as a shell sets it):

  package cold, package no-op, publish to an empty loopback registry, publish again unchanged;
  the same N layouts copied one after another with `skopeo copy` (what pants-backend-oci's
  publish runs per image, without Pants' own costs), cold and again;
  and, for the tiny images, one `pants publish` run from another directory than the build
  root, where each image is a run of its own (the cost per image before this change).

Bytes sent come from `dist/oci-publish.json` (ours) and the registry's storage. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from _registry import Registry  # bench/ is sys.path[0]

REPO = Path(__file__).resolve().parent.parent
COPY = ["pants", "pants.toml", "BUILD", "requirements-pants.txt", "pants-plugins", "src"]
SHARED_MB = 20


def clean_env(root: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PANTS_")}
    env["PWD"] = str(root)
    return env


def generate(root: Path, n: int) -> None:
    tiny = root / "tiny"
    tiny.mkdir()
    lines = []
    for i in range(n):
        (tiny / f"f{i}.txt").write_text(f"tiny image {i}\n")
        lines.append(f'files(name="f{i}", sources=["f{i}.txt"])\n'
                     f'oci_image(name="t{i}", dependencies=[":f{i}"], repository="tiny/t{i}")')
    (tiny / "BUILD").write_text("\n".join(lines) + "\n")
    shared = root / "shared"
    shared.mkdir()
    (shared / "big.bin").write_bytes(random.Random(5).randbytes(SHARED_MB << 20))
    lines = ['files(name="big_files", sources=["big.bin"])',
             'oci_layer(name="big", dependencies=[":big_files"], destination="/big")']
    for i in range(n):
        (shared / f"own{i}.txt").write_text(f"shared image {i}\n")
        lines.append(f'files(name="own{i}", sources=["own{i}.txt"])\n'
                     f'oci_layer(name="l{i}", dependencies=[":own{i}"], destination="/own")\n'
                     f'oci_image(name="s{i}", layers=[":big", ":l{i}"], repository="shared/s{i}")')
    (shared / "BUILD").write_text("\n".join(lines) + "\n")


def timed(cmd: List[str], cwd: Path, env: Dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds


def sent_bytes(root: Path) -> float:
    record = json.loads((root / "dist" / "oci-publish.json").read_text())
    return sum(e.get("push", {}).get("stats", {}).get("bytes_uploaded", 0) for e in record["images"])


def storage_bytes(registry: Registry) -> int:
    return sum(f.stat().st_size for f in registry.storage.rglob("*") if f.is_file() and f.name == "data")


def one_run(base: Path, r: int, n: int, registry: Registry, policy: Path) -> Dict[str, float]:
    root = base / f"run{r}-n{n}"
    root.mkdir()
    for name in COPY:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    generate(root, n)
    env = clean_env(root)
    flags = ["./pants", f"--local-store-dir={root / '.store'}", f"--named-caches-dir={root / '.named'}",
             f"--oci-registries={{'local': {{'address': '{registry.host}', 'default': True}}}}"]
    res: Dict[str, float] = {}
    try:
        timed(flags + ["--version"], root, env)
        for workload in ("tiny", "shared"):
            spec = f"{workload}::"
            registry.reset()
            res[f"{workload}_package_cold"] = timed(flags + ["package", spec], root, env)
            res[f"{workload}_package_noop"] = timed(flags + ["package", spec], root, env)
            res[f"{workload}_publish_cold"] = timed(flags + ["publish", spec], root, env)
            res[f"{workload}_publish_cold_mb"] = sent_bytes(root) / (1 << 20)
            res[f"{workload}_registry_mb"] = storage_bytes(registry) / (1 << 20)
            res[f"{workload}_publish_noop"] = timed(flags + ["publish", spec], root, env)
            layouts = sorted((root / "dist" / workload).iterdir())
            layouts = [p for p in layouts if p.is_dir()]
            assert len(layouts) == n, layouts
            registry.reset()
            copies = [["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false", f"oci:{p}",
                       f"docker://{registry.host}/skopeo-{workload}/{p.name}:latest"] for p in layouts]
            res[f"{workload}_skopeo_cold"] = sum(timed(c, root, env) for c in copies)
            res[f"{workload}_skopeo_mb"] = storage_bytes(registry) / (1 << 20)
            res[f"{workload}_skopeo_noop"] = sum(timed(c, root, env) for c in copies)
        # Before this change every image paid its own push process: the same happens now when
        # the run cannot be planned as a whole (a command from another directory).
        registry.reset()
        elsewhere = dict(env, PWD=str(base))
        res["tiny_publish_cold_per_image"] = timed(flags + ["publish", "tiny::"], root, elsewhere)
        res["tiny_publish_noop_per_image"] = timed(flags + ["publish", "tiny::"], root, elsewhere)
    finally:
        for pidfile in root.glob(".pids/**/pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), 15)
            except (ValueError, OSError):
                pass
    return res


ROWS = [
    ("package, cold", "{w}_package_cold"),
    ("package, no-op", "{w}_package_noop"),
    ("publish, empty registry", "{w}_publish_cold"),
    ("publish again, nothing changed", "{w}_publish_noop"),
    ("skopeo copy of each layout, empty registry", "{w}_skopeo_cold"),
    ("skopeo copy of each layout again", "{w}_skopeo_noop"),
    ("MiB sent by our publish (run record)", "{w}_publish_cold_mb"),
    ("MiB in the registry after our publish", "{w}_registry_mb"),
    ("MiB in the registry after the skopeo copies", "{w}_skopeo_mb"),
]


def report(results: Dict[int, List[Dict[str, float]]], command: str, started: str) -> str:
    out = [f"# Many images in one publish ({started} UTC)", "", f"`{command}`", "",
           f"{os.cpu_count()} cores; medians of {len(next(iter(results.values())))} runs, wall seconds unless "
           "marked MiB; every row of one N measured in the same run, one after another.", ""]
    for workload, title in (("tiny", "tiny images (one small file each)"),
                            ("shared", f"images sharing one {SHARED_MB} MB layer")):
        out += [f"## {title}", "", "| step | " + " | ".join(f"N = {n}" for n in results) + " |",
                "| --- | " + " | ".join("---" for _ in results) + " |"]
        for label, key in ROWS:
            cells = [f"{statistics.median(r[key.format(w=workload)] for r in runs):.2f}" for runs in results.values()]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["## per-image runs (the command run from another directory: each image a run of its own)", "",
            "| step | " + " | ".join(f"N = {n}" for n in results) + " |",
            "| --- | " + " | ".join("---" for _ in results) + " |"]
    for label, key in (("tiny: publish, empty registry", "tiny_publish_cold_per_image"),
                       ("tiny: publish again, nothing changed", "tiny_publish_noop_per_image")):
        cells = [f"{statistics.median(r[key] for r in runs):.2f}" for runs in results.values()]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "## targets (issue 15), on the medians", ""]
    for n, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out.append(f"- N = {n}: unchanged publish {med['tiny_publish_noop']:.2f} s vs no-op package "
                   f"{med['tiny_package_noop']:.2f} s + 1.5 s: "
                   f"{'met' if med['tiny_publish_noop'] <= med['tiny_package_noop'] + 1.5 else 'NOT met'}; "
                   f"cold publish {med['tiny_publish_cold']:.2f} s (target 5 s at N = 50): "
                   f"{'met' if med['tiny_publish_cold'] <= 5 else 'NOT met'}; "
                   f"shared layer: {med['shared_publish_cold_mb']:.1f} MiB sent for {n} images")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,50", help="comma-separated N (default 10,50)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="docs/benchmarks-many-images.md")
    args = ap.parse_args()
    missing = [t for t in ("skopeo", "docker-registry") if not shutil.which(t)]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)}")
    counts = [int(c) for c in args.counts.split(",")]
    command = f'"$(./pants --print-venv)/bin/python" bench/many_images.py --counts {args.counts} --runs {args.runs}'
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    base = Path(tempfile.mkdtemp(prefix="oci-bench-many-"))
    policy = base / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registry = Registry(base / "registry")
    results: Dict[int, List[Dict[str, float]]] = {n: [] for n in counts}
    try:
        for r in range(args.runs):
            for n in counts:
                t0 = time.monotonic()
                results[n].append(one_run(base, r, n, registry, policy))
                print(f"run {r + 1}/{args.runs}, N = {n}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
                shutil.rmtree(base / f"run{r}-n{n}", ignore_errors=True)
    finally:
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)
    text = report(results, command, started)
    out = Path(args.out)
    out = out if out.is_absolute() else REPO / out
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
