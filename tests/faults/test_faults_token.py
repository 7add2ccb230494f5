"""A bearer token that stops being accepted mid-push is fetched again, once: a 401 played by
the proxy, and real expiries refused by Distribution itself (short-lived tokens)."""

from __future__ import annotations

import threading
import time

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
            challenge = (
                f'Bearer realm="{realm}",service="{SERVICE}",scope="{scope}",'
                'error="invalid_token",error_description="token expired"'
            )
            return Fault(
                status=401,
                headers={"WWW-Authenticate": challenge},
                body=b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}',
            )
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


# -- a real expiry: the registry itself refuses a token that has run out ---------------------

# Five platforms: 11 blobs (the busybox layer, a small layer and a config per platform), then 5
# manifests and an index, pushed with jobs=1 so that the order of requests is fixed.
_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x")
_TTL = 2  # seconds; the registry refuses a token between 2 and 3 s after its issue
_EXPIRED = "token not to be used after"  # what Distribution logs when it refuses an expired token


def _header(request, name: str) -> str:
    return next((v for k, v in request.response_headers.items() if k.lower() == name.lower()), "")


def _push_with_real_expiry(registry, proxy_for, repo, tmp_path, decide, label):
    """Push through a proxy that applies `decide`; return what the checks need."""
    image = write_image(tmp_path / "layout", platforms=_PLATFORMS, label=label)
    proxy = proxy_for(registry, decide)
    keychain = StaticKeychain({proxy.host: Credential(USERNAME, PASSWORD, source="test")})
    tokens_before, expired_before = registry.token_server.count, registry.log_text().count(_EXPIRED)
    started = time.monotonic()
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], keychain=keychain, retry=FAST, jobs=1)
    seconds = time.monotonic() - started
    assert summary.digest == image.digest
    fetched = registry.token_server.requests[tokens_before:]
    assert fetched and all(r.status == 200 and r.account == USERNAME and r.grant == "basic" for r in fetched)
    # Every token for just the push scope: a refusal's challenge does not widen it.
    assert all(r.scopes == [f"repository:{repo}:pull,push"] for r in fetched)
    seen = proxy.api_requests()
    refused = [r for r in seen if r.status == 401]
    assert refused, "the registry never refused the expired token"
    for r in refused:
        # The registry's own answer (the proxy forwarded it, injected nothing): Distribution's
        # challenge for an expired token, naming the access this one request needed.
        assert r.fault is None or r.fault.status is None
        challenge = _header(r, "WWW-Authenticate")
        assert challenge.startswith(f'Bearer realm="{registry.token_server.realm}",service="{SERVICE}",scope=')
        assert f"repository:{repo}:" in challenge and 'error="invalid_token"' in challenge
        # Sent again, once, with a new token, and accepted (a HEAD may find nothing: 404).
        again = [s for s in seen if s.n > r.n and s.key == r.key]
        assert again, f"{r.key} was refused and never sent again"
        retry = again[0]
        assert retry.status is not None and retry.status != 401 and (retry.status < 400 or retry.status == 404)
        assert retry.authorization.startswith("Bearer ") and retry.authorization != r.authorization
    # Distribution logged each refusal as an expiry (not a bad signature, issuer or scope).
    assert registry.log_text().count(_EXPIRED) - expired_before == len(refused)
    assert served_digest(registry, f"{repo}:t") == image.digest
    return image, fetched, seen, refused, seconds


