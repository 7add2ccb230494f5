"""Transport behaviour against a scripted HTTP server on loopback: retries, auth, errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ocikit.registry.auth import Credential, StaticKeychain
from ocikit.registry.challenge import parse_challenges
from ocikit.registry.errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RegistryConnectionError,
    RegistryError,
    error_from_response,
    redact_url,
    register_secret,
    scrub,
)
from ocikit.registry.transport import RetryPolicy, Transport

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02)


class Script:
    """A loopback server answering each path from a list of (status, headers, body), the last
    entry repeating. Records (method, path, headers) of every request."""

    def __init__(self, routes):
        self.routes = {k: list(v) for k, v in routes.items()}
        self.seen = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                script.seen.append((self.command, self.path, dict(self.headers)))
                key = self.path.split("?", 1)[0]
                answers = script.routes.get(key) or script.routes.get("*") or [(404, {}, b"")]
                status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def count(self, method, path):
        return sum(1 for m, p, _ in self.seen if m == method and p.split("?", 1)[0] == path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def script():
    servers = []

    def make(routes):
        server = Script(routes)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


OK = (200, {}, b"{}")


def _err(status, code, message="", headers=None):
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return (status, {"Content-Type": "application/json", **(headers or {})}, body)


def test_retries_429_honouring_retry_after_then_succeeds(script):
    server = script({"/v2/": [OK], "/v2/r/manifests/t": [(429, {"Retry-After": "0"}, b""), (503, {}, b""), OK]})
    transport = Transport(server.host, retry=FAST)
    assert transport.request("GET", "/v2/r/manifests/t").status_code == 200
    assert server.count("GET", "/v2/r/manifests/t") == 3


def test_retries_are_bounded_and_end_in_a_typed_error(script):
    server = script({"/v2/": [OK], "/v2/r/manifests/t": [_err(429, "TOOMANYREQUESTS", "slow down")]})
    transport = Transport(server.host, retry=FAST)
    with pytest.raises(RateLimitedError) as info:
        transport.request("GET", "/v2/r/manifests/t")
    assert server.count("GET", "/v2/r/manifests/t") == FAST.attempts
    assert info.value.code == "TOOMANYREQUESTS" and info.value.status == 429
    assert "slow down" in str(info.value) and f"GET http://{server.host}/v2/r/manifests/t" in str(info.value)


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (401, "UNAUTHORIZED", AuthenticationError),
        (403, "DENIED", AccessDeniedError),
        (404, "MANIFEST_UNKNOWN", NotFoundError),
    ],
)
def test_auth_and_not_found_answers_are_never_retried(script, status, code, cls):
    server = script({"/v2/": [OK], "/v2/r/manifests/t": [_err(status, code, "nope")]})
    transport = Transport(server.host, retry=FAST)
    with pytest.raises(cls) as info:
        transport.request("GET", "/v2/r/manifests/t")
    assert server.count("GET", "/v2/r/manifests/t") == 1
    assert info.value.code == code and info.value.status == status


def test_connection_errors_are_retried_a_bounded_number_of_times():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = Transport(f"127.0.0.1:{port}", retry=FAST)
    with pytest.raises(RegistryConnectionError) as info:
        transport.request("GET", "/v2/r/tags/list")
    assert f"cannot reach 127.0.0.1:{port}" in str(info.value) and "after 4 attempts" in str(info.value)


def test_basic_auth_sends_credentials_only_after_a_basic_challenge(script):
    server = script({"/v2/": [(401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")], "*": [OK]})
    keychain = StaticKeychain({server.host: Credential(username="u", password="pw-basic-123")})
    transport = Transport(server.host, keychain=keychain, retry=FAST)
    transport.request("GET", "/v2/r/tags/list")
    ping, call = server.seen[-2], server.seen[-1]
    assert "Authorization" not in ping[2]
    assert call[2]["Authorization"].startswith("Basic ")


def test_bearer_token_scopes_caching_and_refresh_on_401(script):
    token_body = json.dumps({"access_token": "tok-abc-123", "expires_in": 300}).encode()
    server = script({"/token": [(200, {}, token_body)], "*": [OK]})
    challenge = f'Bearer realm="http://{server.host}/token",service="svc"'
    server.routes["/v2/"] = [(401, {"WWW-Authenticate": challenge}, b"")]
    server.routes["/v2/a/manifests/t"] = [
        OK,
        OK,
        (401, {"WWW-Authenticate": challenge + ',error="invalid_token"'}, b""),
        OK,
    ]
    transport = Transport(server.host, keychain=StaticKeychain({}), retry=FAST)
    scopes = ["repository:a:pull,push", "repository:b:pull"]
    for _ in range(2):
        transport.request("GET", "/v2/a/manifests/t", scopes=scopes)
    token_requests = [p for m, p, _ in server.seen if p.startswith("/token")]
    assert len(token_requests) == 1
    assert (
        "scope=repository%3Aa%3Apull%2Cpush" in token_requests[0] and "scope=repository%3Ab%3Apull" in token_requests[0]
    )
    assert "service=svc" in token_requests[0]
    transport.request("GET", "/v2/a/manifests/t", scopes=scopes)  # 401 -> one new token -> OK
    assert len([p for m, p, _ in server.seen if p.startswith("/token")]) == 2
    assert server.seen[-1][2]["Authorization"] == "Bearer tok-abc-123"


def test_non_loopback_registries_use_https_only():
    assert not Transport("registry.example.com").http_allowed
    assert Transport("registry.example.com", insecure=True).http_allowed
    assert Transport("localhost:5000").http_allowed and Transport("[::1]:5000").http_allowed


def test_challenge_parsing():
    [bearer] = parse_challenges(
        'Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push"'
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.io/token",
        "service": "registry.io",
        "scope": "repository:a/b:pull,push",
    }
    basic, bearer2 = parse_challenges('Basic realm="x y", Bearer realm="https://a/t"')
    assert (basic.scheme, basic.params["realm"], bearer2.params["realm"]) == ("basic", "x y", "https://a/t")


def test_error_from_response_and_url_redaction():
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps(
        {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid", "detail": {"reason": "bad layer"}}]}
    ).encode()
    url = "http://user:pw@r.io/v2/a/blobs/uploads/x?_state=SECRETSTATE&digest=sha256:00&X-Amz-Signature=sig"
    error = error_from_response(response, method="PUT", url=url)
    text = str(error)
    assert error.code == "MANIFEST_INVALID" and error.status == 400 and type(error) is RegistryError
    assert "MANIFEST_INVALID (HTTP 400) on PUT http://r.io/v2/a/blobs/uploads/x?" in text
    assert "bad layer" in text and "rejected the manifest" in text
    for secret in ("SECRETSTATE", "user:pw", "sig"):
        assert secret not in text and secret not in redact_url(url)
    assert "digest=sha256:00" in redact_url(url)


def test_scrub_removes_registered_secrets():
    register_secret("very-secret-value-42")
    assert scrub("a very-secret-value-42 b") == "a <redacted> b"


def test_a_plain_http_loopback_registry_is_pinged_without_an_https_request(script, monkeypatch):
    """A TLS handshake (~1 ms) tells a plain-HTTP registry apart before requests' https attempt
    (~20 ms of CA loading, then a failure). Behind a proxy that handshake would be with the
    proxy: then the https ping goes first, as before."""
    server = script({"/v2/": [(200, {}, b"{}")]})
    urls = []
    real = requests.Session.request

    def spy(self, method, url, *args, **kwargs):
        urls.append(url)
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    for insecure in (False, True):
        urls.clear()
        assert Transport(server.host, insecure=insecure, retry=FAST).base_url == f"http://{server.host}"
        assert urls == [f"http://{server.host}/v2/"]
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    urls.clear()
    assert Transport(server.host, retry=FAST).base_url == f"http://{server.host}"
    assert urls == [f"https://{server.host}/v2/", f"http://{server.host}/v2/"]
