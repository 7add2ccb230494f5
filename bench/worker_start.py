"""Start-up of the worker processes (`python -m ocikit layer` and `push`) as Pants runs them,
before and after the portable runner, side by side (interleaved runs, medians).

    "$(./pants --print-venv)/bin/python" bench/worker_start.py [--runs 40]

  launcher venv (before):  VENV/bin/python -m ocikit ...  PYTHONPATH=<core>, the venv's packages
                           (compiled by pip): what every process ran until the runner changed
  named cache (now):       .ocikit/python -S -m ocikit ... PYTHONPATH=<core>:.ocikit/deps-<hash>,
                           the packages copied and compiled once by the setup step
  inputs, no bytecode:     the same packages passed as process inputs (they cannot carry
                           bytecode: marshal output is not reproducible), the alternative design
  shipped (/usr/bin/python3): /usr/bin/python3 -S -m ocikit ... PYTHONPATH=<core>:__ocikit_deps,
                           the packages unpacked from wheels for that Python (fetched with pip,
                           as the rules do for a docker or remote environment), no bytecode

Each command runs in a scratch sandbox-like directory with PYTHONDONTWRITEBYTECODE=1 and
PYTHONHASHSEED=0, as Pants runs it: `layer` builds a one-file gzip layer; `push` pushes a
one-layer layout that the loopback registry already has (a HEAD per blob, a manifest PUT).
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
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "pants-plugins"), str(REPO / "src" / "python")]

from ocikit.contracts.layer import LayerSpec  # noqa: E402
from pants_oci.util_rules import worker_wheels  # noqa: E402
from pants_oci.util_rules.worker_dependencies import worker_dependencies  # noqa: E402
from pants_oci.util_rules.worker_environment import PROBE, WorkerPython, pip_target_args  # noqa: E402

ROUTES = ("launcher venv (before)", "named cache (now)", "inputs, no bytecode", "shipped (/usr/bin/python3)")
SHIPPED_PYTHON = "/usr/bin/python3"


def _shipped_packages(box: Path, distributions) -> None:
    """The workers' packages for SHIPPED_PYTHON, unpacked into box/__ocikit_deps."""
    probe = subprocess.run([SHIPPED_PYTHON, "-S", "-c", PROBE], capture_output=True, text=True, check=True)
    python = WorkerPython.from_probe(SHIPPED_PYTHON, probe.stdout)
    spec = {
        "wheelhouse": str(box / "wheelhouse"),
        "requirements": list(distributions),
        "target": list(pip_target_args(python, "on this machine")),
        "output": str(box / "__ocikit_deps"),
    }
    (box / "wheels.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, worker_wheels.__file__, "wheels.json"], cwd=box, check=True)


def _prepare(base: Path) -> Dict[str, dict]:
    """A directory per route, laid out as a sandbox of that route, and its env and argv[0]."""
    deps = worker_dependencies()
    routes = {}
    for route in ROUTES:
        box = base / route.split()[0]
        shutil.copytree(
            REPO / "src" / "python" / "ocikit",
            box / "__ocikit" / "ocikit",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        env = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
        if route.startswith("launcher"):
            argv0, env["PYTHONPATH"] = [sys.executable], "__ocikit"
        elif route.startswith("shipped"):
            _shipped_packages(box, deps.distributions)
            argv0, env["PYTHONPATH"] = [SHIPPED_PYTHON, "-S"], "__ocikit:__ocikit_deps"
        else:
            cache = box / ".ocikit"
            spec = {
                "cache": ".ocikit",
                "python": os.path.realpath(sys.executable),
                "directory": deps.directory,
                "files": [[f.source, f.path, f.sha256] for f in deps.files],
            }
            cache.mkdir()
            (box / "spec.json").write_text(json.dumps(spec))
            subprocess.run(
                [sys.executable, "-S", str(REPO / "pants-plugins/pants_oci/util_rules/worker_setup.py"), "spec.json"],
                cwd=box,
                check=True,
                env={**env, "PYTHONPATH": "__ocikit"},
            )
            deps_dir = cache / deps.directory
            if route.startswith("inputs"):
                for pycache in list(deps_dir.rglob("__pycache__")):
                    shutil.rmtree(pycache)
            argv0, env["PYTHONPATH"] = [".ocikit/python", "-S"], f"__ocikit:.ocikit/{deps.directory}"
        (box / "files").mkdir()
        (box / "files" / "hello.txt").write_text("hello\n")
        (box / "layer-spec.json").write_bytes(LayerSpec("files", "/", compression="gzip", level=1).dumps())
        routes[route] = {"dir": box, "env": env, "argv0": argv0}
    return routes


def _push_layout(base: Path) -> Path:
    """A one-layer OCI layout, built with the core itself."""
    out = base / "layout-src"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src" / "python"))
    code = (
        "import sys; from pathlib import Path; sys.path[:0] = sys.argv[2:];"
        "from registry_images import write_image; write_image(Path(sys.argv[1]), label='start')"
    )
    # tests/registry for the image writer, tests/ for the helpers it imports.
    helpers = [str(REPO / "tests" / "registry"), str(REPO / "tests")]
    subprocess.run([sys.executable, "-c", code, str(out), *helpers], env=env, check=True)
    return out


def measure(base: Path, registry_host: str, runs: int) -> Dict[str, Dict[str, float]]:
    """{"layer"|"push": {route: median seconds}} over `runs` interleaved runs."""
    routes = _prepare(base)
    layout = _push_layout(base)
    for r in routes.values():
        shutil.copytree(layout, r["dir"] / "layout")
    commands = {
        "layer": ["-m", "ocikit", "layer", "--spec", "layer-spec.json", "--out", "o.blob", "--descriptor", "o.json"],
        "push": [
            "-m",
            "ocikit",
            "push",
            "layout",
            "--dest",
            f"{registry_host}/bench/start:t",
            "--insecure-registry",
            registry_host,
            "--quiet",
        ],
    }
    # The registry holds the image before the timed pushes: each is the unchanged-push path.
    first = routes[ROUTES[0]]
    subprocess.run(first["argv0"] + commands["push"], cwd=first["dir"], env=first["env"], check=True)
    times: Dict[str, Dict[str, List[float]]] = {c: {r: [] for r in routes} for c in commands}
    for _ in range(runs):
        for command, args in commands.items():
            for route, r in routes.items():
                t0 = time.perf_counter()
                subprocess.run(
                    r["argv0"] + args,
                    cwd=r["dir"],
                    env=r["env"],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                times[command][route].append(time.perf_counter() - t0)
    return {c: {r: statistics.median(ts) for r, ts in per.items()} for c, per in times.items()}


def table(result: Dict[str, Dict[str, float]], runs: int) -> List[str]:
    lines = ["| process | " + " | ".join(ROUTES) + " |", "| --- |" + " --- |" * len(ROUTES)]
    for command, per in result.items():
        lines.append(f"| `ocikit {command}` | " + " | ".join(f"{per[r] * 1000:.0f} ms" for r in ROUTES) + " |")
    lines.append("")
    lines.append(f"Medians of {runs} interleaved runs of each command and route.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _registry import Registry

    base = Path(tempfile.mkdtemp(prefix="oci-worker-start-"))
    registry = Registry(base / "registry")
    try:
        registry.reset()
        print("\n".join(table(measure(base, registry.host, args.runs), args.runs)))
    finally:
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
