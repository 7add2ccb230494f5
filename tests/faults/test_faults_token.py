"""A bearer token that stops being accepted mid-push is fetched again, once."""

from __future__ import annotations

import threading

from fault_proxy import Fault
from faults_helpers import FAST, served_digest
from registry_fixtures import PASSWORD, SERVICE, USERNAME
from registry_images import write_image

from ocikit.registry import Credential, StaticKeychain, push_layout


def test_a_token_expiring_mid_push_is_refreshed(token_registry, proxy_for, repo, tmp_path):
    """TokenServer issues 300-second tokens (no short expiry), so the proxy plays the registry
    that decided the token expired: a 401 with a Bearer `invalid_token` challenge on the first
    manifest PUT, after every blob went up with the first token."""
    image = write_image(tmp_path / "layout", label="token expiry")
    realm = token_registry.token_server.realm
    done = threading.Event()
    scope = f"repository:{repo}:pull,push"

    def decide(request):
        if request.method == "PUT" and "/manifests/" in request.path and not done.is_set():
            done.set()
            challenge = (f'Bearer realm="{realm}",service="{SERVICE}",scope="{scope}",'
                         'error="invalid_token",error_description="token expired"')
            return Fault(status=401, headers={"WWW-Authenticate": challenge},
                         body=b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}')
        return None

    proxy = proxy_for(token_registry, decide)
    keychain = StaticKeychain({proxy.host: Credential(USERNAME, PASSWORD, source="test")})
    before = token_registry.token_server.count
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], keychain=keychain, retry=FAST)
    assert summary.digest == image.digest
    fetched = token_registry.token_server.requests[before:]
    assert len(fetched) == 2 and all(r.status == 200 and r.account == USERNAME for r in fetched)
    puts = [r for r in proxy.api_requests() if r.method == "PUT" and "/manifests/" in r.path]
    assert [p.status for p in puts] == [401, 201, 201]  # by digest (refused, again), then the tag
    assert puts[0].path == puts[1].path
    assert puts[0].authorization.startswith("Bearer ") and puts[1].authorization.startswith("Bearer ")
    assert puts[0].authorization != puts[1].authorization  # the retry carried the new token
    later = [r for r in proxy.api_requests() if r.n > puts[1].n]
    assert all(r.authorization == puts[1].authorization for r in later)
    assert served_digest(token_registry, f"{repo}:t") == image.digest
