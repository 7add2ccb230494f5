"""Temporary failures (5xx, 429, slow answers) are retried a bounded number of times."""

from __future__ import annotations

import random
import threading

import pytest
from fault_proxy import Fault
from faults_helpers import FAST, served_digest
from registry_images import write_image

from ocikit.registry import RegistryConnectionError, RetryPolicy, push_layout


def test_5xx_on_a_third_of_requests_is_retried_and_the_exact_digest_lands(plain_registry, proxy_for, repo, tmp_path):
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"), label="5xx")
    rng = random.Random(1234)
    lock = threading.Lock()
    failed_keys: set = set()
    statuses = [500, 502, 503]

    def decide(request):
        if request.is_ping or request.method == "PATCH":
            return None
        with lock:
            if request.key in failed_keys or rng.random() >= 1 / 3:
                return None
            failed_keys.add(request.key)  # each request fails once, then goes through
            status = statuses[len(failed_keys) % 3]
        return Fault(status=status, body=b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}')

    proxy = proxy_for(plain_registry, decide)
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=FAST, jobs=2)
    assert summary.digest == image.digest
    faulted = proxy.faulted()
    assert len(faulted) >= 2 and {r.fault.status for r in faulted} <= set(statuses)
    api = proxy.api_requests()
    # Each injected failure costs exactly one more request of the same kind, no more.
    per_key: dict = {}
    for r in api:
        per_key.setdefault(r.key, []).append(r)
    for r in faulted:
        later = [x for x in per_key[r.key] if x.n > r.n]
        assert later and later[0].fault is None and later[0].status in (200, 201, 202, 204, 404), r
    clean = [r for r in api if r.fault is None]
    assert len(api) == len(clean) + len(faulted)
    assert len(api) <= 3 * len(clean)  # bounded: no retry storm
    assert served_digest(plain_registry, f"{repo}:t") == image.digest
    for child in image.manifests.values():
        assert served_digest(plain_registry, f"{repo}@{child}") == child


def test_429_with_retry_after_on_the_first_manifest_put_is_waited_out(plain_registry, proxy_for, repo, tmp_path):
    image = write_image(tmp_path / "layout", label="429")
    done = threading.Event()

    def decide(request):
        if request.method == "PUT" and "/manifests/" in request.path and not done.is_set():
            done.set()
            return Fault(
                status=429,
                headers={"Retry-After": "1"},
                body=b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
            )
        return None

    proxy = proxy_for(plain_registry, decide)
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=FAST)
    assert summary.digest == image.digest
    puts = [r for r in proxy.api_requests() if r.method == "PUT" and "/manifests/" in r.path]
    assert puts[0].status == 429 and puts[1].status == 201
    assert puts[1].path == puts[0].path
    # Retry-After: 1 honoured, not FAST's 10 ms backoff. A lower bound: a slow machine only
    # widens the gap, so this cannot fail under load.
    assert puts[1].at - puts[0].at >= 0.95
    assert served_digest(plain_registry, f"{repo}:t") == image.digest


def test_slow_first_answers_time_out_and_are_retried(plain_registry, proxy_for, repo, tmp_path):
    image = write_image(tmp_path / "layout", label="slow once")
    slowed: set = set()
    lock = threading.Lock()

    def decide(request):
        # The first blob HEAD and the first manifest PUT answer after the read timeout.
        kind = (
            "HEAD blob"
            if request.method == "HEAD" and "/blobs/" in request.path
            else "PUT manifest"
            if request.method == "PUT" and "/manifests/" in request.path
            else None
        )
        with lock:
            if kind is None or kind in slowed:
                return None
            slowed.add(kind)
        return Fault(delay=1.5)

    proxy = proxy_for(plain_registry, decide)
    summary = push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=FAST, jobs=1, timeout=(2.0, 0.5))
    assert summary.digest == image.digest
    assert {r.key.split(" ")[0] for r in proxy.faulted()} == {"HEAD", "PUT"}
    for slow in proxy.faulted():
        # The held request is answered normally after 1.5 s: a client that waited for it would
        # have had no reason to send it again. Sent again = it gave up at its 0.5 s read timeout.
        retried = [r for r in proxy.api_requests() if r.key == slow.key and r.n > slow.n]
        assert retried, f"{slow.key} was held past the read timeout and never sent again"
    assert served_digest(plain_registry, f"{repo}:t") == image.digest


@pytest.mark.timeout(120)  # the bound: attempts x read timeout is ~1 s; a hang ends here
def test_an_always_slow_registry_fails_in_bounded_time_with_one_error(plain_registry, proxy_for, repo, tmp_path):
    write_image(tmp_path / "layout", label="always slow")
    proxy = proxy_for(plain_registry, lambda r: None if r.is_ping else Fault(delay=1.0))
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
    with pytest.raises(RegistryConnectionError) as caught:
        push_layout(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:t"], retry=policy, jobs=2, timeout=(2.0, 0.3))
    assert "timed out" in str(caught.value) and "after 3 attempts" in str(caught.value)
    # The proxy records a request when it reads it, which a loaded machine may do after the
    # client's read timeout: wait (bounded) for the third, then check there are exactly three.
    api = proxy.wait_for(lambda seen: len([r for r in seen if not r.is_ping]) >= 3, timeout=30)
    api = [r for r in api if not r.is_ping]
    # Layers go first: one blob HEAD, tried exactly `attempts` times, then the push stops.
    assert [r.key for r in api] == [api[0].key] * 3 and api[0].method == "HEAD"
