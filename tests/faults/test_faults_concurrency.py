"""Simultaneous pushes into one repository: the same image twice, and two images sharing a layer."""

from __future__ import annotations

import threading

import pytest
from fault_proxy import Fault
from faults_helpers import FAST, served_digest
from registry_images import write_image

from ocikit.registry import RegistryError, push_layout


def push_together(jobs):
    """Run push_layout(*args) for each entry of `jobs` at the same moment; (results, errors)."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(i, layout, destinations):
        barrier.wait(10)
        try:
            results[i] = push_layout(layout, destinations, retry=FAST, jobs=2)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_same_image_pushed_twice_at_once(plain_registry, repo, tmp_path):
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"), label="same twice")
    dest = f"{plain_registry.host}/{repo}"
    results, errors = push_together(
        [(str(tmp_path / "layout"), [f"{dest}:a"]), (str(tmp_path / "layout"), [f"{dest}:b"])]
    )
    assert errors == []
    assert [r.digest for r in results] == [image.digest, image.digest]
    for tag in ("a", "b"):
        assert served_digest(plain_registry, f"{repo}:{tag}") == image.digest


def test_two_images_sharing_a_layer_pushed_at_once(plain_registry, repo, tmp_path):
    one = write_image(tmp_path / "one", label="one", extra_layer_size=64 << 10, seed=1)
    two = write_image(tmp_path / "two", label="two", extra_layer_size=64 << 10, seed=2)
    shared = set(one.blobs) & set(two.blobs)
    assert len(shared) == 1  # the busybox layer
    dest = f"{plain_registry.host}/{repo}"
    results, errors = push_together(
        [
            (str(tmp_path / "one"), [f"{dest}:one"]),
            (str(tmp_path / "two"), [f"{dest}:two"]),
            (str(tmp_path / "one"), [f"{dest}:one-again"]),
        ]
    )
    assert errors == []
    assert [r.digest for r in results] == [one.digest, two.digest, one.digest]
    assert served_digest(plain_registry, f"{repo}:one") == one.digest
    assert served_digest(plain_registry, f"{repo}:one-again") == one.digest
    assert served_digest(plain_registry, f"{repo}:two") == two.digest
    assert served_digest(plain_registry, f"{repo}@{one.digest}") == one.digest
    assert served_digest(plain_registry, f"{repo}@{two.digest}") == two.digest


def test_a_manifest_refused_as_digest_invalid_is_sent_again_a_bounded_number_of_times(
    plain_registry, proxy_for, repo, tmp_path
):
    """What Distribution answers now and then when two pushes PUT the same manifest at once (its
    filesystem driver rewrites the manifest blob in place): 400 DIGEST_INVALID for bytes that do
    hash to the digest. The client sends the same bytes again, at most twice more."""
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"), label="race")
    body = b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}'
    refused: list = []

    def once(request):
        if request.method == "PUT" and "/manifests/" in request.path and not refused:
            refused.append(request.path)
            return Fault(status=400, body=body, headers={"Content-Type": "application/json"})
        return None

    proxy = proxy_for(plain_registry, once)
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=FAST)
    assert summary.digest == image.digest
    puts = [r for r in proxy.api_requests() if r.method == "PUT" and r.path == refused[0]]
    assert [p.status for p in puts] == [400, 201]
    assert served_digest(plain_registry, f"{repo}:t") == image.digest

    def always(request):
        if request.method == "PUT" and "/manifests/" in request.path:
            return Fault(status=400, body=body, headers={"Content-Type": "application/json"})
        return None

    proxy = proxy_for(plain_registry, always)
    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:u"], retry=FAST)
    assert len([r for r in proxy.api_requests() if r.method == "PUT"]) == 3
