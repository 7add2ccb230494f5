"""The steps of one bench/run.py run on its build root: our `package` and `publish` (cold, no-op,
one-file edit), the reference tools on the same tree, and the other compressions. Each step
returns its rows of the run's result dict."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set

from _breakdown import cold_breakdown  # bench/ is sys.path[0]
from _probes import file_creation_seconds, layer_alone
from _registry import Registry
from _shell import clean_env, counter, sh, timed
from _workload import APP_EDIT_FILE, REPO, TARGET

WORKUNIT_LOGGER = "pants.backend.experimental.tools.workunit_logger"  # ships in the Pants wheel


@dataclass
class BuildRoot:
    """One run's build root (bench/_workload.py's make_build_root) and what its steps share: the
    run's number (in the edits' text), the registry, skopeo's policy, and the app file's bytes
    before any edit (each edit appends a line to them, and the step restores them)."""

    root: Path
    r: int
    registry: Registry
    policy: Path
    original: bytes

    @classmethod
    def open(cls, root: Path, r: int, registry: Registry, policy: Path) -> BuildRoot:
        build_root = cls(root, r, registry, policy, (root / "work" / APP_EDIT_FILE).read_bytes())
        build_root.workunits.mkdir()
        return build_root

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def edit(self) -> Path:
        return self.work / APP_EDIT_FILE

    @property
    def workunits(self) -> Path:
        return self.root / ".bench-workunits"

    @property
    def layout(self) -> Path:
        return self.root / "dist" / TARGET.replace(":", "/")

    def edited(self, step: str) -> bytes:
        return self.original + f"edit {step} {self.r}\n".encode()

    def pants_flags(self, store: str, *extra: str, named: Optional[str] = None) -> List[str]:
        return [
            "./pants",
            f"--local-store-dir={self.root / store}",
            f"--named-caches-dir={self.root / ((named or store) + '-named')}",
            "--stats-log",
            f"--oci-registries={{'local': {{'address': '{self.registry.host}', 'default': True}}}}",
            # Pants' own workunit logger: the timeline of the cold build (see cold_breakdown).
            f"--backend-packages=+['{WORKUNIT_LOGGER}']",
            "--workunit-logger-enabled",
            f"--workunit-logger-logdir={self.workunits}",
            "--streaming-workunits-level=debug",
            *extra,
        ]

    def logged(self) -> Set[Path]:
        """The workunit logs written so far (for workunits_since)."""
        return set(self.workunits.glob("*.json"))

    def workunits_since(self, logged: Set[Path]) -> List[dict]:
        """The workunits of the commands run since `logged` was listed."""
        return [w for f in sorted(self.logged() - logged) for w in json.loads(f.read_text())]

    def published_bytes(self) -> float:
        """Bytes the last `publish` of TARGET uploaded, from its record in dist/."""
        record = self.root / "dist" / (TARGET.replace(":", "/") + ".publish.json")
        if record.exists():
            return json.loads(record.read_text())["stats"]["bytes_uploaded"]
        return float("nan")  # no record: the push summary line only has rounded units


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def package_steps(b: BuildRoot, flags: List[str]) -> Dict[str, float]:
    """`package`: cold (pantsd warm, empty store) with where its time goes, no-op (native client,
    and the Python client), and a one-file edit of the app layer with its process count; then
    the image's size on disk."""
    package = flags + ["package", TARGET]
    res: Dict[str, float] = {}
    b.registry.reset()
    sh(flags + ["--version"], b.root)  # starts pantsd with these exact global flags
    os.sync()  # no writeback of the generated tree during the timed build
    logged = b.logged()
    res["package_cold"], _ = timed(package, b.root)
    breakdown = cold_breakdown(b.workunits_since(logged))
    if not breakdown:
        raise RuntimeError(f"no workunits of the cold package's layer processes in {b.workunits}")
    res.update(breakdown)
    res["package_noop"], _ = timed(package, b.root)
    # The same no-op through Pants' Python client, which a launcher that execs `pants` from
    # the venv uses; ./pants and scie-pants use the native client.
    res["package_noop_python_client"], _ = timed(package, b.root, env=dict(clean_env(), PANTS_NO_NATIVE_CLIENT="1"))
    b.edit.write_bytes(b.edited("package"))
    res["package_edit"], p = timed(package, b.root)
    res["package_edit_procs"] = counter(p.stderr, "local_execution_requests") or 0
    b.edit.write_bytes(b.original)
    sh(package, b.root)
    res["image_bytes"] = dir_bytes(b.layout / "blobs")
    return res


def publish_steps(b: BuildRoot, flags: List[str]) -> Dict[str, float]:
    """`publish` to the loopback registry and the bytes each sends: cold (empty registry, since
    package_steps reset it), unchanged, after a one-file edit."""
    publish = flags + ["publish", TARGET]
    res: Dict[str, float] = {}
    res["publish_cold"], _ = timed(publish, b.root)
    res["publish_cold_bytes"] = b.published_bytes()
    res["publish_noop"], _ = timed(publish, b.root)
    res["publish_noop_bytes"] = b.published_bytes()
    b.edit.write_bytes(b.edited("publish"))
    res["publish_edit"], _ = timed(publish, b.root)
    res["publish_edit_bytes"] = b.published_bytes()
    b.edit.write_bytes(b.original)
    return res


