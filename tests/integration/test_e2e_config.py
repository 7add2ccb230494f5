"""How an image's config composes with its base's, read back by skopeo."""

from __future__ import annotations

import pytest
from e2e_support import BuildRoot, scratch_dir
from image_checks import Layout, rootfs_tree, skopeo_inspect, umoci_unpack

pytestmark = pytest.mark.integration

BUILD = """\
files(name="f", sources=["a.txt"])
oci_layer(name="base_layer", dependencies=[":f"], destination="/base")

oci_image(
    name="base",
    layers=[":base_layer"],
    entrypoint=["/bin/base"],
    cmd=["--base-cmd"],
    env={"B": "2", "A": "1"},
    labels={"l.a": "1", "l.b": "1"},
    exposed_ports=["80"],
    volumes=["/v1"],
    user="7:7",
    workdir="/base",
    stop_signal="SIGINT",
)

oci_image(
    name="child",
    base=":base",
    dependencies=[":f"],
    entrypoint=["/bin/child"],
    env={"C": "3", "A": "x"},
    labels={"l.b": "2", "l.c": "3"},
    exposed_ports=["53/udp", "80/tcp"],
    volumes=["/v2"],
    annotations={"e2e": "yes"},
)
"""


def test_child_config_merges_over_its_base(build_root: BuildRoot) -> None:
    with scratch_dir(build_root, "e2e_config", {"BUILD": BUILD, "a.txt": "a\n"}):
        build_root.package("e2e_config:base", "e2e_config:child")
    base_dir, child_dir = build_root.dist("e2e_config/base"), build_root.dist("e2e_config/child")
    child = skopeo_inspect(child_dir, "latest", "--config")["config"]
    assert child == {
        # a new entrypoint without `cmd` drops the base's Cmd, as `docker build` does
        "Entrypoint": ["/bin/child"],
        # names the base sets are overridden in place; new ones are appended in BUILD order
        "Env": ["B=2", "A=x", "C=3"],
        "Labels": {"l.a": "1", "l.b": "2", "l.c": "3"},
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Volumes": {"/v1": {}, "/v2": {}},
        "User": "7:7",
        "WorkingDir": "/base",
        "StopSignal": "SIGINT",
    }
    base = skopeo_inspect(base_dir, "latest", "--config")["config"]
    assert (base["Entrypoint"], base["Cmd"], base["Env"]) == (["/bin/base"], ["--base-cmd"], ["B=2", "A=1"])
    base_manifest, child_manifest = Layout(base_dir).manifest(), Layout(child_dir).manifest()
    assert child_manifest["layers"][:1] == base_manifest["layers"]
    assert len(child_manifest["layers"]) == 2
    assert child_manifest["annotations"] == {"e2e": "yes"}
    assert "annotations" not in base_manifest


def test_base_is_a_dependency_of_the_image(build_root: BuildRoot) -> None:
    with scratch_dir(build_root, "e2e_basedep", {"BUILD": BUILD, "a.txt": "a\n"}):
        run = build_root.run("dependencies", "e2e_basedep:child")
    assert run.returncode == 0, run.describe()
    assert "e2e_basedep:base" in run.stdout.split()


OWNERSHIP_BUILD = """\
files(name="home", sources=["home/profile"])
relocated_files(name="home_rel", files_targets=[":home"], src="e2e_owner/home", dest="")
oci_layer(name="home_layer", dependencies=[":home_rel"], destination="/home/app", owner="1000:1000")
oci_image(name="base", layers=[":home_layer"])

files(name="conf", sources=["conf/app.toml"])
relocated_files(name="conf_rel", files_targets=[":conf"], src="e2e_owner/conf", dest="")
oci_layer(name="conf_layer", dependencies=[":conf_rel"], destination="/home/app/conf")
oci_image(name="child", base=":base", layers=[":conf_layer"])
"""


def test_a_later_layer_keeps_the_owner_of_a_lower_layers_directory(build_root: BuildRoot, tmp_path) -> None:
    files = {"BUILD": OWNERSHIP_BUILD, "home/profile": "p\n", "conf/app.toml": "c\n"}
    with scratch_dir(build_root, "e2e_owner", files):
        build_root.package("e2e_owner:child")
    rootfs = umoci_unpack(build_root.dist("e2e_owner/child"), "latest", tmp_path / "bundle")
    tree = rootfs_tree(rootfs)
    assert (tree["home/app/conf"].uid, tree["home/app/conf/app.toml"].uid) == (0, 0)
    assert (tree["home/app/profile"].uid, tree["home/app/profile"].gid) == (1000, 1000)
    assert (tree["home/app"].uid, tree["home/app"].gid) == (1000, 1000)