def test_a_token_that_expires_while_its_request_is_in_flight_is_refreshed(
    token_registry, proxy_for, repo, tmp_path, monkeypatch
):
    """The token server announces the true lifetime (`expires_in: 2`), so the client renews
    its token by itself before it runs out (ocikit keeps a token for half of a short lifetime:
    1 s here). What it cannot foresee is a request that outlives its token on the way: the
    proxy holds the commit of the third blob for 3.5 s, so however fresh the token it carries,
    Distribution sees it after it ran out and answers 401; the client gets a new token once and
    sends the request again."""
    monkeypatch.setattr(token_registry.token_server, "ttl", _TTL)
    commits = []
    lock = threading.Lock()

    def decide(request):
        if request.method == "PUT" and "/blobs/uploads/" in request.path:
            with lock:
                first = request.bare_path not in commits
                if first:
                    commits.append(request.bare_path)
                if first and len(commits) == 3:
                    return Fault(delay=_TTL + 1.5)
        return None

    image, fetched, seen, refused, seconds = _push_with_real_expiry(
        token_registry, proxy_for, repo, tmp_path, decide, "in-flight expiry"
    )
    [held] = [r for r in seen if r.fault is not None]
    assert [r.n for r in refused] == [held.n]  # only the request held past its token's end
    # Bounded: the first token, one for the refusal, and the client's own renewals (one per
    # half-lifetime at most).
    assert 2 <= len(fetched) <= 2 + int(seconds / (_TTL / 2)) + 1


def test_a_token_whose_lifetime_is_not_announced_is_refused_then_refreshed(
    token_registry, proxy_for, repo, tmp_path, monkeypatch
):
    """The token server says `expires_in: 300` but its tokens last 2 s (a server that
    overstates, or a registry whose clock runs ahead): the client keeps its token, and learns
    of the end only from the registry's 401. Each blob commit is held 0.5 s, so the push lasts
    more than 5.5 s and outlives its first token for sure (the helper checks that the registry
    refused a token). Counts are bounded by the push's measured duration: a slower machine
    allows more renewals, so the bounds hold under load."""
    monkeypatch.setattr(token_registry.token_server, "ttl", _TTL)
    monkeypatch.setattr(token_registry.token_server, "expires_in", 300)
    commits = set()
    lock = threading.Lock()

    def decide(request):
        if request.method == "PUT" and "/blobs/uploads/" in request.path:
            with lock:
                if request.bare_path not in commits:
                    commits.add(request.bare_path)
                    return Fault(delay=0.5)
        return None

    image, fetched, seen, refused, seconds = _push_with_real_expiry(
        token_registry, proxy_for, repo, tmp_path, decide, "unannounced expiry"
    )
    # No storm: exactly one new token per refusal (the challenge's scope, whatever the order of
    # its actions, is what the client already asked for), each token used until refused.
    assert len(fetched) == 1 + len(refused)
    assert len(refused) <= int(seconds / _TTL) + 1
    tokens = list(dict.fromkeys(r.authorization for r in seen))
    assert len(tokens) == len(fetched)


def test_a_refusal_naming_scopes_already_asked_for_costs_one_token(token_registry, proxy_for, repo, tmp_path):
    """Distribution's challenge for an expired token names the access of the one request that
    was refused, in Go's random map order: `repository:R:pull` for a HEAD, `push,pull` or
    `pull,push` for a PUT. Both are inside the push scope already asked for, so each refusal
    costs exactly one token, for that same scope (it used to cost two: one for a "widened" key
    holding both spellings, then one more for the next request's usual key)."""
    image = write_image(tmp_path / "layout", label="challenge scopes")
    realm = token_registry.token_server.realm
    refusals = {"HEAD": f"repository:{repo}:pull", "PUT": f"repository:{repo}:push,pull"}
    lock = threading.Lock()

    def decide(request):
        if "/blobs/" not in request.path:
            return None
        with lock:
            scope = refusals.pop(request.method, None)
        if scope is None:
            return None
        challenge = f'Bearer realm="{realm}",service="{SERVICE}",scope="{scope}",error="invalid_token"'
        return Fault(
            status=401,
            headers={"WWW-Authenticate": challenge},
            body=b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
        )

    proxy = proxy_for(token_registry, decide)
    keychain = StaticKeychain({proxy.host: Credential(USERNAME, PASSWORD, source="test")})
    before = token_registry.token_server.count
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], keychain=keychain, retry=FAST, jobs=1)
    assert summary.digest == image.digest and not refusals
    fetched = token_registry.token_server.requests[before:]
    assert [r.scopes for r in fetched] == [[f"repository:{repo}:pull,push"]] * 3  # the first, one per 401
    assert len({r.authorization for r in proxy.api_requests()}) == 3
