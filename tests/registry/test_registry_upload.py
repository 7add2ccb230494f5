"""Uploads of large blobs (one PATCH by default, or chunks), resuming after a dropped
connection, flat memory."""

from __future__ import annotations

import tracemalloc

import pytest
from registry_images import write_image
from registry_proxy import DroppingProxy

from ocikit.registry import DefaultKeychain, RetryPolicy, push_layout
from ocikit.registry.client import RepositoryClient
from ocikit.registry.transport import Transport
from ocikit.registry.upload import MONOLITHIC_MAX

MiB = 1 << 20
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def big_blob(image):
    return max(image.blobs, key=lambda b: image.sizes[b])


def registry_holds(host, repo, digest, size):
    client = RepositoryClient(Transport(host, keychain=DefaultKeychain()), repo)
    return client.blob_size(digest) == size


@pytest.mark.parametrize("mode", ["none", "token"])
def test_large_blob_goes_in_chunks_with_flat_memory(registry_pool, mode, repo, tmp_path, monkeypatch):
    registry = registry_pool(mode)
    registry.docker_config(tmp_path / "cfg")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    image = write_image(tmp_path / "layout", extra_layer_size=8 * MiB, seed=1, label=mode)
    big = big_blob(image)
    mark = registry.mark()
    tracemalloc.start()
    try:
        summary = push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:big"], chunk_size=MiB, jobs=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"push held {peak} bytes at its peak for an {image.sizes[big]}-byte blob"
    assert summary.stats.bytes_uploaded == sum(image.sizes[b] for b in image.blobs)
    patches = [r for r in registry.requests_since(mark) if r.method == "PATCH" and r.uri.startswith(f"/v2/{repo}/")]
    assert len(patches) >= 9  # 8 MiB (+ tar headers) in 1 MiB chunks, and busybox in 2
    assert registry_holds(registry.host, repo, big, image.sizes[big])


def test_resume_from_the_registry_offset_after_a_dropped_patch(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "layout", extra_layer_size=6 * MiB, seed=2)
    big = big_blob(image)
    # Drop the fourth PATCH half way, before the registry saw any of it.
    proxy = DroppingProxy(plain_registry.host, lambda method, path, n: method == "PATCH" and n == 3)
    try:
        summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:r"], chunk_size=MiB, jobs=1, retry=FAST)
    finally:
        proxy.stop()
    assert summary.digest == image.digest
    log = proxy.requests
    dropped = next(i for i, r in enumerate(log) if r.dropped)
    offset = log[dropped].content_range.split("-")[0]
    # Then: GET the upload status, and PATCH on from exactly where the dropped one started.
    after = log[dropped + 1 :]
    assert after[0].method == "GET" and "/blobs/uploads/" in after[0].path
    assert after[1].method == "PATCH" and after[1].content_range.startswith(f"{offset}-")
    starts = [r for r in log if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert len(starts) == len(image.blobs)  # no upload had to start over
    size = image.sizes[big]
    assert size <= summary.stats.bytes_uploaded - sum(image.sizes[b] for b in image.blobs if b != big) <= size + MiB
    assert registry_holds(plain_registry.host, repo, big, size)


@pytest.mark.parametrize(
    "chunk_size, seed",
    [(MiB, 3), (None, 6)],  # 1 MiB PATCHes, and the default: the whole blob in one PATCH
    ids=["chunked", "whole-blob"],
)
def test_restart_when_the_registry_cannot_resume(plain_registry, repo, tmp_path, auth_env, chunk_size, seed):
    """Distribution refuses a session whose stored size moved under a half-received PATCH
    (BLOB_UPLOAD_INVALID): the upload then starts over, and the blob still arrives intact."""
    image = write_image(tmp_path / "layout", extra_layer_size=4 * MiB, seed=seed)
    big = big_blob(image)
    proxy = DroppingProxy(
        plain_registry.host, lambda method, path, n: method == "PATCH" and n == 1, forward_partial=True
    )
    try:
        summary = push_layout(
            str(tmp_path / "layout"), [f"{proxy.host}/{repo}:r"], chunk_size=chunk_size, jobs=1, retry=FAST
        )
    finally:
        proxy.stop()
    assert summary.digest == image.digest
    assert any(r.dropped for r in proxy.requests)
    starts = [r for r in proxy.requests if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert len(starts) == len(image.blobs) + 1  # the broken upload started over once
    assert registry_holds(plain_registry.host, repo, big, image.sizes[big])


# -- the default: one streamed PATCH per large blob ------------------------------------------


def large_blobs(image):
    return [b for b in image.blobs if image.sizes[b] > MONOLITHIC_MAX]


def test_by_default_each_large_blob_goes_in_one_patch_with_flat_memory(plain_registry, repo, tmp_path):
    """As skopeo and go-containerregistry send it: the whole file streamed in one PATCH (no
    per-chunk request), still without the blob in memory."""
    image = write_image(tmp_path / "layout", extra_layer_size=8 * MiB, seed=4, label="one patch")
    mark = plain_registry.mark()
    tracemalloc.start()
    try:
        summary = push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/{repo}:one"], jobs=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"push held {peak} bytes at its peak"
    assert summary.stats.bytes_uploaded == sum(image.sizes[b] for b in image.blobs)
    patches = [
        r for r in plain_registry.requests_since(mark) if r.method == "PATCH" and r.uri.startswith(f"/v2/{repo}/")
    ]
    assert len(large_blobs(image)) == 2 and len(patches) == 2  # busybox and the 8 MiB layer
    for blob in image.blobs:
        assert registry_holds(plain_registry.host, repo, blob, image.sizes[blob])


def test_a_dropped_whole_blob_patch_resumes_from_the_registry_offset(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "layout", extra_layer_size=6 * MiB, seed=5)
    big = big_blob(image)
    size = image.sizes[big]
    # jobs=1: busybox's PATCH is the first, the 6 MiB layer's the second; drop that one half way.
    proxy = DroppingProxy(plain_registry.host, lambda method, path, n: method == "PATCH" and n == 1)
    try:
        summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:r"], jobs=1, retry=FAST)
    finally:
        proxy.stop()
    assert summary.digest == image.digest
    log = proxy.requests
    dropped = next(i for i, r in enumerate(log) if r.dropped)
    assert log[dropped].content_range == f"0-{size - 1}" and log[dropped].content_length == size
    after = log[dropped + 1 :]
    assert after[0].method == "GET" and "/blobs/uploads/" in after[0].path
    # The registry holds none of it: the rest of the blob (all of it) again, in one PATCH.
    assert after[1].method == "PATCH" and after[1].content_range == f"0-{size - 1}"
    starts = [r for r in log if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert len(starts) == len(image.blobs)  # no upload had to start over
    others = sum(image.sizes[b] for b in image.blobs if b != big)
    assert size < summary.stats.bytes_uploaded - others <= 2 * size
    assert registry_holds(plain_registry.host, repo, big, size)
