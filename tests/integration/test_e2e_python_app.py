"""examples/python end to end, through the real `../../pants` in a copy of its build root: a
small service with locked PyPI requirements (one with a native extension), as an image on its
Python base (`images:python-base`), which Pants builds from the Debian packages its lockfile
pins (fetched from a loopback mirror of exactly those files), run by podman and by runc.

What it proves: the image runs the app on the base's python3 (podman, runc, and `pants run`
with arguments after `--` and the app's exit status); an edit to the app re-runs its
code layer's process only, keeps every other layer's digest and `publish` uploads the code layer,
config and manifest only; the requirements layer is the same bytes from another build root at
another path with its own caches; and the bad inputs of a Python app fail at package time
naming the target and field.

Needs podman, runc, umoci, skopeo and docker-registry (Debian packages), root (umoci unpacks
with owners), PyPI, and the Debian archive apt uses (the locked .debs, once per machine, cached
in ~/.cache/pants-oci).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import REPO, BuildRoot, PantsRun, copy_sources
from image_checks import Layout, rootfs_tree, umoci_unpack
from sbom_checks import Sbom, validate

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "registry"))
from debian_archive import mirrored_lockfile, served  # noqa: E402
from python_tools import pex_cli_config  # noqa: E402
from real_parts import require  # noqa: E402
from registry_fixtures import launch_registry  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.registry]

IMAGE = "images:greeter"
# charset-normalizer's native extension, from the wheel for the base's Python (3.11).
NATIVE = f"md.cpython-311-{os.uname().machine}-linux-gnu.so"
PYTHON_LINE = f"python 3.11.2 at /usr/bin/python3; native: {NATIVE}"
LAYOUT = "images/greeter"
GREETING = "src/python/greeter/greeting.py"
# podman on these machines: crun fails on hybrid cgroups, and the default ulimits are refused.
PODMAN_RUN = (
    "podman",
    "--runtime",
    "runc",
    "run",
    "--rm",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
)


@dataclass
class PythonRoot:
    root: BuildRoot
    env: dict

    def run(self, *args: str) -> PantsRun:
        return self.root.run(*args, env=self.env)

    def package(self) -> PantsRun:
        run = self.run("package", IMAGE)
        assert run.returncode == 0, run.describe()
        return run

    def layout(self) -> Layout:
        return Layout(self.root.dist(LAYOUT))


def app_layers(layout: Layout) -> dict[str, str]:
    """`{history created_by: layer digest}` of the layers the app added to the base."""
    manifest, config = layout.manifest(), layout.config()
    # The base is built by Pants too: its layers' history starts with "pants: oci_debian_packages".
    ours = [h["created_by"] for h in config["history"] if h.get("created_by", "").startswith("pants: oci_python_app")]
    return dict(zip(ours, manifest["layers"][-len(ours) :])) if ours else {}


@pytest.fixture(scope="module")
def machine() -> None:
    # Root: umoci unpacks with owners.
    require("podman", "runc", "umoci", "skopeo", "docker-registry", root=True)


@pytest.fixture(scope="module")
def registry(machine, tmp_path_factory: pytest.TempPathFactory):
    registry = launch_registry(tmp_path_factory.mktemp("python-registry"), "none")
    yield registry
    registry.stop()


DEBIAN_LOCKFILE = REPO / "examples/python/3rdparty/oci/debian-packages.lock.yaml"


@pytest.fixture(scope="module")
def python_env(registry, tmp_path_factory: pytest.TempPathFactory):
    with served(mirrored_lockfile(DEBIAN_LOCKFILE, tmp_path_factory.mktemp("debian-mirror"))) as archive:
        yield {"PANTS_CONFIG_FILES": f"+['{pex_cli_config()}']", "PANTS_OCI_DEBIAN_ARCHIVE": archive}


def make_root(tmp: Path, python_env: dict) -> PythonRoot:
    copy_sources(REPO, tmp / "repo")
    root = BuildRoot(tmp / "repo" / "examples" / "python", tmp / "state", launcher="../../pants")
    return PythonRoot(root, python_env)


@pytest.fixture(scope="module")
def first(python_env: dict, tmp_path_factory: pytest.TempPathFactory):
    built = make_root(tmp_path_factory.mktemp("python-a"), python_env)
    yield built, built.package(), dict(app_layers(built.layout()))
    built.root.stop()


def podman_output(layout_dir: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [*PODMAN_RUN, f"oci:{layout_dir}:latest", *args], capture_output=True, text=True, timeout=300
        )
    finally:
        # podman names an image run from a layout after the layout's directory.
        subprocess.run(["podman", "rmi", "--ignore", f"localhost{layout_dir}:latest"], capture_output=True)


def test_the_image_runs_the_app_on_the_bases_python(first, tmp_path: Path) -> None:
    built, run, layers = first
    # dist/ as built from the sources (another test edits and restores the code): the same
    # digest as the module's first build, whichever tests ran in between.
    built.package()
    layout = built.layout()
    assert run.packaged[LAYOUT][1] == layout.top()["digest"]
    assert list(layers) == [
        "pants: oci_python_app images:app (requirements)",
        "pants: oci_python_app images:app (code)",
    ]
    config = layout.config()["config"]
    assert config["Entrypoint"] == ["python3", "-S", "/app/__main__.py"]
    assert config["Cmd"] == ["--name", "container"]
    expected = f"Hello, container! (1.2 million files served)\n{PYTHON_LINE}\n"
    podman = podman_output(built.root.dist(LAYOUT))
    assert (podman.returncode, podman.stdout) == (0, expected), podman.stderr
    # An independent runtime: umoci's bundle, run by runc; arguments replace `cmd`.
    rootfs = umoci_unpack(built.root.dist(LAYOUT), "latest", tmp_path / "bundle")
    tree = rootfs_tree(rootfs)  # before runc runs it: python writes __pycache__ where it can
    bundle_config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    bundle_config["process"]["terminal"] = False
    bundle_config["process"]["args"] = [*config["Entrypoint"], "--name", "runc"]
    (tmp_path / "bundle" / "config.json").write_text(json.dumps(bundle_config))
    runc = subprocess.run(
        ["runc", "run", "-b", str(tmp_path / "bundle"), f"python-e2e-{tmp_path.name}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert runc.stdout == expected.replace("container", "runc"), runc.stderr
    # Requirements installed flat with their bytecode; code and resources below their roots.
    assert "app/lib/humanize/__init__.py" in tree and "app/lib/humanize-4.9.0.dist-info/RECORD" in tree
    assert "app/lib/humanize/__pycache__/__init__.cpython-311.pyc" in tree
    assert f"app/lib/charset_normalizer/{NATIVE}" in tree  # the wheel for the image's Python
    assert {"app/src/greeter/greeting.py", "app/src/greeter/greeting.json", "app/__main__.py"} <= set(tree)
    assert not any("__pycache__" in path for path in tree if path.startswith("app/src/"))  # the default


def test_pants_run_runs_it_under_podman_with_the_arguments_after_the_separator(first) -> None:
    built = first[0]
    run_args = "--oci-run-args=['--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']"
    try:
        run = built.run("run", run_args, IMAGE, "--", "--name", "pants run")
        assert run.returncode == 0, run.describe()
        assert run.stdout == f"Hello, pants run! (1.2 million files served)\n{PYTHON_LINE}\n"
        usage = built.run("run", run_args, IMAGE, "--", "--no-such-flag")
        assert usage.returncode == 2, usage.describe()  # argparse's status, through podman and pants
        assert "greeter: error: unrecognized arguments: --no-such-flag" in usage.stderr
    finally:
        subprocess.run(["podman", "rmi", "--ignore", "examples/python-greeter:latest"], capture_output=True)


def test_an_app_edit_rebuilds_and_publishes_the_code_layer_only(first, registry) -> None:
    built, _, before = first
    registries = f"--oci-registries={{'e2e': {{'address': '{registry.host}', 'default': True}}}}"
    published = built.run("publish", registries, IMAGE)
    assert published.returncode == 0, published.describe()
    greeting = built.root.path / GREETING
    original = greeting.read_text()
    greeting.write_text(original.replace("files served", "files greeted"))
    try:
        edited = built.package()
        assert edited.layer_processes_run == ["Build layer of oci_python_app images:app (code)"], edited.describe()
        after = app_layers(built.layout())
        name = "pants: oci_python_app images:app (requirements)"
        assert after[name] == before[name]
        assert after["pants: oci_python_app images:app (code)"] != before["pants: oci_python_app images:app (code)"]
        again = built.run("publish", registries, IMAGE)
        assert again.returncode == 0, again.describe()
        stats = json.loads(built.root.dist(f"{LAYOUT}.publish.json").read_text())["stats"]
        code = after["pants: oci_python_app images:app (code)"]
        config = built.layout().manifest()["config"]
        # The code layer and the config; the manifest is not a blob.
        assert stats["blobs_uploaded"] == 2, stats
        assert stats["bytes_uploaded"] == code["size"] + config["size"], stats
    finally:
        greeting.write_text(original)


def test_the_requirements_layer_is_the_same_bytes_in_another_build_root(first, python_env, tmp_path_factory) -> None:
    _, _, layers = first
    other = make_root(tmp_path_factory.mktemp("python-b-elsewhere") / "deeper", python_env)
    try:
        other.package()
        theirs = app_layers(other.layout())
    finally:
        other.root.stop()
    assert other.root.path != first[0].root.path and other.root.store != first[0].root.store
    assert theirs == layers
    # The SBOM too: no path, time or order of this checkout in it (first rebuilt: an earlier
    # test edited and restored its code without packaging again).
    first[0].package()
    sbom = f"{LAYOUT}.spdx.json"
    assert other.root.dist(sbom).read_bytes() == first[0].root.dist(sbom).read_bytes()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_sbom_names_the_requirements_layer_distributions_and_the_bases_debian_packages(first, python_env) -> None:
    built, _, layers = first
    built.package()  # as built from the sources (an earlier test edits and restores the code)
    path = built.root.dist(f"{LAYOUT}.spdx.json")
    validate(path)
    sbom = Sbom(path)
    image = sbom.described()
    assert image["versionInfo"] == built.layout().top()["digest"]
    contained = sbom.related(image, "CONTAINS")
    # Exactly the distributions whose *.dist-info the requirements layer holds.
    requirements = built.layout().blob(layers["pants: oci_python_app images:app (requirements)"]["digest"])
    with tarfile.open(fileobj=io.BytesIO(requirements)) as tar:
        dist_infos = {
            m.group(1)
            for m in (re.match(r"^(?:\./)?app/lib/([^/]+)\.dist-info/METADATA$", n) for n in tar.getnames())
            if m
        }
    in_layer = {(_normalized(d.rsplit("-", 1)[0]), d.rsplit("-", 1)[1]) for d in dist_infos}
    pypi = {p["name"]: p for p in contained if any(u.startswith("pkg:pypi/") for u in sbom.purls(p))}
    assert {(_normalized(n), p["versionInfo"]) for n, p in pypi.items()} == in_layer
    assert {"humanize", "charset-normalizer"} <= {_normalized(n) for n in pypi}
    humanize = pypi["humanize"]
    assert sbom.purls(humanize) == ["pkg:pypi/humanize@4.9.0"] and humanize["licenseDeclared"] == "MIT"
    lockfile = (built.root.path / "3rdparty/python/default.lock").read_text()
    for package in pypi.values():  # every wheel is in the lockfile: its sha256 is the checksum
        (checksum,) = package["checksums"]
        assert f'"hash": "{checksum["checksumValue"]}"' in lockfile, package["name"]
    # First-party files with the targets that put them there, and the generated launcher.
    files = {f["fileName"]: f for f in contained if "fileName" in f}
    greeting = files["./app/src/greeter/greeting.py"]
    assert greeting["comment"] == "Put in the image by the Pants target src/python/greeter/greeting.py:lib."
    source = (built.root.path / GREETING).read_bytes()
    assert {"algorithm": "SHA256", "checksumValue": hashlib.sha256(source).hexdigest()} in greeting["checksums"]
    assert files["./app/__main__.py"]["comment"] == "Put in the image by the Pants target images:app."
    assert "./app/src/greeter/greeting.json" in files
    # The base: by digest, and the Debian packages its status.d records.
    (base,) = sbom.related(image, "DESCENDANT_OF")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    packaged = built.run("package", "images:python-base")
    assert packaged.returncode == 0, packaged.describe()
    base_layout = Layout(built.root.dist("images/python-base"))
    assert base["versionInfo"] == base_layout.top()["digest"]
    assert base["comment"] == f"Platform linux/{arch}. The oci_image images:python-base."
    debs = {p["name"]: p for p in sbom.related(base, "CONTAINS")}
    assert {"python3.11", "libc6", "ca-certificates", "tzdata", "dpkg"} <= set(debs), sorted(debs)
    assert sbom.purls(debs["libc6"])[0].startswith("pkg:deb/debian/libc6@2.36-")
    assert sbom.purls(debs["libc6"])[0].endswith(f"?arch={arch}")


def test_compile_bytecode_all_compiles_the_code_too(first) -> None:
    built = first[0]
    built.root.write(
        "all/BUILD",
        """