def reference_steps(b: BuildRoot) -> Dict[str, float]:
    """The tree through tar and each compressor (and the bytes of the tar and the gzip), the
    `deps` layer command alone, and the cost of creating files on this machine's filesystems."""
    root = b.root
    res: Dict[str, float] = {}
    os.sync()
    res["tar_sha256"], _ = timed("tar -cf - work | sha256sum", root)
    res["tar_gzip1"], _ = timed("tar -cf - work | gzip -1 | sha256sum", root)
    res["tar_pigz1"], _ = timed("tar -cf - work | pigz -1 | sha256sum", root)
    res["tar_zstd1"], _ = timed("tar -cf - work | zstd -1 -T2 -q | sha256sum", root)
    res["tar_bytes"] = int(sh("tar -cf - work | wc -c", root).stdout.split()[0])
    res["deps_layer_alone"] = layer_alone(root, b.work / "deps")
    res["create_3000_tmp"] = file_creation_seconds(tempfile.gettempdir())
    if os.path.isdir("/dev/shm"):
        res["create_3000_shm"] = file_creation_seconds("/dev/shm")
    if os.path.isdir("/var/tmp"):
        res["create_3000_var_tmp"] = file_creation_seconds("/var/tmp")
    res["tar_gzip1_bytes"] = int(sh("tar -cf - work | gzip -1 | wc -c", root).stdout.split()[0])
    return res


def umoci_steps(b: BuildRoot) -> Dict[str, float]:
    """`umoci insert` of the tree into a new image: cold, and again after a one-file edit."""
    layout = b.root / "umoci-layout"
    insert = ["umoci", "insert", "--image", f"{layout}:t", "work", "/work"]
    res: Dict[str, float] = {}
    sh(["umoci", "init", "--layout", str(layout)], b.root)
    sh(["umoci", "new", "--image", f"{layout}:t"], b.root)
    res["umoci_cold"], _ = timed(insert, b.root)
    b.edit.write_bytes(b.edited("umoci"))
    res["umoci_edit"], _ = timed(insert, b.root)
    b.edit.write_bytes(b.original)
    return res


def push_reference_steps(b: BuildRoot) -> Dict[str, float]:
    """Our image's layout pushed by `skopeo copy`, then by our client alone (what `pants publish`
    runs), each to an empty registry: cold, and again unchanged."""
    layout, host = b.layout, b.registry.host
    res: Dict[str, float] = {}
    b.registry.reset()
    tag = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"
    ]
    skopeo = [
        "skopeo",
        "--policy",
        str(b.policy),
        "copy",
        "-q",
        "--dest-tls-verify=false",
        f"oci:{layout}:{tag}",
        f"docker://{host}/skopeo/work:t",
    ]
    res["skopeo_cold"], _ = timed(skopeo, b.root)
    res["skopeo_noop"], _ = timed(skopeo, b.root)
    # Our client as Pants runs it: no bytecode written.
    b.registry.reset()
    client_env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"), PYTHONDONTWRITEBYTECODE="1")
    ocikit_push = [
        sys.executable,
        "-m",
        "ocikit",
        "push",
        str(layout),
        "--dest",
        f"{host}/ocikit/work:t",
        "--insecure-registry",
        host,
        "--quiet",
    ]
    res["client_cold"], _ = timed(ocikit_push, b.root, env=client_env)
    res["client_noop"], _ = timed(ocikit_push, b.root, env=client_env)
    return res


def variant_steps(b: BuildRoot) -> Dict[str, float]:
    """The cold `package` of other builds, each in its own empty store (a new store dir restarts
    pantsd, which `--version` warms first): `--oci-compression=zstd`, `--oci-compression=auto`
    and `--oci-shard-size=off` (these two also with their cold publish to an empty registry),
    and the sandboxes on tmpfs."""
    # tmpfs: the sandboxes on /dev/shm instead of /tmp (this VM's ext4 takes ~0.6 ms to create
    # a file, and a cold build creates one per input file in its layer's sandbox).
    shm = Path(tempfile.mkdtemp(prefix="oci-bench-sandboxes-", dir="/dev/shm")) if os.path.isdir("/dev/shm") else None
    variants = [
        ("zstd", "--oci-compression=zstd"),
        ("auto", "--oci-compression=auto"),
        ("unsharded", "--oci-shard-size=off"),
    ]
    if shm is not None:
        variants.append(("tmpfs", f"--local-execution-root-dir={shm}"))
    res: Dict[str, float] = {}
    for name, extra in variants:
        other = b.pants_flags(f".bench-store-{name}", extra)
        sh(other + ["--version"], b.root)
        os.sync()
        res[f"package_cold_{name}"], _ = timed(other + ["package", TARGET], b.root)
        if name in ("auto", "unsharded"):  # auto: the registry is loopback, so no compression
            b.registry.reset()
            res[f"publish_cold_{name}"], _ = timed(other + ["publish", TARGET], b.root)
            res[f"publish_cold_{name}_bytes"] = b.published_bytes()
    if shm is not None:
        shutil.rmtree(shm, ignore_errors=True)
    return res
