"""A damaged workers' named cache, through the real ./pants: each kind of damage is repaired by
the next setup (a `--no-pantsd` run, as after a pantsd restart), and the image still packages
with zstd and publishes to a real registry; a worker that meets the damage while pantsd lives
prints one line naming the cache; a setup killed at a step is repaired by the next run.

The root is this module's own (its own named caches, local store and pantsd): the damage must
not reach the session root the other tests share.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Dict

import pytest
from e2e_support import BuildRoot
from real_parts import needs
from registry_fixtures import served_manifest, start_registry

from ocikit import worker_cache

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo")]

TARGET = "e2e_worker_cache:app"
DIST = "e2e_worker_cache/app"
REPOSITORY = "e2e/worker-cache"
ZSTD = "--oci-compression=zstd"
CRASH_ENV = "OCIKIT_TEST_SETUP_CRASH"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    with start_registry(tmp_path_factory.mktemp("worker-cache-registry"), "none") as reg:
        yield reg


@pytest.fixture(scope="module")
def root(e2e_base: Path):
    r = BuildRoot.create(
        e2e_base / "pristine", e2e_base / "root-worker-cache", e2e_base / "state-worker-cache", pantsd=False
    )
    r.write(
        "e2e_worker_cache/BUILD",
        f"""
files(name="f", sources=["*.txt"])
oci_image(name="app", dependencies=[":f"], repository="{REPOSITORY}")
""",
    )
    r.write("e2e_worker_cache/input.txt", "first\n")
    first = r.run("package", ZSTD, TARGET)
    assert first.returncode == 0, first.describe()
    try:
        yield r
    finally:
        r.stop()


def named_cache(root: BuildRoot) -> Path:
    (cache,) = root.named_caches.glob("ocikit_python_*")
    return cache


def deps_dir(root: BuildRoot) -> Path:
    (deps,) = named_cache(root).glob(f"{worker_cache.DEPS_PREFIX}*")
    return deps


def touch_input(root: BuildRoot) -> None:
    """New content, so the layer is built again (a zstd layer process imports zstandard)."""
    root.write("e2e_worker_cache/input.txt", f"{uuid.uuid4()}\n")


def publish(root: BuildRoot, registry, **env: str):
    flag = f"--oci-registries={{'e2e': {{'address': '{registry.host}', 'default': True}}}}"
    return root.run("publish", ZSTD, flag, TARGET, env=env)


_published = set()


def assert_published_with_zstd(root: BuildRoot, registry, run) -> None:
    """The run exited 0 and the registry serves the image it recorded (new: its input was
    touched), with a zstd layer. `publish` packages without writing dist/<image>."""
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.output
    digest = json.loads(root.dist(f"{DIST}.publish.json").read_text())["digest"]
    assert digest not in _published, "the image was not built again"
    _published.add(digest)
    served = served_manifest(registry, f"{REPOSITORY}@{digest}")
    assert f"sha256:{hashlib.sha256(served).hexdigest()}" == digest
    layers = json.loads(served)["layers"]
    assert [layer["mediaType"] for layer in layers] == ["application/vnd.oci.image.layer.v1.tar+zstd"]


def assert_intact(root: BuildRoot) -> None:
    cache = named_cache(root)
    assert worker_cache.check(str(deps_dir(root))) is None
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".deps") or p.name.endswith(".tmp")]


def _pyc(deps: Path, module: str) -> Path:
    (pyc,) = (deps / Path(module).parent / "__pycache__").glob(f"{Path(module).stem}.cpython-*.pyc")
    return pyc


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _killed_setup_leftovers(deps: Path) -> None:
    cache = deps.parent
    partial = cache / f".{deps.name}.x7_k2qpa"
    shutil.copytree(deps / "zstandard", partial / "zstandard")
    _truncate(next((partial / "zstandard").glob("backend_c.*.so")), 4096)
    os.symlink("/nonexistent/python", cache / "python.4242.tmp")


DAMAGE: Dict[str, Callable[[Path], None]] = {
    "zstandard pyc truncated": lambda deps: _truncate(_pyc(deps, "zstandard/__init__.py"), 200),
    "requests py truncated": lambda deps: _truncate(deps / "requests" / "__init__.py", 300),
    "zstandard extension deleted": lambda deps: next((deps / "zstandard").glob("backend_c.*.so")).unlink(),
    "marker deleted": lambda deps: (deps / worker_cache.MANIFEST).unlink(),
    "killed setup's leftovers": _killed_setup_leftovers,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_next_run_repairs_the_cache_then_packages_with_zstd_and_publishes(root, registry, damage):
    root.stop()  # damage found by the setup of a new Pants process, as after a pantsd restart
    DAMAGE[damage](deps_dir(root))
    touch_input(root)
    run = publish(root, registry)
    assert_published_with_zstd(root, registry, run)
    repaired = "were damaged" in run.output and "have been copied again" in run.output
    assert repaired == (damage != "killed setup's leftovers"), run.describe()
    assert_intact(root)


def test_a_worker_meeting_the_damage_while_pantsd_lives_says_so_in_one_line(root, registry):
    root.pantsd = True
    try:
        assert root.package(ZSTD, TARGET).returncode == 0  # pantsd starts; its setup is done
        _truncate(_pyc(deps_dir(root), "zstandard/__init__.py"), 200)
        touch_input(root)
        broken = root.run("package", ZSTD, TARGET)
        assert broken.returncode != 0
        cache = named_cache(root)
        lines = [line for line in broken.output.splitlines() if "ocikit: error:" in line]
        assert len(lines) == 1, broken.describe()
        assert f"the packages ocikit imports from Pants' named cache {cache.name} are damaged" in lines[0]
        assert "EOFError: marshal data too short" in lines[0]
        assert f"`rm -rf {cache.resolve()}`" in lines[0] and "--no-pantsd" in lines[0]
        assert "Traceback" not in broken.output

        shutil.rmtree(cache)  # what the line says to do
        root.pantsd = False
        assert_published_with_zstd(root, registry, publish(root, registry))
        root.pantsd = True
        touch_input(root)
        assert root.package(ZSTD, TARGET).returncode == 0  # the same pantsd, on the new copy
    finally:
        root.stop()
        root.pantsd = False


@pytest.mark.parametrize("step", ["mid-copy", "mid-replace"])
def test_a_setup_killed_mid_way_is_repaired_by_the_next_run(root, registry, step):
    _truncate(deps_dir(root) / "yaml" / "__init__.py", 100)  # so the setup has something to replace
    touch_input(root)
    killed = root.run("package", ZSTD, TARGET, env={CRASH_ENV: step})
    assert killed.returncode != 0
    cache = named_cache(root)
    assert (
        f"pants-oci: preparing the Python for ocikit processes in Pants' named cache {cache.name} "
        "failed with exit code -9" in killed.output
    ), killed.describe()
    assert f"`rm -rf {cache.resolve()}`" in killed.output and "Traceback" not in killed.output
    assert [p for p in cache.iterdir() if p.name.startswith(".deps")], "the kill left no temporary copy"
    assert_published_with_zstd(root, registry, publish(root, registry))
    assert_intact(root)
