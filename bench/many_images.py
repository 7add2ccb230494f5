"""Many images in one `pants publish`: N tiny images, and N images sharing one 20 MB layer.

    "$(./pants --print-venv)/bin/python" bench/many_images.py                 # N = 10 and 50, 3 runs
    "$(./pants --print-venv)/bin/python" bench/many_images.py --counts 10 --runs 1 --out /tmp/m.md
    "$(./pants --print-venv)/bin/python" bench/many_images.py --small --no-peer --out /tmp/m.md  # CI

Each run and N builds a fresh build root (this repo's Pants setup plus `tiny/` with N images of
one small file each, in N repositories, and `shared/` with N images of one 20 MB random layer
plus a small layer each, in N repositories), with its own local store, warms pantsd, then times
with the native client, from the build root (PWD set, as a shell sets it):

  package cold, package no-op, publish to an empty loopback registry, publish again unchanged;
  the same N layouts copied one after another with `skopeo copy` (what pants-backend-oci's
  publish runs per image, without Pants' own costs), cold and again;
  and, for the tiny images, `pants publish ::` run from `tiny/`, a subdirectory, where each
  image is a run of its own (the cost per image before this change).

pants-backend-oci 0.5.0 (the peer) side by side, in a build root of its own (both backends own
the `[oci]` scope), when pip can fetch its wheel: the same files as `oci_image_build` targets
on an `oci_image_empty` base, with the same steps timed. Its tools (skopeo, umoci, runc) are
downloaded from the code host, unreachable here: a shim backend points them at the Debian
binaries, and its skopeo is wrapped to add `--dest-tls-verify=false` for the plain-HTTP
loopback registry (what a `registries.conf` entry marking it insecure does).

Bytes sent come from `dist/oci-publish.json` (ours) and the registry's storage. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

from _registry import Registry  # bench/ is sys.path[0]

REPO = Path(__file__).resolve().parent.parent
COPY = ["pants", "pants.toml", "BUILD", "requirements-pants.txt", "pants-plugins", "src"]
SHARED_MB = 20


def clean_env(root: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PANTS_")}
    env["PWD"] = str(root)
    return env


def generate(root: Path, n: int, peer: str = "") -> None:
    """`tiny/` and `shared/` for our backend, or (with `peer`, the registry host) for the peer's."""
    tiny = root / "tiny"
    tiny.mkdir()
    lines = ['oci_image_empty(name="empty")'] if peer else []
    for i in range(n):
        (tiny / f"f{i}.txt").write_text(f"tiny image {i}\n")
        lines.append(f'files(name="f{i}", sources=["f{i}.txt"])')
        lines.append(
            f'oci_image_build(name="t{i}", base=[":empty"], packages=[":f{i}"], '
            f'repository="{peer}/peer-tiny/t{i}", tag="latest")'
            if peer
            else f'oci_image(name="t{i}", dependencies=[":f{i}"], repository="tiny/t{i}")'
        )
    (tiny / "BUILD").write_text("\n".join(lines) + "\n")
    shared = root / "shared"
    shared.mkdir()
    (shared / "big.bin").write_bytes(random.Random(5).randbytes(SHARED_MB << 20))
    lines = ['files(name="big_files", sources=["big.bin"])']
    lines += (
        ['oci_image_empty(name="empty")']
        if peer
        else ['oci_layer(name="big", dependencies=[":big_files"], destination="/big")']
    )
    for i in range(n):
        (shared / f"own{i}.txt").write_text(f"shared image {i}\n")
        lines.append(f'files(name="own{i}", sources=["own{i}.txt"])')
        lines.append(
            f'oci_image_build(name="s{i}", base=[":empty"], packages=[":big_files", ":own{i}"], '
            f'repository="{peer}/peer-shared/s{i}", tag="latest")'
            if peer
            else f'oci_layer(name="l{i}", dependencies=[":own{i}"], destination="/own")\n'
            f'oci_image(name="s{i}", layers=[":big", ":l{i}"], repository="shared/s{i}")'
        )
    (shared / "BUILD").write_text("\n".join(lines) + "\n")


