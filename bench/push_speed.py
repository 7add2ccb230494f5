"""Cold push of one OCI layout to a loopback registry: ocikit's bare client vs. skopeo.

    "$(./pants --print-venv)/bin/python" bench/push_speed.py --runs 5
    "$(./pants --print-venv)/bin/python" bench/push_speed.py --runs 9 --layout /tmp/l --baseline-src /tmp/old/src/python

Writes an OCI image layout with gzip layers of incompressible bytes (default ~120, ~20 and
~2 MB, as the issue's 138 MB image), then runs the pushes interleaved (the order rotates from
run to run). Every push is cold: each gets a `docker-registry serve` (Distribution) of its own,
with empty filesystem storage on a free 127.0.0.1 port (a new port, so that skopeo's blob-info
cache knows no location to mount from), started before the clock starts:

  skopeo --policy P copy -q --dest-tls-verify=false oci:LAYOUT:latest docker://HOST/skopeo:t
  python -m ocikit push LAYOUT --dest HOST/ocikit:t --insecure-registry HOST --quiet

(ocikit from this checkout's src/python, with PYTHONDONTWRITEBYTECODE=1 as Pants runs it; with
`--baseline-src DIR` also ocikit from another tree, for a before/after in the same session), and
`python -c "import ocikit.cli, ocikit.registry.cli, ocikit.registry.push"` for the interpreter
start and imports alone. Prints every time, the medians and the ratio ocikit/skopeo, and checks
that every push gave the layout's manifest digest. Cleans up the registries and temporary files.
Needs docker-registry and skopeo on PATH; uses nothing but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from _registry import Registry  # bench/ is sys.path[0]

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "python"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def _blob(layout: Path, data: bytes) -> Dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_layout(layout: Path, layer_bytes: List[int]) -> str:
    """An OCI layout of one image (tag `latest`) whose layers are gzip (level 1) of a tar
    holding one file of random bytes, about `layer_bytes[i]` each. Returns the manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for i, size in enumerate(layer_bytes):
        payload = os.urandom(size)
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as t:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size, info.mode, info.mtime = len(payload), 0o644, 0
            t.addfile(info, io.BytesIO(payload))
        tar_bytes = tar.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        layers.append(
            {"mediaType": OCI_LAYER_GZIP, **_blob(layout, gzip.compress(tar_bytes, compresslevel=1, mtime=0))}
        )
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_desc = _blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config_desc},
        "layers": layers,
    }
    manifest_desc = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, **manifest_desc, "annotations": {"org.opencontainers.image.ref.name": "latest"}}
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return str(manifest_desc["digest"])


def timed(argv: List[str], env: Dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode()}")
    return elapsed


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold pushes of each tool (default 5)")
    parser.add_argument("--layers-mb", default="120,20,2", help="approximate layer sizes in MB (default 120,20,2)")
    parser.add_argument("--jobs", type=int, default=None, help="pass --jobs N to ocikit (default: its own)")
    parser.add_argument("--layout", type=Path, help="use (or, if absent, create and keep) the layout at this path")
    parser.add_argument("--ocikit-arg", action="append", default=[], help="extra argument for ocikit push")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        metavar="DIR",
        help="also time ocikit from another source tree (DIR holds the `ocikit` package, e.g. "
        "a `git worktree` of an older commit's src/python): an A/B in the same session",
    )
    args = parser.parse_args(argv)
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="push-speed-"))
    registries: List[Registry] = []
    try:
        layout = args.layout or tmp / "layout"
        if (layout / "index.json").exists():
            index = json.loads((layout / "index.json").read_text())
            digest = index["manifests"][0]["digest"]
        else:
            sizes = [int(float(mb) * 1_000_000) for mb in args.layers_mb.split(",")]
            started = time.perf_counter()
            digest = write_layout(layout, sizes)
            print(f"wrote {layout} in {time.perf_counter() - started:.1f} s")
        total = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        print(f"layout: {total / 1e6:.1f} MB, manifest {digest}")
        policy = tmp / "policy.json"
        policy.write_text(json.dumps(POLICY))
        # As Pants runs it: nothing cached as bytecode, every module compiled at each start.
        base_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        envs = {"ocikit": dict(base_env, PYTHONPATH=str(SRC))}
        if args.baseline_src:
            envs["baseline"] = dict(base_env, PYTHONPATH=str(args.baseline_src.resolve()))
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        tools = ["skopeo", *envs]
        times: Dict[str, List[float]] = {name: [] for name in tools}
        times.update({f"{name} imports": [] for name in envs})
        for run in range(args.runs):
            order = tools[run % len(tools) :] + tools[: run % len(tools)]
            for tool in order:
                registry = Registry(tmp / f"registry-{tool}-{run}")
                registries.append(registry)
                if tool == "skopeo":
                    argv, env = (
                        [
                            "skopeo",
                            "--policy",
                            str(policy),
                            "copy",
                            "-q",
                            "--dest-tls-verify=false",
                            f"oci:{layout}:latest",
                            f"docker://{registry.host}/{tool}:t",
                        ],
                        base_env,
                    )
                else:
                    argv, env = (
                        [
                            sys.executable,
                            "-m",
                            "ocikit",
                            "push",
                            str(layout),
                            "--dest",
                            f"{registry.host}/{tool}:t",
                            "--insecure-registry",
                            registry.host,
                            "--quiet",
                            *jobs,
                            *args.ocikit_arg,
                        ],
                        envs[tool],
                    )
                times[tool].append(timed(argv, env))
                pushed = registry.manifest_digest(tool, "t")
                if pushed != digest:
                    raise RuntimeError(f"{tool} pushed {pushed}, not the layout's {digest}")
                registry.stop()
                shutil.rmtree(registry.root, ignore_errors=True)
            for name, env in envs.items():
                times[f"{name} imports"].append(
                    timed([sys.executable, "-c", "import ocikit.cli, ocikit.registry.cli, ocikit.registry.push"], env)
                )
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()), flush=True)
        medians = {k: statistics.median(v) for k, v in times.items()}
        print(f"medians of {args.runs} (s): " + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))
        for name in envs:
            print(
                f"ratio {name}/skopeo: {medians[name] / medians['skopeo']:.2f} "
                f"({name} {total / 1e6 / medians[name]:.0f} MB/s, skopeo {total / 1e6 / medians['skopeo']:.0f} MB/s)"
            )
        return 0
    finally:
        for registry in registries:
            registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
