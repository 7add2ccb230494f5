"""Layer results shared through a real REAPI remote cache (BuildGrid on loopback).

Two build roots at different paths, with different HOMEs and launcher venvs at different
paths, both reading and writing the same server: the second, with an empty local store and a
pantsd of its own, gets every layer of the examples from the server and writes the same bytes.
Then what Pants does when the cache is unreachable or answers with a corrupt blob."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
from pathlib import Path

import pytest
from adoption_support import CACHE, REPO, BuildGrid, MissingPart, launcher_venv, remote_cache_flags

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "integration"))
from e2e_support import EXAMPLE_LAYER_PROCESSES, EXAMPLE_SBOM_PROCESSES, EXAMPLES, BuildRoot, copy_sources  # noqa: E402
from image_checks import Layout, tree_bytes  # noqa: E402
from registry_fixtures import closed_port  # noqa: E402

pytestmark = [pytest.mark.integration]

BIG_BUILD = 'files(name="files", sources=["blob.bin"])\noci_image(name="big", dependencies=[":files"])\n'
BIG_LAYOUT = "big/big"
BIG_LAYER_PROCESS = "Build layer of oci_image big:big (its `dependencies`)"


def second_launcher_venv() -> str:
    """Another venv for ./pants, at another path (made once per machine, by the launcher)."""
    text = (REPO / "requirements-pants.txt").read_bytes() + (
        REPO / "pants-plugins/pants_oci/requirements.txt"
    ).read_bytes()
    return str(CACHE / f"second-launcher-venv-{hashlib.sha256(text).hexdigest()[:12]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    try:
        grid = BuildGrid(tmp_path_factory.mktemp("buildgrid"))
    except MissingPart as e:
        pytest.fail(str(e))
    try:
        yield grid
    finally:
        grid.stop()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("remote-cache")
    copy_sources(REPO, base / "pristine")
    (base / "big").mkdir()
    (base / "big" / "BUILD").write_text(BIG_BUILD)
    # 24 MB that do not compress: building the layer locally takes longer than fetching it.
    (base / "big" / "blob.bin").write_bytes(random.Random(11).randbytes(24 << 20))
    return base


class Machine:
    """A checkout with its own path, HOME, launcher venv, local store and pantsd."""

    def __init__(self, base: Path, name: str, venv: str) -> None:
        self.root = BuildRoot.create(base / "pristine", base / name / "checkout", base / name / "state")
        shutil.copytree(base / "big", self.root.path / "big")
        self.home = base / name / "home"
        self.home.mkdir()
        self.env = {"HOME": str(self.home), "PANTS_VENV_DIR": venv}

    def run(self, *args: str):
        return self.root.run(*args, env=self.env, timeout=600)


@pytest.fixture(scope="module")
def first(base: Path, server: BuildGrid):
    machine = Machine(base, "ci-runner-1", str(launcher_venv()))
    try:
        run = machine.run(*server.pants_flags(), "package", "examples::", "big:big")
        assert run.returncode == 0, run.describe()
        yield machine, run
    finally:
        machine.root.stop()


@pytest.fixture(scope="module")
def second(base: Path, server: BuildGrid, first):
    machine = Machine(base, "developer-laptop", second_launcher_venv())
    try:
        run = machine.run(*server.pants_flags(), "package", "examples::")
        assert run.returncode == 0, run.describe()
        yield machine, run
    finally:
        machine.root.stop()


def test_the_two_machines_differ_in_every_path(first, second):
    (a, _), (b, _) = first, second
    assert a.root.path != b.root.path and a.home != b.home
    assert a.env["PANTS_VENV_DIR"] != b.env["PANTS_VENV_DIR"]
    assert os.path.isfile(Path(b.env["PANTS_VENV_DIR"]) / "bin" / "python")


def test_the_first_machine_builds_cold_and_writes_every_layer(first):
    _, run = first
    assert run.layer_processes_run == sorted([*EXAMPLE_LAYER_PROCESSES, BIG_LAYER_PROCESS]), run.describe()
    assert run.counters["remote_cache_requests_cached"] == 0
    # Every layer, and every process of the SBOMs (file hashes, base layer reads).
    written = len(EXAMPLE_LAYER_PROCESSES) + 1 + len(run.sbom_processes_run)
    assert run.counters["remote_cache_write_successes"] == written


def test_the_second_machine_gets_every_layer_from_the_server_and_the_same_bytes(first, second):
    (a, _), (b, run) = first, second
    cached = len(EXAMPLE_LAYER_PROCESSES) + len(EXAMPLE_SBOM_PROCESSES)
    assert run.counters["remote_cache_requests_cached"] == cached, run.describe()
    # Pants 2.17 races a local run against each lookup: `local_execution_requests` counts the
    # local starts it cancelled when the server answered first; none of them ran to the end.
    assert run.layer_processes_run == [] and run.sbom_processes_run == [], run.describe()
    for name, (layout_dir, _, _) in EXAMPLES.items():
        assert tree_bytes(b.root.dist(layout_dir)) == tree_bytes(a.root.dist(layout_dir)), name
        sbom = f"{layout_dir}.spdx.json"
        assert b.root.dist(sbom).read_bytes() == a.root.dist(sbom).read_bytes(), name


def test_an_unreachable_cache_gets_pants_warning_and_a_correct_build(base: Path, first):
    a, _ = first
    machine = Machine(base, "offline-laptop", str(launcher_venv()))
    with closed_port() as port:  # refuses connections, and no other process can take it meanwhile
        run = machine.run("--no-pantsd", *remote_cache_flags(f"grpc://127.0.0.1:{port}"), "package", "examples::")
    assert run.returncode == 0, run.describe()
    assert "Failed to read from remote cache" in run.stderr, run.describe()
    assert run.layer_processes_run == EXAMPLE_LAYER_PROCESSES
    for name, (layout_dir, _, _) in EXAMPLES.items():
        assert tree_bytes(machine.root.dist(layout_dir)) == tree_bytes(a.root.dist(layout_dir)), name


def test_a_corrupt_blob_from_the_cache_is_refused_and_the_layer_built_again(base: Path, server: BuildGrid, first):
    a, _ = first
    (layer,) = Layout(a.root.dist(BIG_LAYOUT)).layer_digests()
    stored = server.blob_file(layer)
    assert stored.is_file(), f"the server has no blob for {layer} at {stored}"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    machine = Machine(base, "unlucky-laptop", str(launcher_venv()))
    run = machine.run("--no-pantsd", *server.pants_flags(), "package", "big:big")
    assert run.returncode == 0, run.describe()
    # Pants checks every blob it downloads against its digest: a mismatch is a cache miss.
    assert "Remote CAS gave wrong digest" in run.stderr, run.describe()
    # The build asks the cache for two processes: the layer's, whose hit was refused, and the
    # SBOM document's, a hit (the SBOM takes its files' SHA1s from the layer: the same list).
    assert run.counters["remote_cache_requests"] == 2, run.describe()
    assert run.counters["remote_cache_requests_cached"] == 1, run.describe()
    assert run.layer_processes_run == [BIG_LAYER_PROCESS] and run.sbom_processes_run == [], run.describe()
    assert tree_bytes(machine.root.dist(BIG_LAYOUT)) == tree_bytes(a.root.dist(BIG_LAYOUT))