_SHIM = """\"\"\"Points pants-backend-oci's downloaded tools at this machine's binaries (no network).\"\"\"
from pants_backend_oci.subsystem import RuncTool, SkopeoTool, UmociTool

for tool, path in ((SkopeoTool, {skopeo!r}), (UmociTool, {umoci!r}), (RuncTool, {runc!r})):
    tool.generate_url = (lambda p: lambda self, plat: "file://" + p)(path)
    tool.generate_exe = (lambda n: lambda self, plat: "./" + n)(path.rsplit("/", 1)[-1])


def rules():
    return []
"""

_SKOPEO_WRAPPER = """#!/bin/sh
# pants-backend-oci runs `skopeo --insecure-policy copy SRC DEST`; the loopback registry is plain HTTP.
[ "$2" = copy ] && {{ a="$1"; shift 2; exec {skopeo} "$a" copy --dest-tls-verify=false "$@"; }}
exec {skopeo} "$@"
"""


def peer_setup(base: Path) -> Optional[Path]:
    """The peer's backend and its Pants config, or None when its wheels cannot be fetched."""
    wheels = base / "peer-wheels"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(wheels),
            "pants-backend-oci==0.5.0",
            "pants-backend-kustomize==0.3.0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    missing = [t for t in ("umoci", "runc") if not shutil.which(t)]
    if proc.returncode != 0 or missing:
        print(
            f"peer skipped: {proc.stdout[-500:] if proc.returncode else 'missing ' + ' '.join(missing)}",
            file=sys.stderr,
        )
        return None
    plugins = base / "peer-plugins"
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(plugins)
    tools = base / "peer-tools"
    tools.mkdir()
    wrapper = tools / "skopeo"
    wrapper.write_text(_SKOPEO_WRAPPER.format(skopeo=shutil.which("skopeo")))
    wrapper.chmod(0o755)
    paths = {"skopeo": str(wrapper), "umoci": shutil.which("umoci"), "runc": shutil.which("runc")}
    (plugins / "peer_offline").mkdir()
    (plugins / "peer_offline" / "__init__.py").write_text("")
    (plugins / "peer_offline" / "register.py").write_text(_SHIM.format(**paths))
    config = [
        "[GLOBAL]",
        'pants_version = "2.17.1"',
        f'pythonpath = ["{plugins}"]',
        'backend_packages = ["peer_offline", "pants_backend_oci"]',
        'ignore_warnings = ["DEPRECATED: Running Pants in an external Python interpreter"]',
        "[anonymous-telemetry]",
        "enabled = false",
    ]
    for tool, path in paths.items():
        data = Path(path).read_bytes()
        config += [
            f"[{tool}]",
            'version = "local"',
            f'known_versions = ["local|linux_x86_64|{hashlib.sha256(data).hexdigest()}|{len(data)}"]',
        ]
    toml = base / "peer-pants.toml"
    toml.write_text("\n".join(config) + "\n")
    return toml


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


def pants_steps(
    root: Path, flags: List[str], env: Dict[str, str], registry: Registry, workload: str, prefix: str
) -> Dict[str, float]:
    """Package cold and no-op, publish to an empty registry and again, for one workload."""
    spec = f"{workload}::"
    registry.reset()
    res = {
        f"{prefix}{workload}_package_cold": timed(flags + ["package", spec], root, env),
        f"{prefix}{workload}_package_noop": timed(flags + ["package", spec], root, env),
        f"{prefix}{workload}_publish_cold": timed(flags + ["publish", spec], root, env),
    }
    res[f"{prefix}{workload}_registry_mb"] = storage_bytes(registry) / (1 << 20)
    if not prefix:  # ours: the run record of this publish (the next run's check rewrites it)
        res[f"{workload}_publish_cold_mb"] = sent_bytes(root) / (1 << 20)
    res[f"{prefix}{workload}_publish_noop"] = timed(flags + ["publish", spec], root, env)
    return res


