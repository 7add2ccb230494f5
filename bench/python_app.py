"""Python-app benchmark: an app with ~56 MB of wheels from PyPI (numpy, pandas, matplotlib and
what they need) and 200 first-party modules, as an image on a Debian python3 base pushed to a
loopback registry, built two ways side by side in one build root:

  split  `oci_python_app`: requirement layers (one per distribution of 10+ MiB, one for the
         rest, their bytecode compiled at build time) and a code layer
  pex    today's route: the `pex_binary` as one file in an `oci_layer`, run as `python3 X.pex`

    "$(./pants --print-venv)/bin/python" bench/python_app.py             # 3 runs -> docs/benchmarks-python.md
    "$(./pants --print-venv)/bin/python" bench/python_app.py --small     # 1 small run (CI): humanize, 20 modules

Each run uses a fresh build root, local store and pantsd (warmed with `--version`) and a fresh
registry; the pex/pip download cache (Pants' named caches) stays warm across runs, so PyPI is
not timed. Per route: cold `package`, `publish`; a one-line edit of one module then `package`
(wall time, the processes that ran, and the "image work": that time minus the time of the
processes that build a pex or resolve requirements); another one-line edit then `publish`
(blobs and bytes sent, from the push record). Then start-up: the app's first run in each of
`--starts` fresh containers (podman), measured inside the container, for split with each
`compile_bytecode` (requirements, all, none), and the pex (which unpacks itself into PEX_ROOT
on every fresh container).

Needs what tests/integration/test_e2e_python_app.py needs (podman, runc, skopeo, umoci,
docker-registry, debootstrap, root once for the base image) and PyPI.
"""

from __future__ import annotations

import argparse
import datetime
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
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration")]
from _registry import Registry  # noqa: E402  (bench/ is sys.path[0])
from e2e_support import BuildRoot, PantsRun, copy_sources  # noqa: E402
from python_compare import cold_steps, pantsd_cpu_seconds, read_runs, steps_table  # noqa: E402
from python_tools import pex_cli_config, push_python_base  # noqa: E402

REQUIREMENTS = {
    "full": [
        "numpy==1.26.4",
        "pandas==2.2.2",
        "matplotlib==3.8.4",
        "contourpy==1.3.3",
        "cycler==0.12.1",
        "fonttools==4.68.0",
        "kiwisolver==1.5.1",
        "packaging==26.4",
        "pillow==13.0.0",
        "pyparsing==3.3.3",
        "python-dateutil==4.0.0",
        "pytz==2026.6",
        "tzdata==2026.6",
    ],
    "small": ["humanize==4.9.0"],
}
IMPORTS = {"full": ["numpy", "pandas", "matplotlib"], "small": ["humanize"]}
PODMAN_RUN = [
    "podman",
    "--runtime",
    "runc",
    "run",
    "--rm",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]
PEX_PROCESS_PREFIXES = ("Building ", "Resolve the requirements", "Install the requirements", "Find Python interpreter")

PANTS_TOML = """\
[GLOBAL]
pants_version = "2.17.1"
pythonpath = ["%(buildroot)s/../pants-plugins", "%(buildroot)s/../src/python"]
backend_packages = ["pants.backend.python", "pants_oci", "pants_oci.python"]
ignore_warnings = ["DEPRECATED: Running Pants in an external Python interpreter"]

[anonymous-telemetry]
enabled = false

[source]
root_patterns = ["/src/python"]

[python]
interpreter_constraints = ["CPython==3.11.*"]

[python-infer]
use_rust_parser = true
"""

IMAGES_BUILD = """\
oci_python_app(name="app", binary="//src/python/bigapp:bin")  # bytecode: requirements
oci_python_app(name="app_all", binary="//src/python/bigapp:bin", compile_bytecode="all")
oci_python_app(name="app_none", binary="//src/python/bigapp:bin", compile_bytecode="none")
oci_image(name="split", base=env("OCI_PYTHON_BASE"), layers=[":app"], repository="bench/split")
oci_image(name="split_all", base=env("OCI_PYTHON_BASE"), layers=[":app_all"], repository="bench/split-all")
oci_image(name="split_none", base=env("OCI_PYTHON_BASE"), layers=[":app_none"], repository="bench/split-none")

oci_layer(name="pex_layer", dependencies=["//src/python/bigapp:bin"], destination="/app")
oci_image(name="pex", base=env("OCI_PYTHON_BASE"), layers=[":pex_layer"],
          entrypoint=["python3", "/app/src.python.bigapp/bin.pex"], repository="bench/pex")
"""

EDITED = "src/python/bigapp/mod_010.py"
LOAD = "load_average_1m_at_start"
NAMED_CACHES = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pants-oci" / "bench-python-named-caches"
)


