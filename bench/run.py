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
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from _breakdown import cold_breakdown, remote_breakdown
from _registry import Registry  # bench/ is sys.path[0]
from _report import report
from _shell import clean_env, counter, sh, timed
from _single_layer import SINGLE_BUILD, single_layer_steps

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / "tests" / "adoption"))
import adoption_support as adoption  # noqa: E402  (stock venv, pex CLI, wheel, BuildGrid)
import worker_start  # noqa: E402  (also puts src/python on sys.path)

from ocikit.contracts.layer import LayerSpec  # noqa: E402

COPY = ["pants", "pants.toml", "BUILD", "requirements-pants.txt", "pants-plugins", "src"]
TARGET = "work:bench"
ARCHIVE_TARGET = "work:archive"
SEED = 20240601
WORKUNIT_LOGGER = "pants.backend.experimental.tools.workunit_logger"  # ships in the Pants wheel

# The generated tree's three layers (bench/scale.py builds other images on them).
LAYERS_BUILD = """\
files(name="deps_files", sources=["deps/**/*"])
files(name="assets_files", sources=["assets/**/*"])
files(name="app_files", sources=["app/**/*"])

oci_layer(name="deps", dependencies=[":deps_files"], destination="/opt")
oci_layer(name="assets", dependencies=[":assets_files"], destination="/srv")
oci_layer(name="app", dependencies=[":app_files"], destination="/app", owner="1000:1000")
"""

WORK_BUILD = (
    LAYERS_BUILD
    + """
oci_image(
    name="bench",
    layers=[":deps", ":assets", ":app"],
    repository="bench/work",
    image_tags=["latest"],
)

# Pants' own packaging of the same files, for the remote-cache rows: its snapshot of the
# inputs and its process served from the same cache.
archive(name="archive", files=[":deps_files", ":assets_files", ":app_files"], format="tar.gz")
"""
)

# ----------------------------------------------------------------------------- workload


