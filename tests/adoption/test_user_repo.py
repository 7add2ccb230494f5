"""The plugin as a new user gets it: a separate Pants repo, a venv holding only
`pantsbuild.pants==2.17.1`, and our wheel installed by Pants itself through `[GLOBAL].plugins`
from a local find-links directory. Layer, pull and push processes all run there; the images
are read by skopeo and umoci and published to a real registry with Basic auth."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from adoption_support import (
    WORKER_SETUP_DESCRIPTION,
    MissingPart,
    build_plugin,
    machine_paths,
    pex_cli,
    process_lines,
    stock_pants_venv,
    user_repo_toml,
    write_stock_launcher,
)

from pants_oci.util_rules.core import PULL_ENV

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "integration"))
sys.path.insert(0, str(TESTS / "registry"))
from e2e_support import BuildRoot, PantsRun  # noqa: E402
from image_checks import Layout, skopeo_inspect, umoci_unpack  # noqa: E402
from registry_fixtures import have_registry, skopeo, start_registry  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.registry]

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYOUT = "app/img"  # dist/ path of app:img

APP_BUILD = """\
files(name="files", sources=["*.txt", "bin/*"])
oci_image(name="img", dependencies=[":files"], repository="user/app", entrypoint=["/app/bin/tool"])
"""


@dataclass
class UserRepo:
    root: BuildRoot
    env: dict  # HOME of its own (fresh pex and Pants caches), DOCKER_CONFIG for the registry
    venv: Path
    find_links: Path

    def run(self, *args: str) -> PantsRun:
        return self.root.run(*args, env=self.env)

    def ok(self, *args: str) -> PantsRun:
        result = self.run(*args)
        assert result.returncode == 0, result.describe()
        return result


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    if not have_registry():
        pytest.fail("the Distribution registry is needed: apt-get install docker-registry")
    with start_registry(tmp_path_factory.mktemp("user-registry"), "basic") as reg:
        yield reg


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory, registry):
    base = tmp_path_factory.mktemp("user-repo")
    try:
        venv = stock_pants_venv()
        pex = pex_cli()
        build_plugin(base / "find-links")
    except MissingPart as e:
        pytest.fail(str(e))
    path = base / "repo"
    (path / "app" / "bin").mkdir(parents=True)
    (path / "app" / "hello.txt").write_text("hello from a user repo\n")
    (path / "app" / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (path / "app" / "bin" / "tool").chmod(0o755)
    (path / "app" / "BUILD").write_text(APP_BUILD)
    registries = f'[oci]\nregistries = {{ local = {{ address = "{registry.host}", default = true }} }}\n'
    (path / "pants.toml").write_text(user_repo_toml(base / "find-links", pex) + "\n" + registries)
    write_stock_launcher(path, venv)
    home = base / "home"
    home.mkdir()
    env = {"HOME": str(home), "DOCKER_CONFIG": str(registry.docker_config(base / "docker-config"))}
    repo = UserRepo(BuildRoot(path, base / "state"), env, venv, base / "find-links")
    try:
        yield repo
    finally:
        repo.root.stop()


@pytest.fixture(scope="module")
def gzip_build(user_repo: UserRepo, tmp_path_factory: pytest.TempPathFactory):
    run = user_repo.ok("package", "app:img")
    copy = tmp_path_factory.mktemp("gzip-layout") / "img"
    subprocess.run(["cp", "-a", str(user_repo.root.dist(LAYOUT)), str(copy)], check=True)
    return run, Layout(copy)


def test_the_stock_venv_has_pants_but_none_of_the_plugins_dependencies(user_repo: UserRepo):
    python = str(user_repo.venv / "bin" / "python")
    env = {"PATH": "/usr/bin:/bin"}  # not ./run-tests' PYTHONPATH
    assert subprocess.run([python, "-c", "import pants.version"], env=env).returncode == 0
    for module in ("requests", "zstandard", "pants_oci", "ocikit"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, env=env)
        assert probe.returncode != 0, f"the stock venv should not have {module}"


def test_pants_installs_the_wheel_and_builds_a_gzip_image_read_by_skopeo_and_umoci(
    user_repo: UserRepo, gzip_build, tmp_path: Path
):
    run, layout = gzip_build
    assert "Resolving plugins: pants-oci==" in run.stderr, run.describe()
    ((repository, digest),) = run.packaged.values()
    assert repository == "user/app" and layout.top()["digest"] == digest
    assert [layer["mediaType"] for layer in layout.manifest()["layers"]] == [GZIP]
    assert skopeo_inspect(layout.path, "latest")["Digest"] == digest
    rootfs = umoci_unpack(layout.path, "latest", tmp_path / "bundle")
    assert (rootfs / "app" / "hello.txt").read_text() == "hello from a user repo\n"
    assert (rootfs / "app" / "bin" / "tool").stat().st_mode & 0o777 == 0o755


def test_a_zstd_image_has_the_same_tar_inside(user_repo: UserRepo, gzip_build):
    _, gzip_layout = gzip_build
    run = user_repo.ok("package", "--oci-compression=zstd", "app:img")
    layout = Layout(user_repo.root.dist(LAYOUT))
    ((_, digest),) = run.packaged.values()
    assert [layer["mediaType"] for layer in layout.manifest()["layers"]] == [ZSTD]
    assert skopeo_inspect(layout.path, "latest")["Digest"] == digest
    # umoci 0.4.7 reads no zstd: decompress with the zstd tool and compare with the gzip image.
    (blob,) = layout.layer_digests()
    tar = subprocess.run(["zstd", "-d", "-c", str(layout.blob_path(blob))], capture_output=True, check=True).stdout
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    assert layout.config()["rootfs"]["diff_ids"] == [diff_id] == gzip_layout.config()["rootfs"]["diff_ids"]


@pytest.fixture(scope="module")
def published(user_repo: UserRepo, gzip_build, registry):
    run = user_repo.ok("publish", "app:img")
    return run, gzip_build[1].top()["digest"]


def test_publish_pushes_with_basic_auth(registry, published):
    run, digest = published
    assert "ModuleNotFoundError" not in run.output
    remote = json.loads(
        skopeo(
            "inspect", "--tls-verify=false", "--creds", registry.creds, f"docker://{registry.host}/user/app:latest"
        ).stdout
    )
    assert remote["Digest"] == digest
    assert (
        skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/user/app:latest", check=False).returncode
        != 0
    ), "the registry should refuse anonymous reads"


@pytest.fixture(scope="module")
def derived_build(user_repo: UserRepo, registry, published):
    """An image on the published one as an `oci_pull` base: a pull process and a layer process,
    both cold, logged with -ldebug."""
    _, digest = published
    user_repo.root.write("derived/extra.txt", "derived\n")
    user_repo.root.write(
        "derived/BUILD",
        f"""\
