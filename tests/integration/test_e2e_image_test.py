"""`pants test` on `oci_image_test` targets through the real ./pants: a busybox image checked by
file, config and podman command checks (passing, and failing with expected vs actual), the
second run a cache hit of the same process (after a pantsd restart too), and a command check
without podman failing with a clear message while the others pass."""

from __future__ import annotations

import subprocess

import pytest
from e2e_support import BUSYBOX, PODMAN_RUN_ARGS, BuildRoot, PantsRun, busybox_layer_build, scratch_dir
from real_parts import require

pytestmark = pytest.mark.integration

DIR = "e2e_image_test"
RUN_ARGS = PODMAN_RUN_ARGS
CHECK_PREFIX = "Check e2e_image_test:img for "

BUILD = (
    busybox_layer_build(DIR)
    + """

oci_image(
    name="img",
    layers=[":bin"],
    entrypoint=["/bin/sh", "-c"],
    cmd=["echo default"],
    env={"GREETING": "hi"},
    repository="e2e/image-test",
)

oci_image_test(
    name="passes",
    image=":img",
    file_checks=[
        {"path": "/bin/busybox", "type": "file", "mode": "0755", "uid": 0, "gid": 0},
        {"path": "/bin/sh", "type": "symlink"},
        {"path": "/etc/shadow", "exists": False},
    ],
    config_checks={"entrypoint": ["/bin/sh", "-c"], "cmd": ["echo default"], "env": {"GREETING": "hi"}},
    command_checks=[
        {"args": ["echo greeting=$GREETING; echo oops >&2; exit 3"], "exit_code": 3,
          "stdout": "^greeting=hi$", "stderr": "oops"},
        {"args": ["ls", "/bin"], "entrypoint": ["/bin/busybox"], "stdout": "busybox"},
    ],
)

oci_image_test(
    name="fails",
    image=":img",
    file_checks=[{"path": "/bin/busybox", "mode": "0700"}],
    config_checks={"env": {"GREETING": "hello"}},
    command_checks=[{"args": ["echo nope"], "stdout": "^yes$"}],
)
"""
)


@pytest.fixture
def test_dir(build_root: BuildRoot):
    require("podman", "runc", str(BUSYBOX))
    with scratch_dir(build_root, DIR, {"BUILD": BUILD, "bin/busybox": BUSYBOX.read_bytes()}) as directory:
        (directory / "bin" / "busybox").chmod(0o755)
        yield build_root


def checks_run(run: PantsRun) -> list:
    return sorted(
        w.get("description")
        for w in run.workunits
        if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(CHECK_PREFIX)
    )


def test_checks_pass_and_the_second_run_is_a_cache_hit(test_dir: BuildRoot) -> None:
    first = test_dir.run("test", RUN_ARGS, f"{DIR}:passes", "--test-output=all")
    assert first.returncode == 0, first.describe()
    for line in (
        "PASS file /bin/busybox: file, mode 0755, owner 0:0",
        "PASS file /bin/sh: symlink",
        "PASS config env GREETING: expected 'hi', got 'hi'",
        "PASS command `echo greeting=$GREETING; echo oops >&2; exit 3`: exit status 3",
        "PASS command `/bin/busybox ls /bin`: exit status 0",
        "8 checks passed",
    ):
        assert line in first.output, first.describe()
    assert checks_run(first) == [f"{CHECK_PREFIX}{DIR}:passes"]
    again = test_dir.run("test", RUN_ARGS, f"{DIR}:passes")
    assert again.returncode == 0 and checks_run(again) == [], again.describe()
    test_dir.stop()  # a new pantsd: the result comes from the process cache, not memory
    restarted = test_dir.run("test", RUN_ARGS, f"{DIR}:passes")
    assert restarted.returncode == 0 and checks_run(restarted) == [], restarted.describe()
    assert f"{DIR}:passes succeeded" in restarted.output and "(cached locally)" in restarted.output, (
        restarted.describe()
    )


def test_failing_checks_say_which_and_what_was_expected(test_dir: BuildRoot) -> None:
    run = test_dir.run("test", RUN_ARGS, f"{DIR}:fails")
    assert run.returncode != 0
    for line in (
        "FAIL file /bin/busybox: mode: expected 0700, got 0755",
        "FAIL config env GREETING: expected 'hello', got 'hi'",
        "FAIL command `echo nope`: stdout: expected to match '^yes$', got 'nope\\n'",
        "3 checks, 3 failed",
        f"{DIR}:fails failed",
    ):
        assert line in run.output, run.describe()


def test_command_checks_without_podman_fail_saying_so_and_the_others_pass(test_dir: BuildRoot) -> None:
    run = test_dir.run(
        "test", RUN_ARGS, "--oci-runtime-search-path=['/nonexistent']", f"{DIR}:passes", "--test-output=all"
    )
    assert run.returncode != 0
    assert "PASS file /bin/busybox: file, mode 0755" in run.output, run.describe()
    assert (
        "FAIL command `echo greeting=$GREETING; echo oops >&2; exit 3`: a command check needs podman "
        "(`[oci].runtime`), and no working `podman` is on `[oci].runtime_search_path` (/nonexistent)"
    ) in run.output
    assert "6 checks passed" not in run.output and "8 checks, 2 failed" in run.output


def test_podman_keeps_no_test_container_and_no_test_name(test_dir: BuildRoot) -> None:
    run = test_dir.run("test", RUN_ARGS, "--test-force", f"{DIR}:passes")
    assert run.returncode == 0, run.describe()
    containers = subprocess.run(["podman", "ps", "-a", "--format", "{{.Image}}"], capture_output=True, text=True).stdout
    assert "oci-image-test" not in containers, "containers run with --rm"
    images = subprocess.run(["podman", "images", "--format", "{{.Repository}}"], capture_output=True, text=True).stdout
    assert "oci-image-test/e2e-image-test-passes" not in images, "the test's name for the image is removed"