def generate_app(root: Path, preset: str, modules: int) -> None:
    (root / "pants.toml").write_text(PANTS_TOML)
    (root / "3rdparty").mkdir(parents=True)
    (root / "3rdparty" / "requirements.txt").write_text("\n".join(REQUIREMENTS[preset]) + "\n")
    (root / "3rdparty" / "BUILD").write_text('python_requirements(name="reqs")\n')
    package = root / "src" / "python" / "bigapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for i in range(modules):
        previous = f"from bigapp import mod_{i - 1:03d}\n" if i % 10 else ""
        (package / f"mod_{i:03d}.py").write_text(
            f'"""Generated module {i}."""\n{previous}\nVALUE = {i}\n\n\n'
            f"def compute(x: int) -> int:\n    return x * {i} + len(__name__)\n"
        )
    third_party = "".join(f"import {name}\n" for name in IMPORTS[preset])
    imports = "".join(f"from bigapp import mod_{i:03d}\n" for i in range(modules))
    versions = ", ".join(f"{n}.__version__" for n in IMPORTS[preset])
    (package / "main.py").write_text(
        f"import sys\n{third_party}{imports}\n\ndef main() -> int:\n"
        f"    total = sum(m.compute(1) for n, m in sys.modules.items() if n.startswith('bigapp.mod_'))\n"
        f"    print('ok', total, {versions})\n    return 0\n"
    )
    (package / "BUILD").write_text(
        'python_sources(name="lib")\npex_binary(name="bin", entry_point="bigapp.main:main")\n'
    )
    (root / "images").mkdir()
    (root / "images" / "BUILD").write_text(IMAGES_BUILD)


def edit(root: Path, n: int) -> None:
    path = root / EDITED
    path.write_text(path.read_text() + f"EDIT_{n} = {n}\n")


def pex_seconds(run: PantsRun) -> float:
    """Seconds spent in processes that build a pex or resolve requirements (Pants' own work)."""
    return sum(
        w["duration_secs"] + w["duration_nanos"] / 1e9
        for w in run.workunits
        if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(PEX_PROCESS_PREFIXES)
    )


def processes(run: PantsRun) -> List[str]:
    return sorted(w.get("description") or "" for w in run.workunits if w.get("name") == "run_local_process")


def ok(run: PantsRun) -> PantsRun:
    if run.returncode != 0:
        raise RuntimeError(run.describe())
    return run