oci_pull(name="base", image="{registry.host}/user/app:latest@{digest}")
files(name="files", sources=["extra.txt"])
oci_image(name="derived", base=":base", dependencies=[":files"], repository="user/derived")
""",
    )
    # pantsd keeps the log level it started with: Process lines need a run of its own.
    return user_repo.ok("--no-pantsd", "-ldebug", "package", "derived:derived")


def test_an_oci_pull_base_comes_from_the_registry_with_credentials(derived_build: PantsRun, user_repo, gzip_build):
    layout = Layout(user_repo.root.dist("derived/derived"))
    base_layers = gzip_build[1].layer_digests()
    assert layout.layer_digests()[:1] == base_layers and len(layout.layer_digests()) == 2
    assert layout.blob(base_layers[0])  # the pulled blob is in the layout, verified


def _env(line: str) -> dict:
    body = re.search(r"env: \{([^}]*)\}", line).group(1)
    return dict(re.findall(r'"([^"]+)": "([^"]*)"', body))


def test_debug_process_lines_show_no_machine_path_in_layer_and_pull_processes(
    derived_build: PantsRun, user_repo: UserRepo
):
    lines = process_lines(derived_build.output)
    layer = [line for line in lines if 'description: "Build layer of ' in line]
    pull = [line for line in lines if 'description: "Pull ' in line]
    setup = [line for line in lines if f'description: "{WORKER_SETUP_DESCRIPTION}"' in line]
    assert layer and pull, derived_build.describe()
    forbidden = machine_paths(user_repo.root.path, user_repo.venv, Path(user_repo.env["HOME"]))
    for line in layer + pull:
        argv = re.search(r"argv: \[([^\]]*)\]", line).group(1)
        assert argv.startswith('".ocikit/python", "-S", "-m", "ocikit"'), line
        env = _env(line)
        # What this user set (DOCKER_CONFIG here; this machine sets SSL_CERT_FILE and
        # REQUESTS_CA_BUNDLE) is passed and keys the pull, as documented; nothing else is.
        user_set = {k: v for k, v in {**os.environ, **user_repo.env}.items() if k in PULL_ENV}
        assert set(env) - set(user_set) <= {"PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE"}, line
        assert all(env[k] == user_set[k] for k in set(env) & set(user_set)), line
        keyed = line
        for k, v in user_set.items():
            keyed = keyed.replace(f'"{k}": "{v}"', "")
        assert not [p for p in forbidden if p in keyed], line
        assert "cache_scope: Successful" in line
    # The one process with a machine path (the interpreter) is never cached on disk.
    assert all("cache_scope: PerRestartSuccessful" in line for line in setup)
