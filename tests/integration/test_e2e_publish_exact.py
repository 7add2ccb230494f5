"""`pants publish` pushes exactly the images the command names, however Pants is started: from
a subdirectory, by a program that leaves `$PWD` naming the build root (as `subprocess.run(...,
cwd=...)` does), through Pants' native client or its Python client, and with `--changed-since`.
Each case checks the real registry's catalog and tags, the run record, and that conflicting
targets are refused before anything is pushed.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from e2e_support import REPO, BuildRoot, copy_sources
from real_parts import needs
from registry_fixtures import start_registry

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo", "git")]

# Four images in nested directories (`publish ::` from exact/b names b and c only), and the
# repository each pushes to.
IMAGES = {"exact:a": "exact/a", "exact/b:b": "exact/b", "exact/b/c:c": "exact/c", "exact/d:d": "exact/d"}


def _image_build(name: str, shared: bool = False, labels: str = "") -> str:
    layers = '[":own", "//exact:shared"]' if shared else '[":own"]'
    return (
        f'files(name="own_files", sources=["{name}.txt"])\n'
        'oci_layer(name="own", dependencies=[":own_files"], destination="/own")\n'
        f'oci_image(name="{name}", layers={layers}, repository="exact/{name}"{labels})\n'
    )


@pytest.fixture(scope="module")
def root(e2e_base: Path):
    """A build root of its own, under git (for `--changed-since`), with the four images."""
    build = BuildRoot(e2e_base / "root-exact", e2e_base / "state-exact")
    copy_sources(e2e_base / "pristine", build.path)
    build.write("exact/shared.txt", "shared\n")
    build.write("exact/a.txt", "a\n")
    build.write(
        "exact/BUILD",
        _image_build("a") + 'files(name="shared_files", sources=["shared.txt"])\n'
        'oci_layer(name="shared", dependencies=[":shared_files"], destination="/shared")\n',
    )
    for name in "bcd":
        directory = next(k for k in IMAGES if k.endswith(f":{name}")).split(":")[0]
        build.write(f"{directory}/{name}.txt", f"{name}\n")
        build.write(f"{directory}/BUILD", _image_build(name, shared=name in "bc"))
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *command], cwd=build.path, check=True, capture_output=True)
    try:
        yield build
    finally:
        build.stop()


def flag(registry) -> str:
    return f"--oci-registries={{'r': {{'address': '{registry.host}', 'default': True}}}}"


def catalog(registry) -> dict[str, list[str]]:
    """Every repository the registry holds, with its tags."""

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"http://{registry.host}/v2/{path}", timeout=30) as response:
            return json.load(response)

    return {repo: sorted(get(f"{repo}/tags/list")["tags"] or []) for repo in get("_catalog")["repositories"]}


def run_record(root: BuildRoot) -> dict[str, str]:
    return {e["key"]: e["status"] for e in json.loads(root.dist("oci-publish.json").read_text())["images"]}


def venv_bin(name: str) -> str:
    venv = subprocess.run([str(REPO / "pants"), "--print-venv"], capture_output=True, text=True, check=True)
    return str(Path(venv.stdout.strip()) / "bin" / name)


def native_client() -> list[str]:
    subprocess.run([str(REPO / "pants"), "--version"], capture_output=True, check=True)  # installs the client
    return [venv_bin("pants-native-client")]


def native_env() -> dict[str, str]:
    return {"_PANTS_SERVER_EXE": venv_bin("pants")}


# How each case starts Pants: (launcher, cwd, env) -- `None` launcher is ./pants (bash sets $PWD).
STALE_PWD = "stale-pwd"


def _start(root: BuildRoot, how: str, cwd: str) -> dict:
    if how == "./pants":
        depth = len(Path(cwd).parts) if cwd else 0
        return {"cwd": cwd, "launcher": ["/".join([".."] * depth + ["pants"]) if depth else "./pants"]}
    env = {"PWD": str(root.path)}  # what a program that chdirs without a shell leaves behind
    if how == "native":
        return {"cwd": cwd, "launcher": native_client(), "env": {**env, **native_env()}}
    return {"cwd": cwd, "launcher": [venv_bin("pants")], "env": env}


@pytest.mark.parametrize("how", ["./pants", "native", "python-client"])
def test_publish_from_a_subdirectory_pushes_only_its_images(root: BuildRoot, tmp_path: Path, how: str):
    with start_registry(tmp_path / "registry", "none") as registry:
        run = root.run("publish", flag(registry), "::", **_start(root, how, "exact/b"))
        assert run.returncode == 0, run.describe()
        assert catalog(registry) == {"exact/b": ["latest"], "exact/c": ["latest"]}, run.describe()
        assert run_record(root) == {"exact/b:b": "pushed", "exact/b/c:c": "pushed"}
        assert "exact/a" not in run.output and "exact/d" not in run.output

        again = root.run("publish", flag(registry), "::", **_start(root, how, "exact/b"))
        assert again.returncode == 0, again.describe()
        assert again.output.count("skipped (already published") == 2, again.describe()
        assert run_record(root) == {"exact/b:b": "already published", "exact/b/c:c": "already published"}


def test_two_explicit_targets_are_the_run(root: BuildRoot, tmp_path: Path):
    with start_registry(tmp_path / "registry", "none") as registry:
        run = root.run("publish", flag(registry), "exact:a", "exact/d:d")
        assert run.returncode == 0, run.describe()
        assert catalog(registry) == {"exact/a": ["latest"], "exact/d": ["latest"]}
        assert run_record(root) == {"exact:a": "pushed", "exact/d:d": "pushed"}
        assert not list(root.dist().glob("exact.b*.publish.json"))


@pytest.mark.parametrize("dependents", [None, "transitive"])
def test_changed_since_publishes_the_changed_images(root: BuildRoot, tmp_path: Path, dependents):
    """An edited BUILD of d changes d; an edited shared file changes b and c only through their
    dependencies, so they are published only with --changed-dependents."""
    root.write("exact/d/BUILD", _image_build("d", labels=', labels={"edited": "yes"}'))
    root.write("exact/shared.txt", "shared, edited\n")
    changed = ["--changed-since=HEAD", *([f"--changed-dependents={dependents}"] if dependents else [])]
    expected = {"exact/d": ["latest"], **({"exact/b": ["latest"], "exact/c": ["latest"]} if dependents else {})}
    try:
        with start_registry(tmp_path / "registry", "none") as registry:
            run = root.run("publish", flag(registry), *changed)
            assert run.returncode == 0, run.describe()
            assert catalog(registry) == expected, run.describe()
            assert run_record(root) == {key: "pushed" for key in IMAGES if IMAGES[key] in expected}
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "exact"], cwd=root.path, check=True)


def _clash(root: BuildRoot) -> None:
    """A second target in exact/d that pushes exact/a:latest, as exact:a does."""
    root.write("exact/d/BUILD", _image_build("d") + 'oci_image(name="clash", layers=[":own"], repository="exact/a")\n')


@pytest.mark.parametrize("case", ["root", "subdirectory", STALE_PWD, "one-target", "changed-since"])
def test_conflicting_targets_are_refused_in_every_mode(root: BuildRoot, tmp_path: Path, case: str):
    _clash(root)
    args, start = {
        "root": (["::"], {}),
        "subdirectory": (["::"], _start(root, "./pants", "exact/d")),
        STALE_PWD: (["::"], _start(root, "native", "exact/d")),
        "one-target": (["exact/d:clash"], {}),
        "changed-since": (["--changed-since=HEAD"], {}),
    }[case]
    try:
        with start_registry(tmp_path / "registry", "none") as registry:
            run = root.run("publish", flag(registry), *args, **start)
            assert run.returncode != 0, run.describe()
            assert f"exact:a and exact/d:clash would both be pushed to {registry.host}/exact/a:latest." in run.output, (
                run.describe()
            )
            assert "Traceback" not in run.output
            assert not [r for r in registry.requests() if r.method in ("PUT", "POST", "PATCH")]
            assert catalog(registry) == {}

            unaffected = root.run("publish", flag(registry), "exact/b:b")
            assert unaffected.returncode == 0, unaffected.describe()
            assert catalog(registry) == {"exact/b": ["latest"]}
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "exact"], cwd=root.path, check=True)


def test_an_image_the_command_does_not_name_cannot_fail_it(root: BuildRoot, tmp_path: Path):
    """With a stale `$PWD` the batch guess holds images the command does not name: one of them
    failing to build costs the batch, not the publish."""
    root.write(
        "exact/BUILD",
        (root.path / "exact" / "BUILD").read_text()
        + 'oci_image(name="broken", base="//exact:no_such_target", repository="exact/broken")\n',
    )
    try:
        with start_registry(tmp_path / "registry", "none") as registry:
            run = root.run("publish", flag(registry), "::", **_start(root, "native", "exact/b"))
            assert run.returncode == 0, run.describe()
            assert catalog(registry) == {"exact/b": ["latest"], "exact/c": ["latest"]}
            assert run_record(root) == {"exact/b:b": "pushed", "exact/b/c:c": "pushed"}
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "exact"], cwd=root.path, check=True)
