"""Promotion of an image by digest between two loopback registries: `ocikit promote` vs.
`skopeo copy --preserve-digests`, and within one registry (ocikit mounts; skopeo copies).

    "$(./pants --print-venv)/bin/python" bench/promote_speed.py --runs 5
    "$(./pants --print-venv)/bin/python" bench/promote_speed.py --runs 5 --layout /tmp/l   # reuse a layout

Writes (or reuses) push_speed.py's layout (default layers ~120, 20 and 2 MB, incompressible),
pushes it once with skopeo to a source registry, then for each run copies it, cold, to a second
registry of its own (empty, on a new port, so that skopeo's blob-info cache knows no copy there
to mount from) and to a new repository of the source registry, interleaving the tools:

  skopeo --policy P copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \\
      docker://SRC/src@DIGEST docker://DST/REPO:t
  python -m ocikit promote SRC/src@DIGEST --dest DST/REPO:t --quiet

Prints every time, the medians, and checks that each destination serves the source's digest.
Needs docker-registry and skopeo on PATH; uses nothing but 127.0.0.1.
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
from typing import Dict, List, Optional

from _registry import Registry  # bench/ is sys.path[0]
from push_speed import POLICY, SRC, write_layout


def _timed(argv: List[str], env: Dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode()}")
    return time.perf_counter() - started


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="copies by each tool and target (default 5)")
    parser.add_argument("--layers-mb", default="120,20,2", help="approximate layer sizes in MB (default 120,20,2)")
    parser.add_argument("--layout", type=Path, help="use (or, if absent, create and keep) the layout at this path")
    args = parser.parse_args(argv)
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="promote-speed-"))
    source: Optional[Registry] = None
    destination: Optional[Registry] = None
    try:
        layout = args.layout or tmp / "layout"
        if (layout / "index.json").exists():
            digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        else:
            digest = write_layout(layout, [int(float(mb) * 1_000_000) for mb in args.layers_mb.split(",")])
        policy = tmp / "policy.json"
        policy.write_text(json.dumps(POLICY))
        skopeo = [
            "skopeo",
            "--policy",
            str(policy),
            "copy",
            "-q",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ]
        source = Registry(tmp / "source")
        subprocess.run([*skopeo, f"oci:{layout}:latest", f"docker://{source.host}/src:t"], check=True)
        src = f"{source.host}/src@{digest}"
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(SRC))
        times: Dict[str, List[float]] = {}
        for run in range(args.runs):
            for name in ("other registry", "same registry"):
                for tool in ("skopeo", "ocikit") if run % 2 == 0 else ("ocikit", "skopeo"):
                    other = name == "other registry"
                    registry = destination = Registry(tmp / f"dest-{run}-{tool}") if other else source
                    repo = f"{tool}-{run}-{name.split()[0]}"
                    dest = f"{registry.host}/{repo}:t"
                    command = (
                        [*skopeo, f"docker://{src}", f"docker://{dest}"]
                        if tool == "skopeo"
                        else [sys.executable, "-m", "ocikit", "promote", src, "--dest", dest, "--quiet"]
                    )
                    seconds = _timed(command, env)
                    assert registry.manifest_digest(repo, "t") == digest, (tool, name)
                    times.setdefault(f"{tool}, {name}", []).append(seconds)
                    if other:
                        destination.stop()
                        destination = None
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in sorted(times.items())))
        print(
            f"medians of {args.runs} (s): "
            + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in sorted(times.items()))
        )
        return 0
    finally:
        for registry in (source, destination):
            if registry is not None:
                registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
