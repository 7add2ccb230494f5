"""ocikit processes that run where Pants sends them, through the real ./pants: an image whose
`environment` is a `docker_environment` (Debian bookworm's python3 3.11, run by podman behind
its Docker-compatible API, started here and stopped after) builds its layers inside the
container with the shipped worker, and gives the same digests as the local fast path and as
the shipped worker run locally by Debian's /usr/bin/python3 (not Pants' 3.9).

The root is this module's own, without pantsd: the runs switch the environment by option. Pants
2.17 leaves its containers running when it exits; the fixture removes them with the service.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from e2e_support import LAYER_PROCESS_PREFIX, REPO, BuildRoot, PantsRun

sys.path.insert(0, str(REPO / "tests"))
from python_tools import python_base_layout  # noqa: E402
from real_parts import require  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIR = "e2e_env"
IMAGE = "localhost/pants-oci-e2e-env-python:3.11"  # this module's own tag in podman's store
ZSTD = "--oci-compression=zstd"  # the shipped zstandard's C extension, built for 3.11
IN_CONTAINER = f"--environments-preview-names={{'workers': '//{DIR}:container'}}"
# What podman needs on these machines (tests/integration/e2e_support.PODMAN_RUN_ARGS), for the
# containers the API service creates.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def _podman(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, **kwargs)


def _remove_containers_of_image() -> None:
    ids = _podman("ps", "-a", "-q", "--filter", f"ancestor={IMAGE}").stdout.split()
    if ids:
        _podman("rm", "-f", "-t", "0", *ids)


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`unix://.../podman.sock`: podman's Docker API service holding IMAGE, stopped after."""
    require("podman", "runc", "skopeo", "debootstrap", "umoci", root=True)
    layout, tag = python_base_layout()
    copy = subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", f"containers-storage:{IMAGE}"],
        capture_output=True,
        text=True,
    )
    assert copy.returncode == 0, copy.stderr
    tmp = tmp_path_factory.mktemp("podman-api")
    (tmp / "containers.conf").write_text(CONTAINERS_CONF)
    socket = tmp / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env={**os.environ, "CONTAINERS_CONF": str(tmp / "containers.conf")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert socket.exists(), "podman's API service did not create its socket in 30 s"
        yield f"unix://{socket}"
    finally:
        _remove_containers_of_image()
        service.terminate()
        service.wait(timeout=30)
        _podman("rmi", "--ignore", IMAGE)


@pytest.fixture(scope="module")
def root(e2e_base: Path) -> Iterator[BuildRoot]:
    shutil.copytree(e2e_base / "pristine", e2e_base / "root-env")
    r = BuildRoot(e2e_base / "root-env", e2e_base / "state-env", pantsd=False)
    with open(r.path / "pants.toml", "a") as f:
        f.write(f'\n[environments-preview.names]\nworkers = "//{DIR}:host"\n')
    r.write(
        f"{DIR}/BUILD",
        f"""
local_environment(name="host")
docker_environment(name="container", image="{IMAGE}", python_bootstrap_search_path=["/usr/bin"])

files(name="files", sources=["files/**/*"])
oci_layer(name="layer", dependencies=[":files"], destination="/srv", owner="1000:1000")
oci_image(name="app", layers=[":layer"], dependencies=[":files"], repository="e2e/env", environment="workers")
""",
    )
    for i in range(20):
        r.write(f"{DIR}/files/f{i:02d}.txt", f"file {i}\n" * (i * 50 + 1))
    r.write(f"{DIR}/files/run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    try:
        yield r
    finally:
        r.stop()


def _layer_runs(run: PantsRun) -> Dict[str, List[str]]:
    """{workunit name: layer process descriptions} for the layer processes that really ran."""
    out: Dict[str, List[str]] = {}
    for w in run.workunits:
        description = w.get("description") or ""
        if w.get("name", "").startswith("run_local_process") and description.startswith(LAYER_PROCESS_PREFIX):
            out.setdefault(w["name"], []).append(description)
    return out


def _package(root: BuildRoot, *args: str, env: Dict[str, str] | None = None) -> PantsRun:
    run = root.run("-ldebug", "package", ZSTD, *args, f"{DIR}:app", env=env)
    assert run.returncode == 0, run.describe()
    return run


def test_layers_built_in_a_docker_environment_and_by_another_python_match_the_local_build(
    root: BuildRoot, docker_host: str
) -> None:
    local = _package(root)
    assert list(_layer_runs(local)) == ["run_local_process"], local.describe()
    expected = local.packaged[f"{DIR}/app"]

    container = _package(root, IN_CONTAINER, env={"DOCKER_HOST": docker_host})
    ran = _layer_runs(container)
    assert list(ran) == ["run_local_process_via_docker"] and len(ran["run_local_process_via_docker"]) == 2, ran
    assert "started container `" in container.stderr and "for image `sha256:" in container.stderr
    assert container.packaged[f"{DIR}/app"] == expected, "the same image from the container"

    other_python = _package(root, "--oci-worker-mode=shipped", "--python-bootstrap-search-path=['/usr/bin']")
    assert len(_layer_runs(other_python)["run_local_process"]) == 2, "keyed apart from the fast path's"
    assert 'argv: ["/usr/bin/python3", "-S", "-m", "ocikit", "layer"' in other_python.stderr
    assert other_python.packaged[f"{DIR}/app"] == expected, "the same image from Debian's python3"
