"""Pushing OCI layouts to a real Distribution registry, checked with skopeo and the registry log."""

from __future__ import annotations

import hashlib
import json

import pytest
from registry_fixtures import skopeo
from registry_images import write_image

from ocikit.layout import LayoutError
from ocikit.registry import push_layout


def creds(registry):
    return ["--creds", registry.creds] if registry.creds else []


def served_digest(registry, ref: str) -> str:
    raw = skopeo("inspect", "--tls-verify=false", *creds(registry), "--raw", f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def blob_uploads(registry, requests, repo):
    """Blob uploads the registry finished for `repo`: (kind, uri) for mounts and commits."""
    prefix = f"/v2/{repo}/blobs/uploads/"
    return [r for r in requests if r.uri.startswith(prefix)]


def test_push_is_what_skopeo_sees_and_a_second_push_sends_nothing(registry, docker_config, repo, tmp_path, need_skopeo):
    image = write_image(tmp_path / "layout", label=registry.mode)
    summary = push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:v1", f"{registry.host}/{repo}:v2"])
    assert summary.digest == image.digest
    assert [p.to_json() for p in summary.pushed] == [
        {"ref": f"{registry.host}/{repo}@{image.digest}", "digest": image.digest, "tags": ["v1", "v2"]}
    ]
    assert (summary.stats.blobs_uploaded, summary.stats.blobs_present) == (len(image.blobs), 0)
    assert summary.stats.bytes_uploaded == sum(image.sizes[b] for b in image.blobs)
    for ref in (f"{repo}:v1", f"{repo}:v2", f"{repo}@{image.digest}"):
        assert served_digest(registry, f"{registry.host}/{ref}") == image.digest

    copied = tmp_path / "copied"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        *(["--src-creds", registry.creds] if registry.creds else []),
        "--preserve-digests",
        f"docker://{registry.host}/{repo}:v1",
        f"oci:{copied}:v1",
    )
    assert json.loads((copied / "index.json").read_text())["manifests"][0]["digest"] == image.digest

    again = push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:v1"])
    assert again.digest == image.digest
    assert again.stats.bytes_uploaded == 0 and again.stats.blobs_uploaded == 0
    assert again.stats.blobs_present == len(image.blobs)
    assert (again.stats.manifests_pushed, again.stats.manifests_present) == (0, 1)


def test_second_repository_on_a_registry_gets_mounts(registry, docker_config, repo, tmp_path):
    image = write_image(tmp_path / "layout", label="mount " + registry.mode)
    first, second = f"{repo}/first", f"{repo}/second"
    mark = registry.mark()
    summary = push_layout(
        str(tmp_path / "layout"),
        [f"{registry.host}/{first}:a", f"{registry.host}/{second}:b", f"{registry.host}/{second}"],
    )
    stats = summary.stats
    assert (stats.blobs_uploaded, stats.blobs_mounted, stats.blobs_present) == (len(image.blobs), len(image.blobs), 0)
    assert summary.stats.bytes_uploaded == sum(image.sizes[b] for b in image.blobs)
    assert [p.tags for p in summary.pushed] == [("a",), ("b",)]
    seen = registry.requests_since(mark)
    mounts = [r for r in blob_uploads(registry, seen, second) if r.method == "POST"]
    assert sorted(r.uri.split("mount=")[1].split("&")[0] for r in mounts) == sorted(image.blobs)
    assert all(f"from={first}" in r.uri and r.status == 201 for r in mounts)
    assert not [r for r in blob_uploads(registry, seen, second) if r.method in ("PATCH", "PUT")]
    assert served_digest(registry, f"{registry.host}/{second}:b") == image.digest


def test_two_platform_index(registry, docker_config, repo, tmp_path):
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"), label=registry.mode)
    summary = push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:multi"])
    assert summary.digest == image.digest
    assert summary.stats.manifests_pushed == 3
    # busybox is shared by both platforms: one upload; each platform adds a config and a layer.
    assert summary.stats.blobs_uploaded == len(image.blobs) == 5
    assert served_digest(registry, f"{registry.host}/{repo}:multi") == image.digest
    for child in image.manifests.values():
        assert served_digest(registry, f"{registry.host}/{repo}@{child}") == child
    arm = skopeo(
        "inspect",
        "--tls-verify=false",
        *creds(registry),
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        f"docker://{registry.host}/{repo}:multi",
    ).stdout
    assert json.loads(arm)["Architecture"] == "arm64"


def test_docker_v2_media_types_are_pushed_as_they_are(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "layout", docker_types=True, label="docker")
    summary = push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/{repo}:d"])
    assert summary.digest == image.digest
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{plain_registry.host}/{repo}:d").stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert served_digest(plain_registry, f"{plain_registry.host}/{repo}:d") == image.digest


def test_mounts_from_a_base_image_repository(plain_registry, repo, tmp_path, auth_env):
    host = plain_registry.host
    write_image(tmp_path / "base", label="base")
    push_layout(str(tmp_path / "base"), [f"{host}/{repo}/base:1"])
    app = write_image(tmp_path / "app", label="app")  # same busybox layer, different config
    summary = push_layout(str(tmp_path / "app"), [f"{host}/{repo}/app:1"], mounts_from=[(host, f"{repo}/base")])
    assert (summary.stats.blobs_mounted, summary.stats.blobs_uploaded) == (1, len(app.blobs) - 1)


def test_destination_and_layout_errors(tmp_path, plain_registry):
    image = write_image(tmp_path / "layout")
    other = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match="names digest sha256:0+, but the layout holds"):
        push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/x@{other}"])
    with pytest.raises(ValueError, match="invalid repository 'X'"):
        push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/X"])
    (tmp_path / "layout" / "blobs" / "sha256" / image.blobs[0].split(":")[1]).unlink()
    with pytest.raises(LayoutError, match=f"misses blob {image.blobs[0]}"):
        push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/x:1"])
    with pytest.raises(LayoutError, match="has no 'oci-layout' file"):
        push_layout(str(tmp_path), [f"{plain_registry.host}/x:1"])
