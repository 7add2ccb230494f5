"""Deploy manifests resolved to pushed digests, through the real ./pants and a real consumer:
an image is published to the Distribution registry on loopback, a Kubernetes Pod naming it by
address is packaged, and `podman kube play` pulls it by the resolved digest and runs it. A
Compose file naming it by repository is read back and checked against the publish record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from e2e_support import BuildRoot, scratch_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_fixtures import have_registry, start_registry  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.registry]

BUSYBOX = Path("/bin/busybox")
DIR = "e2e_deploy"

BUILD = f"""\
files(name="busybox", sources=["bin/busybox"])
relocated_files(name="busybox_at_root", files_targets=[":busybox"], src="{DIR}/bin", dest="")
oci_layer(name="bin", dependencies=[":busybox_at_root"], destination="/bin", symlinks={{"sh": "busybox"}})
oci_image(
    name="greeter",
    layers=[":bin"],
    entrypoint=["/bin/sh", "-c", "echo greeting=$GREETING from=$(/bin/busybox hostname)"],
    env={{"GREETING": "hello-from-a-pushed-digest"}},
    repository="e2e/greeter",
)
oci_deploy_manifests(name="k8s", sources=["k8s/*.yaml"])
oci_deploy_manifests(name="compose", sources=["compose.yaml"], registry="@e2e")
"""

POD = """\
# Runs once and prints its greeting; podman kube play names the container POD-CONTAINER.
apiVersion: v1
kind: Pod
metadata:
  name: {pod}
spec:
  restartPolicy: Never
  containers:
  - name: greeter
    image: //{dir}:greeter
"""

COMPOSE = """\
services:
  greeter:
    image: e2e/greeter:latest   # by repository
  db:
    image: docker.io/library/postgres:15
"""


def require(ok: bool, what: str) -> None:
    if not ok:
        pytest.fail(f"this test needs {what}; `.ci/run` installs it")


def podman(*args: str, env: dict, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_podman_kube_play_runs_the_image_by_the_digest_package_wrote(build_root: BuildRoot, tmp_path: Path) -> None:
    require(have_registry(), "docker-registry (Debian package docker-registry)")
    require(shutil.which("podman") is not None, "podman (Debian package podman)")
    require(shutil.which("runc") is not None, "runc (Debian package runc)")
    require(BUSYBOX.is_file(), "a static /bin/busybox (Debian package busybox-static)")
    pod = f"oci-e2e-{uuid.uuid4().hex[:10]}"
    # podman kube play takes no --ulimit; these machines need the limits and runc (crun
    # fails on their cgroups), so they come from a containers.conf of the test's own.
    conf = tmp_path / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n'
    )
    podman_env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    files = {
        "BUILD": BUILD,
        "bin/busybox": BUSYBOX.read_bytes(),
        "k8s/pod.yaml": POD.format(pod=pod, dir=DIR),
        "compose.yaml": COMPOSE,
    }
    with start_registry(tmp_path / "registry", "none") as registry, scratch_dir(build_root, DIR, files):
        (build_root.path / DIR / "bin/busybox").chmod(0o755)
        flag = f"--oci-registries={{'e2e': {{'address': '{registry.host}', 'default': True}}}}"
        published = build_root.run(flag, "publish", f"{DIR}:greeter")
        assert published.returncode == 0, published.describe()
        record = json.loads(build_root.dist(f"{DIR}/greeter.publish.json").read_text())
        pushed = f"{registry.host}/e2e/greeter@{record['digest']}"

        packaged = build_root.run(flag, "package", f"{DIR}:k8s", f"{DIR}:compose")
        assert packaged.returncode == 0, packaged.describe()
        assert f"    //{DIR}:greeter -> {pushed}" in packaged.output
        manifest = build_root.dist(f"{DIR}/k8s/k8s/pod.yaml")
        assert manifest.read_text() == POD.format(pod=pod, dir=DIR).replace(f"//{DIR}:greeter", pushed)

        dependents = build_root.run(flag, "dependents", f"{DIR}:greeter")
        assert dependents.stdout.split() == [f"{DIR}:compose", f"{DIR}:k8s"], dependents.describe()

        compose = yaml.safe_load(build_root.dist(f"{DIR}/compose/compose.yaml").read_text())
        assert compose["services"]["greeter"]["image"] == pushed
        assert compose["services"]["db"]["image"] == "docker.io/library/postgres:15"

        mark = registry.mark()
        try:
            played = podman("kube", "play", "--tls-verify=false", str(manifest), env=podman_env)
            waited = podman("wait", f"{pod}-greeter", env=podman_env)
            assert waited.stdout.strip() == "0", waited
            logs = podman("logs", f"{pod}-greeter", env=podman_env)
            image = json.loads(
                podman("inspect", "--format", "{{json .ImageDigest}}", f"{pod}-greeter", env=podman_env).stdout
            )
        finally:
            podman("kube", "down", str(manifest), env=podman_env, check=False)
            podman("rmi", "--ignore", pushed, env=podman_env, check=False)
        assert logs.stdout.strip() == f"greeting=hello-from-a-pushed-digest from={pod}", (played.stdout, logs)
        assert image == record["digest"]
        pulled = [(r.method, r.path) for r in registry.requests_since(mark) if "/manifests/" in r.path]
        assert ("GET", f"/v2/e2e/greeter/manifests/{record['digest']}") in pulled, pulled
        assert all(r[1].endswith(record["digest"]) for r in pulled), "podman asked for a tag, not the digest"
    leftovers = podman("ps", "-a", "--filter", f"name={pod}", "--format", "{{.Names}}", env=podman_env)
    assert leftovers.stdout.strip() == ""
