"""The adoption steps of one bench/run.py run: the cold package served from a remote cache
(BuildGrid on loopback) next to fetching the image's blobs from it, and the plugin installed the
Pants way (PluginRoute) next to the same through ./pants."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Dict

from _breakdown import remote_breakdown  # bench/ is sys.path[0]
from _run_steps import BuildRoot
from _shell import clean_env, counter, sh, timed
from _workload import APP_EDIT_FILE, ARCHIVE_TARGET, REPO, TARGET, kill_pantsd

sys.path.append(str(REPO / "tests" / "adoption"))
import adoption_support as adoption  # noqa: E402  (stock venv, pex CLI, wheel, BuildGrid)
from adoption_support import BuildGrid  # noqa: E402


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


def fetch_seconds(grid: BuildGrid, layout: Path) -> float:
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


def remote_cache_steps(b: BuildRoot, grid: BuildGrid) -> Dict[str, float]:
    """The cold `package` of our image, and of Pants' own `archive` of the same files, served from
    the remote cache into an empty local store, with the cache hits and where the time goes; and
    the time to fetch the image's layer blobs from that server."""
    # One store fills the cache (untimed), then an empty local store reads it, as a fresh CI
    # runner does (named caches kept: they are not the store); each reader its own store.
    res: Dict[str, float] = {}
    writer = b.pants_flags(".bench-store-rc-writer", *grid.pants_flags())
    sh(writer + ["--version"], b.root)
    sh(writer + ["package", TARGET, ARCHIVE_TARGET], b.root)
    for name, target in (("remote", TARGET), ("remote_archive", ARCHIVE_TARGET)):
        reader = b.pants_flags(f".bench-store-rc-{name}", *grid.pants_flags(), named=".bench-store")
        sh(reader + ["--version"], b.root)
        os.sync()
        logged = b.logged()
        res[f"package_cold_{name}"], p = timed(reader + ["package", target], b.root)
        res[f"package_cold_{name}_cached"] = counter(p.stderr, "remote_cache_requests_cached") or 0
        res.update(remote_breakdown(b.workunits_since(logged), name))
    res["remote_fetch"] = fetch_seconds(grid, b.layout)
    return res


def plugin_steps(b: BuildRoot, plugin: PluginRoute, proot: Path) -> Dict[str, float]:
    """`package` of a copy of the tree in `proot`, a repo using the plugin installed the Pants way:
    cold, no-op (native client, and the Python client), and a one-file edit with its process count."""
    kill_pantsd(b.root)
    plugin.make_root(proot, b.work)
    pflags = [
        f if not f.startswith("--local-store-dir") else f"--local-store-dir={proot / '.store'}"
        for f in b.pants_flags(".bench-store")
    ]
    pflags = [f if not f.startswith("--named-caches-dir") else f"--named-caches-dir={proot / '.named'}" for f in pflags]
    ppackage = pflags + ["package", TARGET]
    res: Dict[str, float] = {}
    try:
        sh(pflags + ["--version"], proot)
        res["plugin_package_cold"], _ = timed(ppackage, proot)
        res["plugin_package_noop"], _ = timed(ppackage, proot)
        res["plugin_package_noop_python_client"], _ = timed(
            ppackage, proot, env=dict(clean_env(), PANTS_NO_NATIVE_CLIENT="1")
        )
        (proot / "work" / APP_EDIT_FILE).write_bytes(b.edited("plugin"))
        res["plugin_package_edit"], p = timed(ppackage, proot)
        res["plugin_package_edit_procs"] = counter(p.stderr, "local_execution_requests") or 0
    finally:
        kill_pantsd(proot)
        shutil.rmtree(proot, ignore_errors=True)
    return res
