"""The bearer-token server of the test registry's "token" mode: a small http.server on loopback
issuing RS256 JWTs that Distribution accepts, signed by a key and self-signed certificate made
here with `cryptography`. `registry_fixtures` starts it and re-exports what tests use."""

from __future__ import annotations

import base64
import datetime
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, List, Optional
from urllib.parse import parse_qs, urlsplit

USERNAME = "ocikit-user"
PASSWORD = "s3cret-Pa55word-for-tests"
SERVICE = "ocikit-test-registry"
ISSUER = "ocikit-test-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenRequest:
    method: str
    scopes: List[str]
    account: Optional[str]
    grant: str  # "basic", "refresh_token", "anonymous"
    status: int


# Distribution checks `exp` and `nbf` with this much tolerance for clock skew: in 2.8
# (registry/auth/token/token.go) `const Leeway = 60 * time.Second`, and a token is refused when
# `time.Now().After(time.Unix(exp, 0).Add(Leeway))`. Checked against the installed 2.8.2: a
# token with `exp` 59 s in the past is accepted, 61 s in the past refused.
DISTRIBUTION_LEEWAY = 60
DEFAULT_TOKEN_LIFETIME = 300


class TokenServer:
    """Issues Distribution-compatible JWTs for users with the right Basic credentials or a
    known identity (refresh) token, granting every requested scope unless `deny` says no;
    anonymous callers get pull access only (as public repositories on real registries).

    Token lifetime: by default the `exp` claim is 300 s after issue and the answer says
    `expires_in: 300` (what Docker Hub does). Set `ttl` (seconds, an attribute or argument) for
    short-lived tokens that the registry *really* refuses `ttl` s after issue (see `issue`).
    `expires_in` (default None: the lifetime) is what the token answer announces; set it to a
    number to announce another lifetime than the real one, or to False to leave the field out
    (clients then assume 60 s, as the token spec says)."""

    def __init__(
        self, directory: Path, users: Optional[dict] = None, *, ttl: Optional[float] = None, expires_in=None
    ) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.users = dict(users or {USERNAME: PASSWORD})
        self.identity_tokens: dict = {}
        self.deny: Callable[[str, str], bool] = lambda account, scope: False
        self.ttl: Optional[float] = ttl
        self.expires_in = expires_in
        self.requests: List[TokenRequest] = []
        self.issued: List[str] = []
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocikit test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = directory / "token-signer.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._hashes, self._padding = hashes, None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def add_identity_token(self, account: str = USERNAME) -> str:
        token = "idtok-" + secrets.token_hex(16)
        self.identity_tokens[token] = account
        return token

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        form: dict = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = parse_qs(handler.rfile.read(length).decode("utf-8"))
        scopes = query.get("scope", []) + " ".join(form.get("scope", [])).split()
        account, grant, ok = None, "anonymous", True
        if method == "POST":
            grant = (form.get("grant_type") or [""])[0]
            if grant == "refresh_token":
                account = self.identity_tokens.get((form.get("refresh_token") or [""])[0])
                ok = account is not None
            elif grant == "password":
                account = (form.get("username") or [""])[0]
                ok = self.users.get(account) == (form.get("password") or [""])[0]
            else:
                ok = False
        else:
            auth = handler.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                grant = "basic"
                user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
                if user == "<token>":
                    account = self.identity_tokens.get(password)
                    ok = account is not None
                else:
                    account = user
                    ok = self.users.get(user) == password
        status = 200 if ok else 401
        with self._lock:
            self.requests.append(TokenRequest(method, scopes, account, grant, status))
        if not ok:
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]})
            self._reply(handler, 401, body.encode())
            return
        token = self.issue(account or "", scopes, anonymous=grant == "anonymous")
        key = "access_token" if method == "POST" else "token"
        answer: dict = {key: token}
        if self.expires_in is not False:
            lifetime = self.ttl if self.ttl is not None else DEFAULT_TOKEN_LIFETIME
            answer["expires_in"] = int(math.ceil(lifetime if self.expires_in is None else self.expires_in))
        self._reply(handler, 200, json.dumps(answer).encode())

    def issue(self, account: str, scopes: List[str], *, anonymous: bool = False) -> str:
        """A signed token granting `scopes` (anonymous callers get pull access only)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [
                a
                for a in actions.split(",")
                if a and not self.deny(account, f"{kind}:{name}:{a}") and (a == "pull" or not anonymous)
            ]
            access.append({"type": kind, "name": name, "actions": granted})
        issued_at = time.time()
        now = int(issued_at)
        if self.ttl is None:
            exp = now + DEFAULT_TOKEN_LIFETIME
        else:
            # Distribution accepts a token until `exp + DISTRIBUTION_LEEWAY` (60 s). For a token
            # that the registry really refuses a few seconds after issue, without waiting a
            # minute, move `exp` back by the leeway: the registry then refuses it from
            # ceil(issued_at + ttl), i.e. between `ttl` and `ttl + 1` s after issue (`exp` is in
            # whole seconds). `exp` lies in the past, which Distribution does not mind; `nbf`
            # and `iat` stay honest (`nbf` only has to be before now + leeway).
            exp = int(math.ceil(issued_at + self.ttl)) - DISTRIBUTION_LEEWAY
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": account,
            "aud": SERVICE,
            "exp": exp,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{_b64url(signature)}"
        with self._lock:
            self.issued.append(token)
        return token

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
