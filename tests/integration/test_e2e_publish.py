"""`pants publish` and base images from a registry, through the real ./pants, against the real
Distribution registry on loopback (Basic auth), checked with skopeo, umoci and runc."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from image_checks import Layout, umoci_unpack
from real_parts import needs
from registry_fixtures import served_manifest, skopeo, start_registry
from registry_images import write_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.registry,
    needs("docker-registry", "skopeo"),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    with start_registry(tmp_path_factory.mktemp("publish-registry"), "basic") as reg:
        yield reg


@pytest.fixture(scope="module")
def creds_env(registry, tmp_path_factory: pytest.TempPathFactory) -> dict:
    config_dir = registry.docker_config(tmp_path_factory.mktemp("docker-config"))
    return {"DOCKER_CONFIG": str(config_dir)}


def registries_flag(registry) -> str:
    return f"--oci-registries={{'e2e': {{'address': '{registry.host}', 'default': True}}}}"


def record(build_root: BuildRoot, relpath: str) -> dict:
    return json.loads(build_root.dist(f"{relpath}.publish.json").read_text())


@pytest.mark.parametrize("mode", ["none", "basic", "token"])
def test_publish_pushes_the_packaged_digest_then_nothing_the_second_time(
    build_root: BuildRoot, mode: str, tmp_path: Path
) -> None:
    targets = ("examples/hello:hello", "examples/multiarch:multiarch")
    build_root.package(*targets)  # what `package` printed is what must land
    with start_registry(tmp_path / "registry", mode) as registry:
        creds_env = {"DOCKER_CONFIG": str(registry.docker_config(tmp_path / "docker-config"))}
        _publish_twice(build_root, registry, creds_env, targets)


def _publish_twice(build_root: BuildRoot, registry, creds_env: dict, targets) -> None:
    first = build_root.run("publish", registries_flag(registry), *targets, env=creds_env)
    assert first.returncode == 0, first.describe()
    if registry.creds:
        assert registry.password not in first.output
    for relpath, repo in (
        ("examples.hello/hello", "examples/hello"),
        ("examples.multiarch/multiarch", "examples/multiarch"),
    ):
        digest = Layout(build_root.dist(relpath)).top()["digest"]
        pushed = record(build_root, relpath)
        assert pushed["digest"] == digest
        assert pushed["stats"]["blobs_uploaded"] > 0
        packaged = Layout(build_root.dist(relpath)).blob(digest)
        for reference in (f"{repo}:latest", f"{repo}@{digest}"):
            assert served_manifest(registry, reference) == packaged, (
                f"the registry serves exactly the packaged manifest's bytes for {reference}"
            )
    second = build_root.run("publish", registries_flag(registry), *targets, env=creds_env)
    assert second.returncode == 0, second.describe()
    for relpath in ("examples.hello/hello", "examples.multiarch/multiarch"):
        stats = record(build_root, relpath)["stats"]
        assert (stats["blobs_uploaded"], stats["bytes_uploaded"]) == (0, 0), stats


def test_publish_without_credentials_fails_with_one_clear_line(build_root: BuildRoot, registry, tmp_path: Path) -> None:
    empty = tmp_path / "empty-config"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    run = build_root.run(
        "publish", registries_flag(registry), "examples/hello:hello", env={"DOCKER_CONFIG": str(empty)}
    )
    assert run.returncode != 0
    assert "ocikit push-run: error: examples/hello:hello:" in run.output and "UNAUTHORIZED" in run.output.upper()
    assert "Traceback" not in run.output


@needs("runc", root=True)
def test_base_pulled_by_digest_is_built_on_runs_and_is_mounted_on_push(
    build_root: BuildRoot, registry, creds_env: dict, tmp_path: Path
) -> None:
    seed = write_image(tmp_path / "seed", tags=("1",))
    base_repo = f"{registry.host}/library/busybox"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        registry.creds,
        f"oci:{seed.layout}:1",
        f"docker://{base_repo}:1",
    )
    base_digest = json.loads(
        skopeo("inspect", "--tls-verify=false", "--creds", registry.creds, f"docker://{base_repo}:1").stdout
    )["Digest"]
    build_root.write("e2e_pull/msg.txt", "built on a pulled base\n")
    build_root.write(
        "e2e_pull/BUILD",
        f"""
