"""`pants run` on an oci_image, through the real ./pants: a busybox image loaded into podman's
store under its repository:tag and run there, arguments after `--` forwarded, its exit status
kept; docker's path through the real docker CLI against podman's Docker-compatible API; and
the errors for no runtime, a runtime that fails to start, and no platform for this machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_support import BUSYBOX, PODMAN_RUN_ARGS, BuildRoot, busybox_layer_build, scratch_dir
from real_parts import require

pytestmark = pytest.mark.integration

DIR = "e2e_podman_run"
REPOSITORY = "e2e/podman-run"
RUN_ARGS = PODMAN_RUN_ARGS

BUILD = (
    busybox_layer_build(DIR)
    + f"""

oci_image(
    name="img",
    layers=[":bin"],
    entrypoint=["/bin/sh", "-c", "echo greeting=$GREETING args=$*; exit ${{1:-0}}", "sh"],
    env={{"GREETING": "hi"}},
    repository="{REPOSITORY}",
    image_tags=["v1", "latest"],
)
oci_image(name="foreign", layers=[":bin"], platforms=["linux/s390x", "linux/ppc64le"])
"""
)


@pytest.fixture(scope="module")
def podman() -> str:
    require("podman", "runc", str(BUSYBOX))
    return shutil.which("podman") or "podman"


@pytest.fixture
def run_dir(build_root: BuildRoot, podman: str):
    with scratch_dir(build_root, DIR, {"BUILD": BUILD, "bin/busybox": BUSYBOX.read_bytes()}) as directory:
        (directory / "bin" / "busybox").chmod(0o755)
        try:
            yield build_root
        finally:
            subprocess.run([podman, "rmi", "--ignore", f"{REPOSITORY}:v1", f"{REPOSITORY}:latest"], capture_output=True)


def stored_image(podman: str, name: str) -> str:
    return subprocess.run(
        [podman, "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True
    ).stdout.strip()


def test_run_loads_the_image_under_its_name_forwards_arguments_and_keeps_the_exit_status(
    run_dir: BuildRoot, podman: str
) -> None:
    run = run_dir.run("run", RUN_ARGS, f"{DIR}:img", "--", "7", "and more")
    assert run.returncode == 7, run.describe()
    assert "greeting=hi args=7 and more" in run.stdout
    assert stored_image(podman, f"{REPOSITORY}:v1"), "the image is in podman's store under its first tag"
    ok = run_dir.run("run", RUN_ARGS, f"{DIR}:img", "--", "0")
    assert (ok.returncode, ok.stdout.strip()) == (0, "greeting=hi args=0"), ok.describe()


def test_load_only_names_the_image_without_running_it(run_dir: BuildRoot, podman: str) -> None:
    subprocess.run([podman, "rmi", "--ignore", f"{REPOSITORY}:v1"], capture_output=True)
    run = run_dir.run("run", "--oci-run-load-only", f"{DIR}:img")
    assert run.returncode == 0, run.describe()
    assert "greeting=" not in run.output
    assert f"loaded oci_image {DIR}:img into podman as {REPOSITORY}:v1" in run.output
    assert stored_image(podman, f"{REPOSITORY}:v1")


def test_docker_is_driven_through_its_cli(run_dir: BuildRoot, podman: str, tmp_path: Path) -> None:
    """The docker CLI against podman's Docker-compatible API: the same `docker load`, `tag`,
    `image inspect` and `run` calls a Docker Engine gets (no Docker Engine runs on these
    machines). podman 4.3's API reports status 0 for any `docker run --rm` (checked by hand: the
    same container without --rm reports 3), so the status is checked with podman only."""
    require("docker")  # the CLI only: Debian's docker.io (tests/debian-packages.txt); no engine runs
    socket = tmp_path / "podman.sock"
    service = subprocess.Popen(
        [podman, "system", "service", "--time", "0", f"unix://{socket}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        run = run_dir.run(
            "run",
            "--oci-runtime=docker",
            "--oci-run-args=['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']",
            f"{DIR}:img",
            "--",
            "3",
            env={"DOCKER_HOST": f"unix://{socket}"},
        )
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
    assert "greeting=hi args=3" in run.stdout, run.describe()
    assert "ocikit run: error" not in run.stderr


def test_no_runtime_names_the_option_and_what_to_install(run_dir: BuildRoot) -> None:
    run = run_dir.run("run", "--oci-runtime-search-path=['/nonexistent']", f"{DIR}:img")
    assert run.returncode != 0
    text = " ".join(run.output.split())
    assert (
        "`pants run` runs an oci_image with podman (`[oci].runtime`), but no working `podman` is on "
        "`[oci].runtime_search_path` (/nonexistent). Install it (apt-get install podman" in text
    ), run.describe()
    assert 'or set `[oci].runtime = "docker"`' in text


def test_a_runtime_that_fails_to_start_the_container_gets_a_line_naming_target_and_option(run_dir: BuildRoot) -> None:
    run = run_dir.run("run", "--oci-run-args=['--runtime', '/nonexistent/oci-runtime']", f"{DIR}:img")
    assert run.returncode in (125, 126, 127), run.describe()
    assert (
        f"ocikit run: podman exited with status {run.returncode} running oci_image {DIR}:img ({REPOSITORY}:v1)"
        in run.stderr
    )
    assert "[oci].run_args (now: ['--runtime', '/nonexistent/oci-runtime'])" in run.stderr


def test_no_platform_for_this_machine_names_the_platforms_field(run_dir: BuildRoot) -> None:
    run = run_dir.run("run", RUN_ARGS, f"{DIR}:foreign")
    assert run.returncode != 0
    machine = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    assert (
        f"the `platforms` field in target {DIR}:foreign builds it for linux/s390x, linux/ppc64le, "
        f"and this machine runs linux/{machine} containers. Add linux/{machine} to its `platforms`."
        in " ".join(run.output.split())
    ), run.describe()