def _text_pool(rng: random.Random, size: int) -> bytes:
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(2000)]
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def generate_workload(work: Path, files: int, mb: float, seed: int = SEED) -> Dict[str, int]:
    """Deterministic tree: deps ~80% of bytes, assets ~18%, app ~2%. Most files are small
    compressible text; ~2% of each group's files are large random blobs holding ~60% of its bytes."""
    rng = random.Random(seed)
    pool = _text_pool(rng, 1 << 20)
    total = int(mb * 1024 * 1024)
    groups = [("deps", 0.60, 0.80), ("assets", 0.30, 0.18), ("app", 0.10, 0.02)]
    counts = {}
    for name, file_share, byte_share in groups:
        nfiles = max(3, int(files * file_share))
        nbytes = int(total * byte_share)
        nlarge = max(1, nfiles // 50) if name != "app" else 0
        large_bytes = int(nbytes * 0.6) if nlarge else 0
        small_each = max(64, (nbytes - large_bytes) // max(1, nfiles - nlarge))
        for i in range(nfiles):
            d = work / name / f"d{i % 17:02d}" / f"e{(i // 17) % 7}"
            d.mkdir(parents=True, exist_ok=True)
            if i < nlarge:
                (d / f"blob{i:05d}.bin").write_bytes(rng.randbytes(large_bytes // nlarge))
            else:
                size = max(32, int(small_each * rng.uniform(0.3, 1.7)))
                off = rng.randrange(0, len(pool) - 1)
                chunk = (pool[off:] + pool)[:size]
                header = f"# {name} file {i}\n".encode()
                (d / f"f{i:05d}.txt").write_bytes(header + chunk)
        counts[name] = nfiles
    (work / "BUILD").write_text(WORK_BUILD + SINGLE_BUILD)
    return counts


APP_EDIT_FILE = "app/d00/e0/f00000.txt"

# ----------------------------------------------------------------------------- helpers


def kill_pantsd(root: Path) -> None:
    for pidfile in glob.glob(str(root / ".pids" / "**" / "pid"), recursive=True):
        try:
            pid = int(Path(pidfile).read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError, OSError):
            pass


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------- one run


class PluginRoute:
    """What a user of the installed plugin has: a venv with only pantsbuild.pants, the wheel in
    a find-links directory, the pex CLI, and Pants' native client in front (as scie-pants)."""

    def __init__(self, base: Path) -> None:
        self.venv = adoption.stock_pants_venv()
        self.pex = adoption.pex_cli()
        self.find_links = base / "find-links"
        adoption.build_plugin(self.find_links)
        shipped = self.venv / "lib/python3.9/site-packages/pants/bin/native_client"
        self.native = base / "pants-native-client"
        shutil.copy(shipped, self.native)
        self.native.chmod(0o755)

    def make_root(self, root: Path, work: Path) -> None:
        root.mkdir()
        shutil.copytree(work, root / "work")
        (root / "pants.toml").write_text(adoption.user_repo_toml(self.find_links, self.pex))
        launcher = root / "pants"
        launcher.write_text(
            "#!/bin/sh\n"
            f'[ -n "$PANTS_NO_NATIVE_CLIENT" ] && exec "{self.venv}/bin/pants" "$@"\n'
            f'_PANTS_SERVER_EXE="{self.venv}/bin/pants" exec "{self.native}" "$@"\n'
        )
        launcher.chmod(0o755)


def _workunits(directory: Path, logged: set) -> List[dict]:
    """The workunits of the commands run since `logged` was listed from `directory`."""
    return [w for f in sorted(set(directory.glob("*.json")) - logged) for w in json.loads(f.read_text())]


def fetch_seconds(grid, layout: Path) -> float:
    """Seconds to read every layer blob of `layout` from the cache server, one after another."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    blobs = [[layer["digest"].split(":")[1], layer["size"]] for layer in manifest["layers"]]
    python = adoption.buildgrid_venv() / "bin" / "python"
    out = sh(
        [str(python), str(REPO / "bench" / "_cas_fetch.py"), grid.address, grid.instance, json.dumps(blobs)],
        REPO,
        env=clean_env(),
    ).stdout
    return json.loads(out)["seconds"]


def one_run(
    base: Path,
    r: int,
    files: int,
    mb: float,
    registry: Registry,
    policy: Path,
    grid=None,
    plugin: Optional[PluginRoute] = None,
) -> Dict[str, float]:
    root = base / f"run{r}"
    root.mkdir()
    for name in COPY:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    shutil.rmtree(root / "pants-plugins" / "__pycache__", ignore_errors=True)
    generate_workload(root / "work", files, mb)
    # Other work on the machine moves every number: the 1-minute load average, at the start and
    # the end of the run, goes into the report.
    res: Dict[str, float] = {"loadavg_start": os.getloadavg()[0]}
    work = root / "work"
    edit = work / APP_EDIT_FILE
    original = edit.read_bytes()

    workunits = root / ".bench-workunits"
    workunits.mkdir()

    def pants_flags(store: str, *extra: str, named: Optional[str] = None) -> List[str]:
        return [
            "./pants",
            f"--local-store-dir={root / store}",
            f"--named-caches-dir={root / ((named or store) + '-named')}",
            "--stats-log",
            f"--oci-registries={{'local': {{'address': '{registry.host}', 'default': True}}}}",
            # Pants' own workunit logger: the timeline of the cold build (see cold_breakdown).
            f"--backend-packages=+['{WORKUNIT_LOGGER}']",
            "--workunit-logger-enabled",
            f"--workunit-logger-logdir={workunits}",
            "--streaming-workunits-level=debug",
            *extra,
        ]

    flags = pants_flags(".bench-store")
    package = flags + ["package", TARGET]
    publish = flags + ["publish", TARGET]
    try:
        registry.reset()
        sh(flags + ["--version"], root)  # starts pantsd with these exact global flags
        os.sync()  # no writeback of the generated tree during the timed build
        logged = set(workunits.glob("*.json"))
        res["package_cold"], _ = timed(package, root)
        breakdown = cold_breakdown(_workunits(workunits, logged))
        if not breakdown:
            raise RuntimeError(f"no workunits of the cold package's layer processes in {workunits}")
        res.update(breakdown)
        res["package_noop"], _ = timed(package, root)
        # The same no-op through Pants' Python client, which a launcher that execs `pants` from
        # the venv uses; ./pants and scie-pants use the native client.
        res["package_noop_python_client"], _ = timed(package, root, env=dict(clean_env(), PANTS_NO_NATIVE_CLIENT="1"))
        edit.write_bytes(original + f"edit package {r}\n".encode())
        res["package_edit"], p = timed(package, root)
        res["package_edit_procs"] = counter(p.stderr, "local_execution_requests") or 0
        edit.write_bytes(original)
        sh(package, root)

        layout = root / "dist" / TARGET.replace(":", "/")
        res["image_bytes"] = dir_bytes(layout / "blobs")

        def published_bytes(proc) -> float:
            record = root / "dist" / (TARGET.replace(":", "/") + ".publish.json")
            if record.exists():
                return json.loads(record.read_text())["stats"]["bytes_uploaded"]
            return float("nan")  # no record: the push summary line only has rounded units

        res["publish_cold"], p = timed(publish, root)
        res["publish_cold_bytes"] = published_bytes(p)
        res["publish_noop"], p = timed(publish, root)
        res["publish_noop_bytes"] = published_bytes(p)
        edit.write_bytes(original + f"edit publish {r}\n".encode())
        res["publish_edit"], p = timed(publish, root)
        res["publish_edit_bytes"] = published_bytes(p)
        edit.write_bytes(original)

        # references on the same tree
        os.sync()
        res["tar_sha256"], _ = timed("tar -cf - work | sha256sum", root)
        res["tar_gzip1"], _ = timed("tar -cf - work | gzip -1 | sha256sum", root)
        res["tar_pigz1"], _ = timed("tar -cf - work | pigz -1 | sha256sum", root)
        res["tar_zstd1"], _ = timed("tar -cf - work | zstd -1 -T2 -q | sha256sum", root)
        res["tar_bytes"] = int(sh("tar -cf - work | wc -c", root).stdout.split()[0])
        res["deps_layer_alone"] = layer_alone(root, work / "deps")
        res["create_3000_tmp"] = file_creation_seconds(tempfile.gettempdir())
        if os.path.isdir("/dev/shm"):
            res["create_3000_shm"] = file_creation_seconds("/dev/shm")
        if os.path.isdir("/var/tmp"):
            res["create_3000_var_tmp"] = file_creation_seconds("/var/tmp")
        res["tar_gzip1_bytes"] = int(sh("tar -cf - work | gzip -1 | wc -c", root).stdout.split()[0])

        umoci_layout = root / "umoci-layout"
        sh(["umoci", "init", "--layout", str(umoci_layout)], root)
        sh(["umoci", "new", "--image", f"{umoci_layout}:t"], root)
        res["umoci_cold"], _ = timed(["umoci", "insert", "--image", f"{umoci_layout}:t", "work", "/work"], root)
        edit.write_bytes(original + f"edit umoci {r}\n".encode())
        res["umoci_edit"], _ = timed(["umoci", "insert", "--image", f"{umoci_layout}:t", "work", "/work"], root)
        edit.write_bytes(original)

        registry.reset()
        tag = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"][
            "org.opencontainers.image.ref.name"
        ]
        skopeo = [
            "skopeo",
            "--policy",
            str(policy),
            "copy",
            "-q",
            "--dest-tls-verify=false",
            f"oci:{layout}:{tag}",
            f"docker://{registry.host}/skopeo/work:t",
        ]
        res["skopeo_cold"], _ = timed(skopeo, root)
        res["skopeo_noop"], _ = timed(skopeo, root)
        # The same layout with our client alone (what `pants publish` runs), to a fresh registry,
        # as Pants runs it: no bytecode written.
        registry.reset()
        client_env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"), PYTHONDONTWRITEBYTECODE="1")
        ocikit_push = [
            sys.executable,
            "-m",
            "ocikit",
            "push",
            str(layout),
            "--dest",
            f"{registry.host}/ocikit/work:t",
            "--insecure-registry",
            registry.host,
            "--quiet",
        ]
        res["client_cold"], _ = timed(ocikit_push, root, env=client_env)
        res["client_noop"], _ = timed(ocikit_push, root, env=client_env)

        # Other compressions, each cold: its own empty store (a new store dir restarts pantsd,
        # which `--version` warms first, as above).
        # tmpfs: the sandboxes on /dev/shm instead of /tmp (this VM's ext4 takes ~0.6 ms to
        # create a file, and a cold build creates one per input file in its layer's sandbox).
        shm = (
            Path(tempfile.mkdtemp(prefix="oci-bench-sandboxes-", dir="/dev/shm")) if os.path.isdir("/dev/shm") else None
        )
        variants = [
            ("zstd", "--oci-compression=zstd"),
            ("auto", "--oci-compression=auto"),
            ("unsharded", "--oci-shard-size=off"),
        ]
        if shm is not None:
            variants.append(("tmpfs", f"--local-execution-root-dir={shm}"))
        for name, extra in variants:
            other = pants_flags(f".bench-store-{name}", extra)
            sh(other + ["--version"], root)
            os.sync()
            res[f"package_cold_{name}"], _ = timed(other + ["package", TARGET], root)
            if name in ("auto", "unsharded"):  # auto: the registry is loopback, so no compression
                registry.reset()
                res[f"publish_cold_{name}"], p = timed(other + ["publish", TARGET], root)
                res[f"publish_cold_{name}_bytes"] = published_bytes(p)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)

        res.update(single_layer_steps(root, APP_EDIT_FILE, pants_flags, registry, policy))

        # A remote cache: one store fills it (untimed), then an empty local store reads it, as
        # a fresh CI runner does (named caches kept: they are not the store).
        # Pants' own `archive` of the same files goes the same way, each reader its own store.
        if grid is not None:
            writer = pants_flags(".bench-store-rc-writer", *grid.pants_flags())
            sh(writer + ["--version"], root)
            sh(writer + ["package", TARGET, ARCHIVE_TARGET], root)
            for name, target in (("remote", TARGET), ("remote_archive", ARCHIVE_TARGET)):
                reader = pants_flags(f".bench-store-rc-{name}", *grid.pants_flags(), named=".bench-store")
                sh(reader + ["--version"], root)
                os.sync()
                logged = set(workunits.glob("*.json"))
                res[f"package_cold_{name}"], p = timed(reader + ["package", target], root)
                res[f"package_cold_{name}_cached"] = counter(p.stderr, "remote_cache_requests_cached") or 0
                res.update(remote_breakdown(_workunits(workunits, logged), name))
            res["remote_fetch"] = fetch_seconds(grid, layout)

        # The plugin installed the Pants way, on the same tree.
        if plugin is not None:
            kill_pantsd(root)
            proot = base / f"run{r}-plugin"
            plugin.make_root(proot, work)
            pflags = [
                f if not f.startswith("--local-store-dir") else f"--local-store-dir={proot / '.store'}"
                for f in pants_flags(".bench-store")
            ]
            pflags = [
                f if not f.startswith("--named-caches-dir") else f"--named-caches-dir={proot / '.named'}"
                for f in pflags
            ]
            ppackage = pflags + ["package", TARGET]
            try:
                sh(pflags + ["--version"], proot)
                res["plugin_package_cold"], _ = timed(ppackage, proot)
                res["plugin_package_noop"], _ = timed(ppackage, proot)
                res["plugin_package_noop_python_client"], _ = timed(
                    ppackage, proot, env=dict(clean_env(), PANTS_NO_NATIVE_CLIENT="1")
                )
                pedit = proot / "work" / APP_EDIT_FILE
                pedit.write_bytes(original + f"edit plugin {r}\n".encode())
                res["plugin_package_edit"], p = timed(ppackage, proot)
                res["plugin_package_edit_procs"] = counter(p.stderr, "local_execution_requests") or 0
            finally:
                kill_pantsd(proot)
                shutil.rmtree(proot, ignore_errors=True)
        res["loadavg_end"] = os.getloadavg()[0]
    finally:
        kill_pantsd(root)
    return res


def layer_alone(root: Path, tree: Path) -> float:
    """Seconds of the layer command a `deps` layer process runs (gzip level 1, as the plugin's
    default), on the same tree but outside Pants: no sandbox, no output capture."""
    spec = root / "alone-spec.json"
    spec.write_bytes(LayerSpec(str(tree), "/opt", compression="gzip", level=1).dumps())
    env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"), PYTHONDONTWRITEBYTECODE="1")
    try:
        seconds, _ = timed(
            [
                sys.executable,
                "-m",
                "ocikit",
                "layer",
                "--spec",
                str(spec),
                "--out",
                str(root / "alone.blob"),
                "--descriptor",
                str(root / "alone.json"),
            ],
            root,
            env=env,
        )
    finally:
        for leftover in ("alone-spec.json", "alone.blob", "alone.json"):
            (root / leftover).unlink(missing_ok=True)
    return seconds


def file_creation_seconds(directory: str, count: int = 3000) -> float:
    """Seconds to create `count` empty files in a fresh directory under `directory`: what a
    sandbox pays per input file before writing a byte."""
    d = tempfile.mkdtemp(prefix="oci-bench-create-", dir=directory)
    try:
        t0 = time.monotonic()
        for i in range(count):
            open(os.path.join(d, f"f{i}"), "wb").close()
        return time.monotonic() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def layer_peak_rss(base: Path, size_mb: int) -> Dict[str, float]:
    """Peak RSS (MiB) of `python -m ocikit layer` -- the command a layer `Process` runs -- for a
    tree holding one file of `size_mb` MB (alternating random and text MiB), per compression."""
    tree = base / "rss-tree"
    tree.mkdir()
    rng = random.Random(2)
    block = rng.randbytes(1 << 20)
    text = (b"some compressible text line\n" * 40000)[: 1 << 20]
    with open(tree / "big.bin", "wb") as f:
        for i in range(size_mb):
            f.write(block if i % 2 else text)
    waiter = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"))
    peaks = {}
    try:
        for compression in ("gzip", "zstd", "none"):
            spec = base / "rss-spec.json"
            spec.write_bytes(LayerSpec(str(tree), "/", compression=compression).dumps())
            cmd = [
                sys.executable,
                "-c",
                waiter,
                sys.executable,
                "-m",
                "ocikit",
                "layer",
                "--spec",
                str(spec),
                "--out",
                str(base / "rss.blob"),
                "--descriptor",
                str(base / "rss.json"),
            ]
            proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
            peaks[compression] = int(proc.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        for leftover in ("rss.blob", "rss.json", "rss-spec.json"):
            (base / leftover).unlink(missing_ok=True)
    return peaks


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
        grid = adoption.BuildGrid(base / "buildgrid")
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
