"""`./pants package examples::` in a copied build root, checked with skopeo and umoci."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from e2e_support import (
    EXAMPLE_LAYER_PROCESSES,
    EXAMPLE_SBOM_PROCESSES,
    EXAMPLES,
    BuildRoot,
    ExamplesBuild,
    sbom_process_kinds,
)
from image_checks import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    LayerSpec,
    diff_trees,
    expected_tree,
    files_under,
    rootfs_tree,
    run_tool,
    skopeo_inspect,
    umoci_unpack,
)

pytestmark = pytest.mark.integration

EPOCH = "1970-01-01T00:00:00Z"


# ---------------------------------------------------------------------------------------------
# The build itself
# ---------------------------------------------------------------------------------------------


def test_package_examples_runs_one_process_per_layer(examples_build: ExamplesBuild, build_root: BuildRoot) -> None:
    run = examples_build.run
    assert sorted(run.packaged) == sorted(layout for layout, _, _ in EXAMPLES.values())
    assert run.layer_processes_run == EXAMPLE_LAYER_PROCESSES, run.describe()
    counters = run.counters
    assert sbom_process_kinds(run) == EXAMPLE_SBOM_PROCESSES, run.describe()
    assert run.local_processes_besides_setup == len(EXAMPLE_LAYER_PROCESSES) + len(EXAMPLE_SBOM_PROCESSES)
    assert counters["local_cache_requests_cached"] == 0  # a cold, private local store
    assert build_root.pantsd_pid() is not None, "the session root should run a pantsd"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_printed_digest_is_the_layout_index_digest(examples_build: ExamplesBuild, name: str) -> None:
    layout_dir, repository, tags = EXAMPLES[name]
    printed_repository, printed_digest = examples_build.run.packaged[layout_dir]
    assert printed_repository == repository
    layout = examples_build.layout(name)
    entries = layout.index_json()["manifests"]
    assert [e["digest"] for e in entries] == [printed_digest] * len(tags)
    assert layout.tags() == tags
    for entry, tag in zip(entries, tags):
        assert entry["annotations"]["io.containerd.image.name"] == f"{repository}:{tag}"
    # skopeo finds the image by each tag and computes the same digest.
    for tag in tags:
        assert skopeo_inspect(layout.path, tag)["Digest"] == printed_digest


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_layout_is_complete_and_every_blob_matches_its_digest(examples_build: ExamplesBuild, name: str) -> None:
    layout = examples_build.layout(name)
    assert json.loads((layout.path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    stored = layout.stored_blobs()
    for digest in stored:
        data = layout.blob_path(digest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    for digest, size in layout.referenced_blobs().items():
        assert digest in stored, f"{name}: {digest} is referenced but missing"
        assert layout.blob_path(digest).stat().st_size == size


@pytest.mark.parametrize(
    "name",
    [
        "hello",
        "layered",
        "multiarch",
        "derived",
    ],
)
def test_layout_holds_only_reachable_blobs(examples_build: ExamplesBuild, name: str) -> None:
    layout = examples_build.layout(name)
    assert sorted(layout.referenced_blobs()) == layout.stored_blobs()


# ---------------------------------------------------------------------------------------------
# Image configs, read back by skopeo
# ---------------------------------------------------------------------------------------------


def _config(examples_build: ExamplesBuild, name: str, tag: str = "latest") -> dict:
    return skopeo_inspect(examples_build.layout_dir(name), tag, "--config")


def test_hello_config(examples_build: ExamplesBuild) -> None:
    config = _config(examples_build, "hello")
    assert (config["os"], config["architecture"], config["created"]) == ("linux", "amd64", EPOCH)
    assert config["config"] == {"Labels": {"org.opencontainers.image.title": "hello"}}
    assert len(config["rootfs"]["diff_ids"]) == 1
    assert [h["created_by"] for h in config["history"]] == [
        "pants: oci_image examples/hello:hello (its `dependencies`)"
    ]
    inspected = skopeo_inspect(examples_build.layout_dir("hello"), "latest")
    assert inspected["Labels"] == {"org.opencontainers.image.title": "hello"}
    assert inspected["Layers"] == examples_build.layout("hello").layer_digests()


def test_layered_config(examples_build: ExamplesBuild) -> None:
    for tag in ("1.0", "latest"):
        config = _config(examples_build, "layered", tag)
        assert config["config"] == {
            "Entrypoint": ["/app/run.sh"],
            "Env": ["APP_HOME=/app"],
            "User": "1000:1000",
            "WorkingDir": "/app",
            "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
            "Volumes": {"/data": {}},
        }
        assert [h["created_by"] for h in config["history"]] == [
            "pants: oci_layer examples/layered:deps",
            "pants: oci_layer examples/layered:assets",
            "pants: oci_layer examples/layered:app",
        ]
        assert all(h["created"] == EPOCH for h in config["history"])


def test_derived_config_builds_on_its_base(examples_build: ExamplesBuild) -> None:
    config = _config(examples_build, "derived")
    base_config = _config(examples_build, "layered")
    assert config["config"] == {
        # inherited from examples/layered
        "Entrypoint": ["/app/run.sh"],
        "User": "1000:1000",
        "WorkingDir": "/app",
        "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
        "Volumes": {"/data": {}},
        # its own: APP_HOME overridden in place, MODE appended
        "Env": ["APP_HOME=/srv/app", "MODE=prod"],
        "Cmd": ["--verbose"],
        "Labels": {"org.opencontainers.image.version": "2.0"},
        "StopSignal": "SIGTERM",
    }
    assert config["rootfs"]["diff_ids"][:3] == base_config["rootfs"]["diff_ids"]
    assert len(config["rootfs"]["diff_ids"]) == 4
    assert config["history"][:3] == base_config["history"]
    assert config["history"][3]["created_by"] == "pants: oci_layer examples/derived:extra_layer"
    # The base's layer blobs are reused as they are.
    derived, layered = examples_build.layout("derived"), examples_build.layout("layered")
    assert derived.layer_digests()[:3] == layered.layer_digests()
    inspected = skopeo_inspect(derived.path, "latest")
    assert inspected["Env"] == ["APP_HOME=/srv/app", "MODE=prod"]
    assert inspected["Labels"] == {"org.opencontainers.image.version": "2.0"}
    assert inspected["Layers"] == derived.layer_digests()


def test_multiarch_is_an_index_whose_manifests_share_layers(examples_build: ExamplesBuild) -> None:
    layout_dir = examples_build.layout_dir("multiarch")
    raw = skopeo_inspect(layout_dir, "latest", "--raw")
    assert raw["mediaType"] == INDEX_MEDIA_TYPE
    assert raw["annotations"] == {"org.opencontainers.image.description": "a two-platform example"}
    assert [m["platform"] for m in raw["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert all(m["mediaType"] == MANIFEST_MEDIA_TYPE for m in raw["manifests"])
    layout = examples_build.layout("multiarch")
    (amd64_platform, amd64), (arm64_platform, arm64) = layout.manifests()
    assert amd64["layers"] == arm64["layers"] and len(amd64["layers"]) == 1
    assert amd64["config"]["digest"] != arm64["config"]["digest"]
    for manifest in (amd64, arm64):
        assert manifest["annotations"] == raw["annotations"]
    amd64_config, arm64_config = layout.config(amd64), layout.config(arm64)
    assert (amd64_config["architecture"], amd64_config.get("variant")) == ("amd64", None)
    assert (arm64_config["architecture"], arm64_config["variant"]) == ("arm64", "v8")
    assert amd64_config["rootfs"] == arm64_config["rootfs"]
    # skopeo resolves the index per platform to the same layers.
    host = skopeo_inspect(layout_dir, "latest")
    arm = skopeo_inspect(layout_dir, "latest", global_flags=["--override-arch", "arm64", "--override-variant", "v8"])
    assert (host["Architecture"], arm["Architecture"]) == ("amd64", "arm64")
    assert host["Layers"] == arm["Layers"] == [amd64["layers"][0]["digest"]]
    assert host["Digest"] == arm["Digest"] == examples_build.printed_digest("multiarch")


# ---------------------------------------------------------------------------------------------
# Root filesystems, unpacked by umoci
# ---------------------------------------------------------------------------------------------


def _layered_layers(root: Path) -> list:
    return [
        LayerSpec("/opt", 0, 0, files_under(root, "examples/layered/deps")),
        LayerSpec("/srv", 33, 33, files_under(root, "examples/layered/assets")),
        LayerSpec("/app", 1000, 1000, files_under(root, "examples/layered/app", strip="examples/layered/app")),
    ]


def _assert_rootfs(rootfs: Path, layers: list) -> None:
    problems = diff_trees(expected_tree(layers), rootfs_tree(rootfs))
    assert not problems, "rootfs differs from the inputs:\n" + "\n".join(problems)


def test_unpacked_derived_rootfs_matches_inputs(
    examples_build: ExamplesBuild, build_root: BuildRoot, tmp_path: Path
) -> None:
    root = build_root.path
    run_sh = root / "examples/layered/app/run.sh"
    assert run_sh.stat().st_mode & 0o111, "the example's run.sh should be executable"
    rootfs = umoci_unpack(examples_build.layout_dir("derived"), "latest", tmp_path / "bundle")
    layers = [
        *_layered_layers(root),
        LayerSpec("/etc/app", 0, 0, {"examples/derived/extra.toml": root / "examples/derived/extra.toml"}),
    ]
    _assert_rootfs(rootfs, layers)
    # Spelled out, the points the generic comparison covers:
    st = (rootfs / "app/run.sh").stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o755, 1000, 1000)
    st = (rootfs / "app/version.py").stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, 1000, 1000)
    st = (rootfs / "srv/examples/layered/assets/index.html").stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, 33, 33)
    st = (rootfs / "etc").stat()  # above the destination /etc/app
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o755, 0, 0)
    assert (rootfs / "app/run.sh").read_bytes() == run_sh.read_bytes()


def test_unpacked_layered_rootfs_matches_inputs(
    examples_build: ExamplesBuild, build_root: BuildRoot, tmp_path: Path
) -> None:
    rootfs = umoci_unpack(examples_build.layout_dir("layered"), "1.0", tmp_path / "bundle")
    _assert_rootfs(rootfs, _layered_layers(build_root.path))
    runtime = json.loads((tmp_path / "bundle/config.json").read_text())["process"]
    assert runtime["args"] == ["/app/run.sh"]
    assert runtime["cwd"] == "/app"
    assert (runtime["user"]["uid"], runtime["user"]["gid"]) == (1000, 1000)
    assert "APP_HOME=/app" in runtime["env"]


def test_unpacked_hello_rootfs_matches_inputs(
    examples_build: ExamplesBuild, build_root: BuildRoot, tmp_path: Path
) -> None:
    rootfs = umoci_unpack(examples_build.layout_dir("hello"), "latest", tmp_path / "bundle")
    files = {"examples/hello/hello.txt": build_root.path / "examples/hello/hello.txt"}
    _assert_rootfs(rootfs, [LayerSpec("/", 0, 0, files)])


def test_unpacked_multiarch_arm64_rootfs_matches_inputs(
    examples_build: ExamplesBuild, build_root: BuildRoot, tmp_path: Path
) -> None:
    # umoci 0.4.7 cannot pick a platform from an index ("tag is ambiguous"): let skopeo
    # select linux/arm64/v8 into a single-manifest layout first.
    single = tmp_path / "arm64"
    run_tool(
        "skopeo",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "copy",
        f"oci:{examples_build.layout_dir('multiarch')}:latest",
        f"oci:{single}:latest",
    )
    assert skopeo_inspect(single, "latest", "--config")["architecture"] == "arm64"
    rootfs = umoci_unpack(single, "latest", tmp_path / "bundle")
    files = {"examples/multiarch/message.txt": build_root.path / "examples/multiarch/message.txt"}
    _assert_rootfs(rootfs, [LayerSpec("/", 0, 0, files)])