oci_python_app(name="app", binary="//src/python/greeter:bin", compile_bytecode="all")
oci_image(name="img", base="//images:python-base", layers=[":app"])
""",
    )
    try:
        run = built.run("package", "all:img")
    finally:
        shutil.rmtree(built.root.path / "all")
    assert run.returncode == 0, run.describe()
    layout = Layout(built.root.dist("all/img"))
    code = layout.manifest()["layers"][-1]["digest"]
    with tarfile.open(fileobj=io.BytesIO(layout.blob(code))) as tar:
        names = set(tar.getnames())
    assert {"app/src/greeter/__pycache__/greeting.cpython-311.pyc", "app/src/greeter/greeting.py"} <= names
    assert (
        app_layers(layout)["pants: oci_python_app all:app (requirements)"]
        == first[2]["pants: oci_python_app images:app (requirements)"]
    )


BAD = {
    "broad interpreter constraints": (
        'pex_binary(name="bin", entry_point="json.tool", interpreter_constraints=["CPython>=3.10,<3.12"])',
        "oci_python_app bad:app: the `interpreter_constraints` of bad:bin (CPython<3.12,>=3.10) allow "
        "Python 3.10, 3.11",
    ),
    "constraints the base cannot satisfy": (
        'pex_binary(name="bin", entry_point="json.tool", interpreter_constraints=["CPython==3.12.*"])',
        "oci_python_app bad:app needs a Python matching CPython==3.12.* (its `pex_binary`'s "
        "`interpreter_constraints`), but its image's base declares PYTHON_VERSION=3.11.2 (linux/amd64)",
    ),
    "not a pex_binary": (
        'target(name="bin")',
        "The `binary` field in target bad:app has an invalid value ':bin': bad:bin is a "
        "`target` target; expected a `pex_binary`.",
    ),
    "sources under no source root": (
        'python_sources(name="lib", sources=["x.py"])\n'
        'pex_binary(name="bin", entry_point="json.tool", dependencies=[":lib"])',
        "oci_python_app bad:app cannot place the code of bad:bin (its `binary` field): No source root found for `bad`.",
    ),
    "two sources on one stripped path": (
        'pex_binary(name="bin", entry_point="json.tool", '
        'dependencies=["//src/python/greeter:lib", "bad/lib/greeter:dup"])',
        "oci_python_app bad:app: two sources or resources of bad:bin (its `binary` field) land on "
        "the same path below their source roots",
    ),
    "a console script": (
        'pex_binary(name="bin", script="humanize")',
        "oci_python_app bad:app cannot use the `script` field of bad:bin",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_python_apps_fail_at_package_naming_the_target_and_field(first, case: str) -> None:
    built = first[0]
    binary, expected = BAD[case]
    build = f"""
{binary}
oci_python_app(name="app", binary=":bin")
oci_image(name="img", base="//images:python-base", layers=[":app"])
"""
    built.root.write("bad/BUILD", build)
    built.root.write("bad/x.py", "")
    # The same module below another source root (--source-root-patterns below).
    built.root.write("bad/lib/greeter/greeting.py", "GREETING = 'another'\n")
    built.root.write("bad/lib/greeter/BUILD", 'python_sources(name="dup")\n')
    try:
        run = built.run("package", "--source-root-patterns=['/src/python', '/bad/lib']", "bad:img")
    finally:
        shutil.rmtree(built.root.path / "bad")
    assert run.returncode != 0
    assert expected in " ".join(run.output.split()), run.describe()