def start_up_ms(root: BuildRoot, image: str, layout: str, command: str, starts: int) -> List[float]:
    """The app's first run in each of `starts` fresh containers, timed inside the container."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src" / "python")}
    name = f"bench/{image}:latest"  # its repository: the name `podman load` gives it
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ocikit",
            "run",
            "--runtime",
            shutil.which("podman") or "podman",
            "--layout",
            str(root.dist(layout)),
            "--name",
            name,
            "--what",
            image,
            "--load-only",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    script = f"s=$(date +%s%N); {command} >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))"
    try:
        return [
            float(
                subprocess.run(
                    [*PODMAN_RUN, "--entrypoint", "/bin/sh", name, "-c", script],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
            )
            for _ in range(starts)
        ]
    finally:
        subprocess.run(["podman", "rmi", "--ignore", name], capture_output=True)


def build_root(base: Path, preset: str, modules: int) -> BuildRoot:
    """A copy of this repo's Pants setup with the generated app as its build root `app/`; its
    named caches (pex's and pip's downloads) are shared by every run, so PyPI is not timed."""
    copy_sources(REPO, base / "repo")
    app = base / "repo" / "app"
    app.mkdir()
    generate_app(app, preset, modules)
    root = BuildRoot(app, base / "state", launcher="../pants")
    root.named_caches = NAMED_CACHES
    NAMED_CACHES.mkdir(parents=True, exist_ok=True)
    return root


def warm_downloads(base: Path, preset: str, modules: int, env: Dict[str, str]) -> None:
    """Build both routes once, untimed, so the runs find every wheel in the named caches."""
    root = build_root(base, preset, modules)
    try:
        ok(root.run("package", "images:split", "images:pex", env=env))
    finally:
        root.stop()


def one_run(
    base: Path,
    preset: str,
    modules: int,
    registry: Registry,
    starts: int,
    cold_only: bool = False,
    pex_first: bool = False,
) -> Dict[str, float]:
    root = build_root(base, preset, modules)
    env = {"PANTS_CONFIG_FILES": f"+['{pex_cli_config()}']", "OCI_PYTHON_BASE": push_python_base(registry.host)}
    flags = f"--oci-registries={{'bench': {{'address': '{registry.host}', 'default': True}}}}"
    res: Dict[str, float] = {LOAD: os.getloadavg()[0], "pex_first": float(pex_first)}
    try:
        warm = NAMED_CACHES / f".warm-{preset}"
        if not warm.exists():
            warm_downloads(base / "warm", preset, modules, env)
            warm.touch()
        ok(root.run("--version", env=env))
        routes = [("split", "images:split"), ("pex", "images:pex")]
        # The first route's resolve also warms pip's cache of PyPI's index pages for the second.
        for route, target in reversed(routes) if pex_first else routes:
            cpu = pantsd_cpu_seconds(root.path)
            cold = ok(root.run("package", target, env=env))
            res[f"{route}_cold"] = cold.seconds
            res[f"{route}_cold_cpu"] = pantsd_cpu_seconds(root.path) - cpu
            if route == "split":
                res.update(cold_steps(cold))
            if cold_only:
                continue
            res[f"{route}_publish_cold"] = ok(root.run("publish", flags, target, env=env)).seconds
            edit(root.path, len(res))
            edited = ok(root.run("package", target, env=env))
            res[f"{route}_edit"] = edited.seconds
            res[f"{route}_edit_image_work"] = edited.seconds - pex_seconds(edited)
            res[f"{route}_edit_processes"] = len(processes(edited))
            print(f"  {route} edit ran: {processes(edited)}", file=sys.stderr)
            edit(root.path, len(res))
            published = ok(root.run("publish", flags, target, env=env))
            stats = json.loads(root.dist(f"images/{route}.publish.json").read_text())["stats"]
            res[f"{route}_edit_publish"] = published.seconds
            res[f"{route}_edit_publish_bytes"] = stats["bytes_uploaded"]
            res[f"{route}_edit_publish_blobs"] = stats["blobs_uploaded"]
        if cold_only:
            return res
        ok(root.run("package", "images:split_all", "images:split_none", env=env))
        layout = json.loads((root.dist("images/split") / "index.json").read_text())
        manifest_digest = layout["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads((root.dist("images/split") / "blobs" / "sha256" / manifest_digest).read_text())
        res["split_code_layer_bytes"] = manifest["layers"][-1]["size"]
        res["split_layers"] = len(manifest["layers"])
        launcher = "python3 -S /app/__main__.py"
        for key, image, layout_dir, command in (
            ("start_split", "split", "images/split", launcher),
            ("start_split_all", "split-all", "images/split_all", launcher),
            ("start_split_none", "split-none", "images/split_none", launcher),
            ("start_pex", "pex", "images/pex", "python3 /app/src.python.bigapp/bin.pex"),
        ):
            res[key] = statistics.median(start_up_ms(root, image, layout_dir, command, starts))
    finally:
        root.stop()
    return res


ROWS = [
    ("split_cold", "split: `package`, cold (fresh store; PyPI downloads cached)", "s"),
    ("pex_cold", "pex: `package`, cold", "s"),
    ("split_cold_cpu", "split: `package`, cold, CPU seconds (pantsd and its processes)", "s"),
    ("pex_cold_cpu", "pex: `package`, cold, CPU seconds", "s"),
    ("split_publish_cold", "split: `publish`, cold (empty registry)", "s"),
    ("pex_publish_cold", "pex: `publish`, cold", "s"),
    ("split_edit", "split: `package` after a one-line edit", "s"),
    ("pex_edit", "pex: `package` after a one-line edit", "s"),
    ("split_edit_image_work", "split: the image work of that edit (minus pex/resolve processes)", "s"),
    ("pex_edit_image_work", "pex: the image work of that edit", "s"),
    ("split_edit_processes", "split: processes run by that edit", "n"),
    ("pex_edit_processes", "pex: processes run by that edit", "n"),
    ("split_edit_publish", "split: `publish` after a one-line edit (includes the rebuild)", "s"),
    ("pex_edit_publish", "pex: `publish` after a one-line edit", "s"),
    ("split_edit_publish_bytes", "split: bytes sent by that publish", "MB"),
    ("pex_edit_publish_bytes", "pex: bytes sent by that publish", "MB"),
    ("split_edit_publish_blobs", "split: blobs sent by that publish", "n"),
    ("pex_edit_publish_blobs", "pex: blobs sent by that publish", "n"),
    ("split_code_layer_bytes", "split: the code layer's size", "MB"),
    ("split_layers", "split: layers in the image (base included)", "n"),
    ("start_split", "start-up in a fresh container, split (requirements compiled at build time: the default)", "ms"),
    ("start_split_all", 'start-up in a fresh container, split, `compile_bytecode="all"` (code too)', "ms"),
    ("start_split_none", 'start-up in a fresh container, split, `compile_bytecode="none"`', "ms"),
    ("start_pex", "start-up in a fresh container, pex (unpacks into PEX_ROOT first)", "ms"),
]


def render(runs: List[Dict[str, float]], args: argparse.Namespace) -> str:
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    fmt = {
        "s": lambda v: f"{v:.2f} s",
        "ms": lambda v: f"{v:.0f} ms",
        "MB": lambda v: f"{v / 1e6:.3f} MB",
        "n": lambda v: f"{v:g}",
    }
    lines = [
        "# Python-app benchmark",
        "",
        f"Generated by `bench/python_app.py` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; machine: "
        f"{os.cpu_count()} CPUs, Linux {os.uname().release}. Workload: {', '.join(REQUIREMENTS[args.preset])} "
        f"and {args.modules} first-party modules; base: Debian bookworm python3 (tests/python_tools.py). "
        f"Medians of {len(runs)} run(s), both routes in the same run; start-up: median of {args.starts} "
        "fresh containers per run. These machines are shared and noisy (±30%); the 1-minute load "
        f"average at the start of each run: {', '.join(f'{r[LOAD]:.1f}' for r in runs)}.",
        "",
        "| measurement | median |",
        "| --- | --- |",
        *(f"| {label} | {fmt[unit](med[key])} |" for key, label, unit in ROWS if key in med),
        "",
        *steps_table(med),
        "| target (issue 12) | met | value |",
        "| --- | --- | --- |",
        f"| image work after an app edit < 1 s | {'yes' if med['split_edit_image_work'] < 1 else 'no'} | "
        f"{med['split_edit_image_work']:.2f} s |",
        f"| bytes sent after an app edit < code layer + 10 KB | "
        f"{'yes' if med['split_edit_publish_bytes'] < med['split_code_layer_bytes'] + 10_000 else 'no'} | "
        f"{med['split_edit_publish_bytes']:.0f} B vs {med['split_code_layer_bytes']:.0f} B + 10 KB |",
        "",
        "| ratio (same runs) | value |",
        "| --- | --- |",
        f"| split / pex, cold package (issue 23: at most 1) | {med['split_cold'] / med['pex_cold']:.2f} |",
        f"| pex / split, edit then package | {med['pex_edit'] / med['split_edit']:.2f} |",
        "| pex / split, bytes sent after an edit | "
        f"{med['pex_edit_publish_bytes'] / med['split_edit_publish_bytes']:.1f} |",
        "| split, start-up without bytecode / with the requirements' | "
        f"{med['start_split_none'] / med['start_split']:.2f} |",
        "| split, start-up with the requirements' bytecode / with all | "
        f"{med['start_split'] / med['start_split_all']:.2f} |",
        f"| pex / split, start-up | {med['start_pex'] / med['start_split']:.2f} |",
        "",
        "Every run:",
        "",
        "```json",
        *(json.dumps(r, sort_keys=True) for r in runs),
        "```",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", action="store_true", help="humanize and 20 modules, 1 run, 2 starts")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--starts", type=int, default=None)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks-python.md"))
    parser.add_argument(
        "--cold-only",
        action="store_true",
        help="only the cold packages (wall and CPU time, the split's steps); writes the runs only",
    )
    parser.add_argument("--pex-first", action="store_true", help="build the pex route first in each run")
    parser.add_argument(
        "--from-runs", nargs="+", metavar="MD", help="render the runs of these bench outputs instead of measuring"
    )
    args = parser.parse_args()
    args.preset, args.modules = ("small", 20) if args.small else ("full", 200)
    args.runs = args.runs or (1 if args.small else 3)
    args.starts = args.starts or (2 if args.small else 5)
    runs = [r for path in args.from_runs or () for r in read_runs(Path(path))]
    if runs:
        args.runs = len(runs)
    with tempfile.TemporaryDirectory(prefix="pants-oci-bench-python-") as tmp:
        for r in range(0 if runs else args.runs):
            registry = Registry(Path(tmp) / f"registry-{r}")
            try:
                started = time.monotonic()
                runs.append(
                    one_run(
                        Path(tmp) / f"run-{r}",
                        args.preset,
                        args.modules,
                        registry,
                        args.starts,
                        args.cold_only,
                        args.pex_first,
                    )
                )
                print(f"run {r + 1}/{args.runs}: {time.monotonic() - started:.0f} s {runs[-1]}", file=sys.stderr)
            finally:
                registry.stop()
    if args.cold_only:  # for bench/python_compare.py
        Path(args.out).write_text("Every run:\n\n" + "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs))
    else:
        Path(args.out).write_text(render(runs, args))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