def stop_pantsd(root: Path) -> None:
    for pidfile in root.glob(".pids/**/pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (ValueError, OSError):
            pass


def one_run(base: Path, r: int, n: int, registry: Registry, policy: Path) -> Dict[str, float]:
    root = base / f"run{r}-n{n}"
    root.mkdir()
    for name in COPY:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    generate(root, n)
    env = clean_env(root)
    flags = [
        "./pants",
        f"--local-store-dir={root / '.store'}",
        f"--named-caches-dir={root / '.named'}",
        f"--oci-registries={{'local': {{'address': '{registry.host}', 'default': True}}}}",
    ]
    res: Dict[str, float] = {}
    try:
        timed(flags + ["--version"], root, env)
        for workload in ("tiny", "shared"):
            res.update(pants_steps(root, flags, env, registry, workload, ""))
            layouts = [p for p in sorted((root / "dist" / workload).iterdir()) if p.is_dir()]
            assert len(layouts) == n, layouts
            registry.reset()
            copies = [
                [
                    "skopeo",
                    "--policy",
                    str(policy),
                    "copy",
                    "-q",
                    "--dest-tls-verify=false",
                    f"oci:{p}",
                    f"docker://{registry.host}/skopeo-{workload}/{p.name}:latest",
                ]
                for p in layouts
            ]
            res[f"{workload}_skopeo_cold"] = sum(timed(c, root, env) for c in copies)
            res[f"{workload}_skopeo_mb"] = storage_bytes(registry) / (1 << 20)
            res[f"{workload}_skopeo_noop"] = sum(timed(c, root, env) for c in copies)
        # Before this change every image paid its own push process: the same happens now when
        # the run cannot be planned as a whole, as for a command run from a subdirectory (the
        # launcher is a bash script: bash sets PWD to the real working directory).
        registry.reset()
        below = root / "tiny"
        elsewhere = ["../pants", *flags[1:], "publish", "::"]
        res["tiny_publish_cold_per_image"] = timed(elsewhere, below, dict(env, PWD=str(below)))
        res["tiny_publish_noop_per_image"] = timed(elsewhere, below, dict(env, PWD=str(below)))
    finally:
        stop_pantsd(root)
    return res


def peer_run(base: Path, r: int, n: int, registry: Registry, toml: Path) -> Dict[str, float]:
    """The same steps with pants-backend-oci 0.5.0 in a build root of its own."""
    root = base / f"peer{r}-n{n}"
    root.mkdir()
    for name in ("pants", "requirements-pants.txt"):
        shutil.copy2(REPO / name, root / name)
    shutil.copy2(toml, root / "pants.toml")
    generate(root, n, peer=registry.host)
    env = clean_env(root)
    flags = ["./pants", f"--local-store-dir={root / '.store'}", f"--named-caches-dir={root / '.named'}"]
    res: Dict[str, float] = {}
    try:
        timed(flags + ["--version"], root, env)
        for workload in ("tiny", "shared"):
            res.update(pants_steps(root, flags, env, registry, workload, "peer_"))
    finally:
        stop_pantsd(root)
    return res


ROWS = [  # (label, our key, the peer's key or None)
    ("package, cold", "{w}_package_cold", "peer_{w}_package_cold"),
    ("package, no-op", "{w}_package_noop", "peer_{w}_package_noop"),
    ("publish, empty registry", "{w}_publish_cold", "peer_{w}_publish_cold"),
    ("publish again, nothing changed", "{w}_publish_noop", "peer_{w}_publish_noop"),
    ("skopeo copy of each of our layouts, empty registry", "{w}_skopeo_cold", None),
    ("skopeo copy of each of our layouts again", "{w}_skopeo_noop", None),
    ("MiB sent by our publish (run record)", "{w}_publish_cold_mb", None),
    ("MiB in the registry after the publish", "{w}_registry_mb", "peer_{w}_registry_mb"),
    ("MiB in the registry after the skopeo copies", "{w}_skopeo_mb", None),
]


def _median(runs: List[Dict[str, float]], key: Optional[str]) -> str:
    values = [r[key] for r in runs if key and key in r]
    return f"{statistics.median(values):.2f}" if values else "-"


def report(results: Dict[int, List[Dict[str, float]]], command: str, started: str, load: str) -> str:
    out = [
        f"# Many images in one publish ({started} UTC)",
        "",
        f"`{command}`",
        "",
        f"{os.cpu_count()} cores, load average before the runs {load}; medians of "
        f"{len(next(iter(results.values())))} runs, wall seconds unless marked MiB; every cell of one "
        "run measured one after another in the same invocation (ours, then the peer, per N). "
        "Peer: pants-backend-oci 0.5.0 (umoci and skopeo).",
        "",
    ]
    header = " | ".join(f"ours N={n} | peer N={n}" for n in results)
    for workload, title in (
        ("tiny", "tiny images (one small file each)"),
        ("shared", f"images sharing one {SHARED_MB} MB layer"),
    ):
        out += [f"## {title}", "", f"| step | {header} |", "| --- |" + " --- |" * (2 * len(results))]
        for label, ours, peer in ROWS:
            cells = [
                c
                for runs in results.values()
                for c in (_median(runs, ours.format(w=workload)), _median(runs, peer and peer.format(w=workload)))
            ]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    out += [
        "## our publish when each image is a run of its own (`pants publish ::` run from `tiny/`)",
        "",
        "| step | " + " | ".join(f"N = {n}" for n in results) + " |",
        "| --- |" + " --- |" * len(results),
    ]
    for label, key in (
        ("tiny: publish, empty registry", "tiny_publish_cold_per_image"),
        ("tiny: publish again, nothing changed", "tiny_publish_noop_per_image"),
    ):
        out.append(f"| {label} | " + " | ".join(_median(runs, key) for runs in results.values()) + " |")
    out += ["", "## targets (issue 15), on the medians", ""]
    for n, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        peer = {k: statistics.median(r[k] for r in runs if k in r) for k in runs[0] if k.startswith("peer_")}
        line = (
            f"- N = {n}: unchanged publish {med['tiny_publish_noop']:.2f} s vs no-op package "
            f"{med['tiny_package_noop']:.2f} s + 1.5 s: "
            f"{'met' if med['tiny_publish_noop'] <= med['tiny_package_noop'] + 1.5 else 'NOT met'}; "
            f"cold publish {med['tiny_publish_cold']:.2f} s (target 5 s at N = 50): "
            f"{'met' if med['tiny_publish_cold'] <= 5 else 'NOT met'}; "
            f"shared layer: {med['shared_publish_cold_mb']:.1f} MiB sent for {n} images"
        )
        if peer:
            ahead = all(med[k[5:]] < v for k, v in peer.items() if "publish" in k)
            line += f"; every publish step ahead of the peer: {'yes' if ahead else 'NO'}"
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,50", help="comma-separated N (default 10,50)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="docs/benchmarks-many-images.md")
    ap.add_argument("--no-peer", action="store_true", help="ours only (no pants-backend-oci)")
    ap.add_argument("--small", action="store_true", help="N = 2, one run (for CI)")
    args = ap.parse_args()
    if args.small:
        args.counts, args.runs = "2", 1
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
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        peer_toml = None if args.no_peer else peer_setup(base)
        for r in range(args.runs):
            for n in counts:
                t0 = time.monotonic()
                res = one_run(base, r, n, registry, policy)
                if peer_toml is not None:
                    res.update(peer_run(base, r, n, registry, peer_toml))
                results[n].append(res)
                print(f"run {r + 1}/{args.runs}, N = {n}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
                shutil.rmtree(base / f"run{r}-n{n}", ignore_errors=True)
                shutil.rmtree(base / f"peer{r}-n{n}", ignore_errors=True)
    finally:
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)
    text = report(results, command, started, load)
    out = Path(args.out)
    out = out if out.is_absolute() else REPO / out
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
