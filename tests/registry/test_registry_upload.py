"""Chunked uploads of large blobs, resuming after a dropped connection, flat memory."""

from __future__ import annotations

import tracemalloc

import pytest
from registry_images import write_image
from registry_proxy import DroppingProxy

from ocikit.registry import DefaultKeychain, RetryPolicy, push_layout
from ocikit.registry.client import RepositoryClient
from ocikit.registry.transport import Transport

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
        summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:r"], chunk_size=MiB, jobs=1,
                              retry=FAST)
    finally:
        proxy.stop()
    assert summary.digest == image.digest
    log = proxy.requests
    dropped = next(i for i, r in enumerate(log) if r.dropped)
    offset = log[dropped].content_range.split("-")[0]
    # Then: GET the upload status, and PATCH on from exactly where the dropped one started.
    after = log[dropped + 1:]
    assert after[0].method == "GET" and "/blobs/uploads/" in after[0].path
    assert after[1].method == "PATCH" and after[1].content_range.startswith(f"{offset}-")
    starts = [r for r in log if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert len(starts) == len(image.blobs)  # no upload had to start over
    size = image.sizes[big]
    assert size <= summary.stats.bytes_uploaded - sum(image.sizes[b] for b in image.blobs if b != big) <= size + MiB
    assert registry_holds(plain_registry.host, repo, big, size)


def test_restart_when_the_registry_cannot_resume(plain_registry, repo, tmp_path, auth_env):
    """Distribution refuses a session whose stored size moved under a half-received PATCH
    (BLOB_UPLOAD_INVALID): the upload then starts over, and the blob still arrives intact."""
    image = write_image(tmp_path / "layout", extra_layer_size=4 * MiB, seed=3)
    big = big_blob(image)
    proxy = DroppingProxy(plain_registry.host, lambda method, path, n: method == "PATCH" and n == 1,
                          forward_partial=True)
    try:
        summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:r"], chunk_size=MiB, jobs=1,
                              retry=FAST)
    finally:
        proxy.stop()
    assert summary.digest == image.digest
    assert any(r.dropped for r in proxy.requests)
    starts = [r for r in proxy.requests if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert len(starts) == len(image.blobs) + 1  # the broken upload started over once
    assert registry_holds(plain_registry.host, repo, big, image.sizes[big])
