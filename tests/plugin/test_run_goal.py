"""`pants run` for oci_image, its pure decisions: the platform that runs here, where the
runtime is looked for, what a missing one says, and the `ocikit run` command line."""

from __future__ import annotations

import pytest
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.target import InvalidFieldException

from ocikit.image import Platform
from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.goals.run import check_platform, run_arguments
from pants_oci.subsystem import ContainerRuntimeKind
from pants_oci.util_rules.core import OcikitRunner
from pants_oci.util_rules.runtime import ContainerRuntime, runtime_not_found, search_path


def test_the_platform_that_runs_here() -> None:
    assert check_platform("app:img", "linux/amd64", ["linux/amd64"]) == Platform.parse("linux/amd64")
    assert check_platform("app:img", "linux/arm64", ["linux/amd64", "linux/arm64/v8"]) == Platform.parse(
        "linux/arm64/v8"
    )
    with pytest.raises(
        InvalidFieldException,
        match=r"the `platforms` field in target app:img builds it for linux/arm64, and this machine "
        r"runs linux/amd64 containers. Add linux/amd64 to its `platforms`.",
    ):
        check_platform("app:img", "linux/amd64", ["linux/arm64"])


def test_search_path_expands_the_environments_path() -> None:
    assert tuple(search_path(["/opt/bin", "<PATH>"], "/usr/bin:/bin")) == ("/opt/bin", "/usr/bin", "/bin")
    assert tuple(search_path(["<PATH>"], None)) == ()


def test_a_missing_runtime_says_what_to_install_and_the_other_choice() -> None:
    message = str(runtime_not_found(ContainerRuntimeKind.docker, search_path(["/a", "/b"], None)))
    assert "runs an oci_image with docker (`[oci].runtime`), but no working `docker` is on " in message
    assert "`[oci].runtime_search_path` (/a:/b). Install it (Docker Engine 25 or newer" in message
    assert message.endswith('or set `[oci].runtime = "podman"`.')


def test_run_arguments_end_with_a_separator_for_the_containers_arguments() -> None:
    artifact = BuiltOciImageArtifact(relpath="app/img", repository="team/app", tags=("1.0", "latest"))
    args = run_arguments(
        ContainerRuntime(ContainerRuntimeKind.podman, "/usr/bin/podman"),
        artifact,
        "oci_image app:img",
        ["--ulimit", "nofile=1024:1024"],
        load_only=False,
    )
    assert args == (
        "run",
        "--runtime",
        "/usr/bin/podman",
        "--layout",
        "{chroot}/app/img",
        "--name",
        "team/app:1.0",
        "--what",
        "oci_image app:img",
        "--run-arg=--ulimit",
        "--run-arg=nofile=1024:1024",
        "--",
    )
    untagged = BuiltOciImageArtifact(relpath="x", repository="r", tags=())
    assert "r:latest" in run_arguments(ContainerRuntime(ContainerRuntimeKind.docker, "docker"), untagged, "w", [], True)


def test_the_run_goal_starts_the_worker_from_its_sandbox() -> None:
    """The run goal starts processes in the workspace: the worker's interpreter, core and
    packages are reached from `{chroot}`, with the runner's immutable inputs and named cache."""
    runner = OcikitRunner(cache_name="ocikit_python_x", deps_directory="deps-1", core=EMPTY_DIGEST)
    request = runner.run_request(("run", "--"), digest=EMPTY_DIGEST, env={"A": "b"})
    assert request.args == ("{chroot}/.ocikit/python", "-S", "-m", "ocikit", "run", "--")
    assert request.extra_env["PYTHONPATH"] == "{chroot}/__ocikit:{chroot}/.ocikit/deps-1"
    assert request.extra_env["A"] == "b"
    assert dict(request.immutable_input_digests) == {"__ocikit": EMPTY_DIGEST}
    assert dict(request.append_only_caches) == {"ocikit_python_x": ".ocikit"}