files(name="msg", sources=["msg.txt"])
oci_pull(name="busybox", image="{base_repo}:1@{base_digest}")
oci_image(
    name="app",
    base=":busybox",
    dependencies=[":msg"],
    entrypoint=["/bin/busybox", "cat", "/e2e_pull/msg.txt"],
    repository="e2e/app",
)
""",
    )
    tag_only = build_root.run("package", "e2e_pull:app", env=creds_env)
    assert tag_only.returncode == 0, tag_only.describe()
    layout = Layout(build_root.dist("e2e_pull/app"))
    base_manifest = json.loads(
        skopeo(
            "inspect", "--tls-verify=false", "--creds", registry.creds, "--raw", f"docker://{base_repo}@{base_digest}"
        ).stdout
    )
    base_layers = [layer["digest"] for layer in base_manifest["layers"]]
    assert layout.layer_digests()[: len(base_layers)] == base_layers
    for digest in base_layers:
        assert layout.blob_path(digest).is_file(), "the layout is complete without the registry"

    bundle = tmp_path / "bundle"
    umoci_unpack(build_root.dist("e2e_pull/app"), "latest", bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
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
    assert proc.stdout.strip() == "built on a pulled base", proc.stderr

    published = build_root.run("publish", registries_flag(registry), "e2e_pull:app", env=creds_env)
    assert published.returncode == 0, published.describe()
    stats = record(build_root, "e2e_pull/app")["stats"]
    assert stats["blobs_mounted"] == len(base_layers), stats
    copied = tmp_path / "copied"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        registry.creds,
        f"docker://{registry.host}/e2e/app:latest",
        f"oci:{copied}:latest",
    )
    assert Layout(copied).top()["digest"] == layout.top()["digest"]


def test_a_tag_the_lockfile_lacks_is_refused_naming_the_goal_that_adds_it(build_root: BuildRoot) -> None:
    build = 'oci_pull(name="b", image="127.0.0.1:5000/library/busybox:1")\noci_image(name="img", base=":b")\n'
    # Removed afterwards: a tag-only pull left in the shared root would be tracked by every
    # later `generate-lockfiles` there.
    with scratch_dir(build_root, "e2e_unpinned", {"BUILD": build}):
        run = build_root.run("package", "e2e_unpinned:img")
    assert run.returncode != 0
    assert (
        "The `image` field in target e2e_unpinned:b has the value '127.0.0.1:5000/library/busybox:1', a tag "
        "without a digest"
    ) in run.output
    assert "Run `pants generate-lockfiles --resolve=oci-base-images` to add it" in run.output


def test_an_image_built_on_our_own_image_mounts_its_layers(build_root: BuildRoot, tmp_path: Path) -> None:
    with start_registry(tmp_path / "registry", "none") as registry:
        flag = registries_flag(registry)
        first = build_root.run("publish", flag, "examples/layered:layered")
        assert first.returncode == 0, first.describe()
        second = build_root.run("publish", flag, "examples/derived:derived")
        assert second.returncode == 0, second.describe()
    stats = record(build_root, "examples.derived/derived")["stats"]
    assert stats["blobs_mounted"] == 3, stats  # layered's three layers
    assert stats["blobs_uploaded"] == 2, stats  # derived's own layer and config


def test_publish_at_debug_level_never_prints_the_credentials(build_root: BuildRoot, registry, creds_env: dict) -> None:
    import base64

    secrets = [
        registry.password,
        base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode(),
    ]
    build_root.run("package", "examples/hello:hello")
    run = build_root.run(
        "--no-pantsd",
        "-ldebug",
        "--oci-env-vars=['OCIKIT_LOG_LEVEL']",
        "publish",
        registries_flag(registry),
        "examples/hello:hello",
        env={**creds_env, "OCIKIT_LOG_LEVEL": "debug"},
    )
    assert run.returncode == 0, run.describe()
    logs = [run.output]
    logs += [p.read_text(errors="replace") for p in (build_root.path / ".pants.d").rglob("*.log")]
    logs += [p.read_text(errors="replace") for p in build_root.workunit_logs.rglob("*.json")]
    for secret in secrets:
        assert all(secret not in text for text in logs), "a credential leaked into the output or logs"
    assert "DEBUG" in run.output, "the run really logged at debug level"
    assert "ocikit DEBUG" in run.output, "the registry client really logged at debug level"


def test_auto_compression_publishes_to_loopback_the_uncompressed_image_package_printed(
    build_root: BuildRoot, tmp_path: Path
) -> None:
    """`[oci].compression = auto` with only a loopback registry: `package` prints the digest of
    an image with plain tar layers, and `publish` pushes exactly that image."""
    with start_registry(tmp_path / "registry", "none") as registry:
        flags = ("--oci-compression=auto", registries_flag(registry))
        packaged = build_root.run(*flags, "package", "examples/layered:layered")
        assert packaged.returncode == 0, packaged.describe()
        ((repository, printed),) = [v for k, v in packaged.packaged.items() if k.endswith("layered")]
        layout = Layout(build_root.dist("examples.layered/layered"))
        assert layout.top()["digest"] == printed
        manifest = layout.manifest()
        assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar"}
        published = build_root.run(*flags, "publish", "examples/layered:layered")
        assert published.returncode == 0, published.describe()
        assert record(build_root, "examples.layered/layered")["digest"] == printed
        assert served_manifest(registry, "examples/layered:latest") == layout.blob(printed)
    # The same target without a loopback-only destination is gzip, as with compression=gzip.
    plain = build_root.run("--oci-compression=auto", "package", "examples/layered:layered")
    assert plain.returncode == 0, plain.describe()
    gzip_layers = Layout(build_root.dist("examples.layered/layered")).manifest()["layers"]
    assert {layer["mediaType"] for layer in gzip_layers} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
