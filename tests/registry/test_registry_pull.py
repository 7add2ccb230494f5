"""Pulling by digest from a real registry into an OCI layout, checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from registry_fixtures import skopeo
from registry_images import DOCKER_MANIFEST, write_image

from ocikit.registry import (
    DigestMismatchError,
    PlatformError,
    TagNotPinnedError,
    inspect_image,
    pull_image,
    push_layout,
)


def sha256_file(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def check_layout(out):
    """Every blob in the layout matches its name; returns index.json."""
    for blob in (out / "blobs" / "sha256").iterdir():
        assert sha256_file(blob) == f"sha256:{blob.name}"
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    return json.loads((out / "index.json").read_text())


def pushed_index(registry, repo, tmp_path, **kwargs):
    image = write_image(tmp_path / "src", platforms=("linux/amd64", "linux/arm64/v8"), **kwargs)
    push_layout(str(tmp_path / "src"), [f"{registry.host}/{repo}:v1"])
    return image


def test_pull_platforms_of_an_index_by_digest(registry, docker_config, repo, tmp_path, need_skopeo):
    image = pushed_index(registry, repo, tmp_path, label="pull " + registry.mode)
    out = tmp_path / "out"
    result = pull_image(f"{registry.host}/{repo}@{image.digest}", ["linux/arm64", "linux/amd64"], str(out))
    index = check_layout(out)
    assert [(m["digest"], m["platform"]) for m in index["manifests"]] == [
        (image.manifests["linux/arm64/v8"], {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        (image.manifests["linux/amd64"], {"os": "linux", "architecture": "amd64"}),
    ]
    assert result.digest == image.digest and result.reference == f"{registry.host}/{repo}@{image.digest}"
    assert [m.platform for m in result.manifests] == ["linux/arm64/v8", "linux/amd64"]
    for digest in [image.digest, *image.manifests.values(), *image.blobs]:
        assert (out / "blobs" / "sha256" / digest.split(":")[1]).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # temp dir renamed away

    single = tmp_path / "single"
    pull_image(f"{registry.host}/{repo}:v1@{image.digest}", ["linux/amd64"], str(single))
    creds = ["--dest-creds", registry.creds] if registry.creds else []
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        *creds,
        "--preserve-digests",
        f"oci:{single}",
        f"docker://{registry.host}/{repo}/copy:c",
    )
    raw = skopeo(
        "inspect",
        "--tls-verify=false",
        *(["--creds", registry.creds] if registry.creds else []),
        "--raw",
        f"docker://{registry.host}/{repo}/copy:c",
    ).stdout
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == image.manifests["linux/amd64"]


def test_a_tag_alone_is_refused_with_the_digest_to_pin(plain_registry, repo, tmp_path, auth_env):
    image = pushed_index(plain_registry, repo, tmp_path)
    with pytest.raises(TagNotPinnedError) as info:
        pull_image(f"{plain_registry.host}/{repo}:v1", ["linux/amd64"], str(tmp_path / "out"))
    pinned = f"{plain_registry.host}/{repo}:v1@{image.digest}"
    assert info.value.pinned == pinned and pinned in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_missing_platform_lists_the_available_ones(plain_registry, repo, tmp_path, auth_env):
    image = pushed_index(plain_registry, repo, tmp_path)
    with pytest.raises(PlatformError) as info:
        pull_image(f"{plain_registry.host}/{repo}@{image.digest}", ["linux/s390x"], str(tmp_path / "out"))
    assert "has no linux/s390x image; it has linux/amd64, linux/arm64/v8" in str(info.value)
    with pytest.raises(PlatformError, match="choose platforms among linux/amd64, linux/arm64/v8"):
        pull_image(f"{plain_registry.host}/{repo}@{image.digest}", [], str(tmp_path / "out"))
    with pytest.raises(PlatformError, match="has no linux/s390x image; it has linux/amd64, linux/arm64/v8"):
        inspect_image(f"{plain_registry.host}/{repo}@{image.digest}", platform="linux/s390x")
    with pytest.raises(PlatformError, match="expected 'os/arch'"):
        pull_image(f"{plain_registry.host}/{repo}@{image.digest}", ["amd64"], str(tmp_path / "out"))


def test_docker_v2_manifests_are_kept_as_served(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "src", docker_types=True, label="docker pull")
    push_layout(str(tmp_path / "src"), [f"{plain_registry.host}/{repo}:d"])
    out = tmp_path / "out"
    result = pull_image(f"{plain_registry.host}/{repo}@{image.digest}", [], str(out))
    [entry] = check_layout(out)["manifests"]
    assert (entry["digest"], entry["mediaType"]) == (image.digest, DOCKER_MANIFEST)
    assert entry["platform"] == {"os": "linux", "architecture": "amd64"}
    assert (out / "blobs" / "sha256" / image.digest.split(":")[1]).read_bytes() == (
        tmp_path / "src" / "blobs" / "sha256" / image.digest.split(":")[1]
    ).read_bytes()
    assert result.media_type == DOCKER_MANIFEST
    with pytest.raises(PlatformError, match="is a single linux/amd64 image, not linux/arm64"):
        pull_image(f"{plain_registry.host}/{repo}@{image.digest}", ["linux/arm64"], str(tmp_path / "o2"))


def test_a_corrupted_blob_is_named_and_nothing_is_kept(new_registry, repo, tmp_path, auth_env):
    registry = new_registry("none")
    image = write_image(tmp_path / "src", label="corrupt")
    push_layout(str(tmp_path / "src"), [f"{registry.host}/{repo}:c"])
    layer = max(image.blobs, key=lambda b: image.sizes[b])
    stored = (
        registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / layer[7:9] / layer[7:] / "data"
    )
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    stored.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError) as info:
        pull_image(f"{registry.host}/{repo}@{image.digest}", ["linux/amd64"], str(out))
    assert f"blob {layer} from {registry.host}/{repo} does not match its digest" in str(info.value)
    assert not out.exists()
    assert os.listdir(tmp_path) == ["src"] or sorted(os.listdir(tmp_path)) == ["src"]


def test_pull_replaces_a_layout_but_not_other_directories(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "src", label="replace")
    push_layout(str(tmp_path / "src"), [f"{plain_registry.host}/{repo}:r"])
    ref = f"{plain_registry.host}/{repo}@{image.digest}"
    out = tmp_path / "out"
    pull_image(ref, ["linux/amd64"], str(out))
    (out / "stale").write_text("x")
    pull_image(ref, ["linux/amd64"], str(out))
    assert not (out / "stale").exists()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep")
    with pytest.raises(FileExistsError, match="is not an OCI image layout"):
        pull_image(ref, ["linux/amd64"], str(precious))
    assert (precious / "file").read_text() == "keep"
