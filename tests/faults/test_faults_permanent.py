"""Permanent failures (403, 404, a closed port) fail fast: one typed error, few attempts."""

from __future__ import annotations

import pytest
from fault_proxy import Fault
from faults_helpers import FAST
from registry_fixtures import closed_port
from registry_images import write_image

from ocikit.registry import (
    AccessDeniedError,
    NotFoundError,
    RegistryConnectionError,
    pull_image,
    push_layout,
)

DENIED = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'


@pytest.mark.parametrize("method", ["HEAD", "POST"])
def test_403_on_a_blob_request_fails_the_push_at_once(plain_registry, proxy_for, repo, tmp_path, method):
    write_image(tmp_path / "layout", label="403 " + method)

    def decide(request):
        if request.method == method and "/blobs/" in request.path:
            return Fault(status=403, body=DENIED)
        return None

    proxy = proxy_for(plain_registry, decide)
    with pytest.raises(AccessDeniedError) as caught:
        push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=FAST, jobs=1)
    assert caught.value.status == 403 and caught.value.code == "DENIED"
    assert method in str(caught.value)
    denied = proxy.faulted()
    assert len(denied) == 1  # not retried
    assert not [r for r in proxy.api_requests() if r.method == "PUT"]  # and nothing after it


def test_404_on_a_manifest_pull_fails_at_once(plain_registry, proxy_for, repo, tmp_path):
    missing = "sha256:" + "ab" * 32
    proxy = proxy_for(plain_registry)
    out = tmp_path / "out"
    with pytest.raises(NotFoundError) as caught:
        pull_image(f"{proxy.host}/{repo}@{missing}", ["linux/amd64"], str(out), retry=FAST)
    assert caught.value.status == 404 and missing in str(caught.value)
    assert [(r.method, r.status) for r in proxy.api_requests()] == [("GET", 404)]
    assert not out.exists()


def test_a_registry_that_is_down_fails_fast(tmp_path):
    write_image(tmp_path / "layout", label="down")
    with closed_port() as port:  # nothing listens there, and nothing can start to meanwhile
        host = f"127.0.0.1:{port}"
        with pytest.raises(RegistryConnectionError) as caught:
            push_layout(str(tmp_path / "layout"), [f"{host}/faults/down:t"], retry=FAST)
        assert host in str(caught.value) and f"after {FAST.attempts} attempts" in str(caught.value)
        with pytest.raises(RegistryConnectionError):
            pull_image(f"{host}/faults/down@sha256:{'cd' * 32}", ["linux/amd64"], str(tmp_path / "out"), retry=FAST)
    assert not (tmp_path / "out").exists()
