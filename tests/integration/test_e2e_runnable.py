"""A runnable image: busybox in a scratch image, its applets as declared symlinks, unpacked by
umoci and run by runc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from image_checks import Layout, rootfs_tree, umoci_unpack

pytestmark = pytest.mark.integration

BUSYBOX = Path("/bin/busybox")

SCRIPT = (
    "echo entry=sh-c args=$0,$1 greeting=$GREETING pwd=$(pwd) "
    "ids=$(/bin/busybox id -u):$(/bin/busybox id -g) "
    "readme=$(cat README.txt)"
)

BUILD = f"""\
files(name="busybox", sources=["bin/busybox"])
# bin/busybox -> busybox, so destination="/bin" puts it at /bin/busybox.
relocated_files(name="busybox_at_root", files_targets=[":busybox"], src="e2e_run/bin", dest="")
# Applets are symlinks to busybox: one relative, one absolute (resolved inside the image).
oci_layer(
    name="bin",
    dependencies=[":busybox_at_root"],
    destination="/bin",
    symlinks={{"sh": "busybox", "cat": "/bin/busybox"}},
)

# www/work/README.txt -> work/README.txt under /srv/www: the workdir exists, owned by 1000.
files(name="www_files", sources=["www/work/README.txt"])
relocated_files(name="www_rel", files_targets=[":www_files"], src="e2e_run/www", dest="")
oci_layer(name="www", dependencies=[":www_rel"], destination="/srv/www", owner="1000:1000")

oci_image(
    name="run",
    layers=[":bin", ":www"],
    entrypoint=["/bin/sh", "-c", {SCRIPT!r}],
    cmd=["first-arg", "second-arg"],
    env={{"GREETING": "hello-from-env"}},
    workdir="/srv/www/work",
    user="1000:1000",
)
"""


@pytest.mark.skipif(
    not (BUSYBOX.is_file() and shutil.which("runc") and shutil.which("umoci")),
    reason="needs a static /bin/busybox, runc and umoci",
)
def test_busybox_image_runs_under_runc(build_root: BuildRoot, tmp_path: Path) -> None:
    files = {
        "BUILD": BUILD,
        "bin/busybox": BUSYBOX.read_bytes(),
        "www/work/README.txt": "readme-content\n",
    }
    with scratch_dir(build_root, "e2e_run", files):
        (build_root.path / "e2e_run/bin/busybox").chmod(0o755)
        run = build_root.package("e2e_run:run")
        assert run.layer_processes_run == [
            "Build layer of oci_layer e2e_run:bin",
            "Build layer of oci_layer e2e_run:www",
        ], run.describe()
        layout_dir = build_root.dist("e2e_run/run")
        assert Layout(layout_dir).top()["digest"] == run.packaged["e2e_run/run"][1]
        bundle = tmp_path / "bundle"
        rootfs = umoci_unpack(layout_dir, "latest", bundle)

    tree = rootfs_tree(rootfs)
    assert tree["bin/busybox"].content == BUSYBOX.read_bytes()
    assert (tree["bin/busybox"].mode, tree["bin/busybox"].uid) == (0o755, 0)
    assert tree["bin/sh"].kind == tree["bin/cat"].kind == "other"
    assert (rootfs / "bin/sh").is_symlink() and (rootfs / "bin/cat").is_symlink()
    assert [os.readlink(rootfs / "bin/sh"), os.readlink(rootfs / "bin/cat")] == ["busybox", "/bin/busybox"]
    assert (tree["srv"].uid, tree["srv"].gid) == (0, 0)  # above the destination
    assert (tree["srv/www"].uid, tree["srv/www"].gid) == (1000, 1000)
    assert (tree["srv/www/work/README.txt"].mode, tree["srv/www/work/README.txt"].uid) == (0o644, 1000)

    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["terminal"] = False
    config_path.write_text(json.dumps(config))

    container = f"oci-e2e-{uuid.uuid4().hex[:12]}"
    try:
        proc = subprocess.run(
            ["runc", "run", "-b", str(bundle), container],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(["runc", "delete", "-f", container], capture_output=True, timeout=60)
    assert proc.returncode == 0, f"runc failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip() == (
        "entry=sh-c args=first-arg,second-arg greeting=hello-from-env pwd=/srv/www/work "
        "ids=1000:1000 readme=readme-content"
    )
