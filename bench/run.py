"""End-to-end benchmark: `pants package` / `pants publish` of a generated tree vs. reference tools.

    "$(./pants --print-venv)/bin/python" bench/run.py                      # 5000 files / 200 MB, 3 runs
    "$(./pants --print-venv)/bin/python" bench/run.py --small              # 300 files / 10 MB, 1 run (CI)
    "$(./pants --print-venv)/bin/python" bench/run.py --files 2000 --mb 80 --runs 1 --out /tmp/b.md

Each run builds a fresh temporary build root (a copy of this repo's Pants setup plus a generated
`work/` tree with three layers and one image), uses its own `--local-store-dir` and
`--named-caches-dir` (so the cold build starts from an empty store), warms pantsd with
`./pants --version` under the same global flags, and then times:

  package: cold, no-op (native client, and the Python client), after a one-file edit of the app
  layer (plus `local_execution_requests`)
  publish to a loopback Distribution registry: cold (empty registry), unchanged, after an edit
  references on the same `work/` tree: tar | sha256sum, tar | gzip -1, tar | pigz -1,
  tar | zstd -1 -T2, umoci insert (cold, and again after an edit), skopeo copy of our own
  OCI layout to the same registry (cold, unchanged)
  other compressions, each cold in its own empty store: `--oci-compression=zstd`, and
  `--oci-compression=auto` (the registry is loopback, so no compression) with its cold publish

Adoption rows: the cold package served from a remote cache (BuildGrid on loopback, filled by
another store first) into an empty local store, with where its time goes (before the first
cache lookup, the lookups, after them) and Pants' own `archive` of the same files served the
same way, next to the time to fetch the image's layer blobs from that server; and the no-op
and one-file edit with the plugin installed the Pants way (a venv holding only
pantsbuild.pants, `[GLOBAL].plugins` from a find-links directory holding the wheel
./build-plugin makes), next to the same through ./pants.

The cold package also gets a breakdown from Pants' workunit log (time before the first layer
process, the big layer's sandbox setup and run, time after the last layer) next to the same
layer command run alone on the tree, outside Pants.

Once per invocation (before the runs): the peak RSS of the layer command for one --rss-mb file,
and the start-up of the layer and push processes through each runner (bench/worker_start.py).
The report ends with the issue's targets, each marked met / not met on the medians.

Needs: tar gzip pigz zstd sha256sum umoci skopeo docker-registry on PATH. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import worker_start  # bench/ is sys.path[0]
from _adoption_steps import BuildGrid, PluginRoute, plugin_steps, remote_cache_steps
from _probes import layer_peak_rss
from _registry import Registry
from _report import report
from _run_steps import (
    BuildRoot,
    package_steps,
    publish_steps,
    push_reference_steps,
    reference_steps,
    umoci_steps,
    variant_steps,
)
from _single_layer import single_layer_steps
from _workload import (  # noqa: F401  (re-exported: other benchmarks import them from here)
    APP_EDIT_FILE,
    COPY,
    LAYERS_BUILD,
    REPO,
    SEED,
    TARGET,
    generate_workload,
    kill_pantsd,
    make_build_root,
)


def one_run(
    base: Path,
    r: int,
    files: int,
    mb: float,
    registry: Registry,
    policy: Path,
    grid: Optional[BuildGrid] = None,
    plugin: Optional[PluginRoute] = None,
) -> Dict[str, float]:
    """One run in a fresh build root, base/run{r}: every step's numbers, by name (_report.py reads them)."""
    root = make_build_root(base / f"run{r}", files, mb)
    # Other work on the machine moves every number: the 1-minute load average, at the start and
    # the end of the run, goes into the report.
    res: Dict[str, float] = {"loadavg_start": os.getloadavg()[0]}
    b = BuildRoot.open(root, r, registry, policy)
    flags = b.pants_flags(".bench-store")
    try:
        res.update(package_steps(b, flags))
        res.update(publish_steps(b, flags))
        res.update(reference_steps(b))
        res.update(umoci_steps(b))
        res.update(push_reference_steps(b))
        res.update(variant_steps(b))
        res.update(single_layer_steps(root, APP_EDIT_FILE, b.pants_flags, registry, policy))
        if grid is not None:
            res.update(remote_cache_steps(b, grid))
        if plugin is not None:
            res.update(plugin_steps(b, plugin, base / f"run{r}-plugin"))
        res["loadavg_end"] = os.getloadavg()[0]
    finally:
        kill_pantsd(root)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--small", action="store_true", help="300 files / 10 MB, 1 run (for CI)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary build roots")
    ap.add_argument("--rss-mb", type=int, default=1024, help="file size for the layer peak-RSS check (0: skip)")
    ap.add_argument("--start-runs", type=int, default=40, help="runs of each worker start-up measurement")
    args = ap.parse_args()
    if args.small:
        args.files, args.mb, args.runs, args.rss_mb, args.start_runs = 300, 10, 1, 20, 10
    missing = [
        t
        for t in ("tar", "gzip", "pigz", "zstd", "sha256sum", "umoci", "skopeo", "docker-registry")
        if not shutil.which(t)
    ]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)}")
    command = (
        '"$(./pants --print-venv)/bin/python" bench/run.py '
        + ("--small" if args.small else f"--files {args.files} --mb {args.mb:g} --runs {args.runs}")
        + (f" --out {args.out}" if args.out != "docs/benchmarks.md" else "")
    )
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    base = Path(tempfile.mkdtemp(prefix="oci-bench-"))
    policy = base / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registry = Registry(base / "registry")
    runs = []
    rss: Dict[str, float] = {}
    starts: Dict[str, Dict[str, float]] = {}
    grid = None
    try:
        if args.rss_mb:
            rss = layer_peak_rss(base, args.rss_mb)
        registry.reset()
        starts = worker_start.measure(base / "worker-start", registry.host, args.start_runs)
        grid = BuildGrid(base / "buildgrid")
        plugin = PluginRoute(base)
        for r in range(args.runs):
            t0 = time.monotonic()
            runs.append(one_run(base, r, args.files, args.mb, registry, policy, grid, plugin))
            print(f"run {r + 1}/{args.runs} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
            if not args.keep:
                shutil.rmtree(base / f"run{r}", ignore_errors=True)
    finally:
        registry.stop()
        if grid is not None:
            grid.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    text = report(runs, args, command, started, rss, SEED, starts)
    out = Path(args.out)
    if not out.is_absolute():
        out = REPO / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
