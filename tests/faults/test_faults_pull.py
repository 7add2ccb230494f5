"""Pulls whose blob bytes are bad: nothing is written, and the error names the blob."""

from __future__ import annotations

import pytest
from fault_proxy import Fault
from faults_helpers import FAST
from registry_images import write_image

from ocikit.registry import DigestMismatchError, RegistryConnectionError, RetryPolicy, pull_image, push_layout


def pushed(registry, repo, tmp_path):
    image = write_image(tmp_path / "src", label="pull faults")
    push_layout(str(tmp_path / "src"), [f"{registry.host}/{repo}:v1"], retry=FAST)
    layer = max(image.blobs, key=lambda b: image.sizes[b])  # the busybox layer, not the config
    return image, layer


def flip_one_byte(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


@pytest.mark.parametrize(
    "name, rewrite",
    [
        ("wrong-bytes", flip_one_byte),
        ("truncated", lambda body: body[: len(body) // 3]),  # short, with a matching Content-Length
        ("extended", lambda body: body + b"trailing garbage"),
    ],
)
def test_a_rewritten_layer_body_raises_digest_mismatch_and_writes_nothing(
    plain_registry, proxy_for, repo, tmp_path, name, rewrite
):
    image, layer = pushed(plain_registry, repo, tmp_path)

    def decide(request):
        if request.method == "GET" and request.bare_path.endswith(f"/blobs/{layer}"):
            return Fault(rewrite=rewrite)
        return None

    proxy = proxy_for(plain_registry, decide)
    parent = tmp_path / "pulls"
    out = parent / "out"
    with pytest.raises(DigestMismatchError) as caught:
        pull_image(f"{proxy.host}/{repo}@{image.digest}", ["linux/amd64"], str(out), retry=FAST)
    assert layer in str(caught.value) and "nothing of it was kept" in str(caught.value)
    assert not out.exists()
    assert list(parent.iterdir()) == []  # no temporary directory or partial file left behind
    gets = [r for r in proxy.api_requests() if r.fault is not None]
    assert len(gets) == 1  # a blob with the wrong bytes is not fetched again


def test_a_body_cut_off_mid_stream_is_a_connection_error_after_bounded_retries(
    plain_registry, proxy_for, repo, tmp_path
):
    image, layer = pushed(plain_registry, repo, tmp_path)

    def decide(request):
        if request.method == "GET" and request.bare_path.endswith(f"/blobs/{layer}"):
            return Fault(truncate=image.sizes[layer] // 2)  # Content-Length says more: hang up
        return None

    proxy = proxy_for(plain_registry, decide)
    parent = tmp_path / "pulls"
    out = parent / "out"
    with pytest.raises(RegistryConnectionError) as caught:
        pull_image(f"{proxy.host}/{repo}@{image.digest}", ["linux/amd64"], str(out), retry=FAST)
    assert layer in str(caught.value) and "broke off" in str(caught.value)
    assert not out.exists()
    assert list(parent.iterdir()) == []
    gets = [r for r in proxy.api_requests() if r.fault is not None]
    assert len(gets) == FAST.attempts  # the download starts again a bounded number of times


def test_an_always_slow_blob_is_tried_only_attempts_times(plain_registry, proxy_for, repo, tmp_path):
    image, layer = pushed(plain_registry, repo, tmp_path)

    def decide(request):
        if request.method == "GET" and request.bare_path.endswith(f"/blobs/{layer}"):
            return Fault(delay=0.6)
        return None

    proxy = proxy_for(plain_registry, decide)
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with pytest.raises(RegistryConnectionError) as caught:
        pull_image(
            f"{proxy.host}/{repo}@{image.digest}",
            ["linux/amd64"],
            str(tmp_path / "out"),
            retry=policy,
            timeout=(2.0, 0.2),
        )
    assert "timed out" in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert len(proxy.faulted()) == policy.attempts
