"""HTTP to one registry: scheme choice, timeouts, retries and challenge-driven auth.

As go-containerregistry's transport: ping `/v2/`, read the WWW-Authenticate challenge, then
send Basic credentials or a Bearer token fetched from the challenge's realm for exactly the
scopes a request needs (cached per scope set, fetched again once on a 401). HTTPS with
certificate verification by default; plain HTTP only for loopback registries and registries
the caller calls insecure. Temporary failures (429, 5xx, connection errors) are retried with
exponential backoff and jitter, a bounded number of times; 401/403/404 never are.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
import warnings
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ocikit.reference import is_loopback
from ocikit.registry.auth import ANONYMOUS, Credential, Keychain, basic_authorization
from ocikit.registry.challenge import Challenge, parse_challenges, pick_challenge
from ocikit.registry.errors import (
    AuthenticationError,
    RegistryConnectionError,
    RegistryError,
    error_from_response,
    redact_url,
    register_secret,
)
from ocikit.registry.retry import (
    RETRY_STATUSES,
    RetryPolicy,
    is_name_resolution_failure,
    reason,
    retry_after,
)

log = logging.getLogger(__name__)

USER_AGENT = "ocikit/0.1 (+python-requests)"
DEFAULT_TIMEOUT = (10.0, 120.0)  # (connect, read) seconds for every request
TLS_UNTRUSTED = "TLS_UNTRUSTED"  # RegistryConnectionError.code: the certificate did not verify
Body = Union[None, bytes, Iterable[bytes], Callable[[], Any]]


def _scope_parts(scope: str) -> tuple[str, frozenset]:
    """`repository:a/b:pull,push` -> ("repository:a/b", {"pull", "push"})."""
    resource, _, actions = scope.rpartition(":")
    return resource, frozenset(a for a in actions.split(",") if a)


def _scope_covered(scope: str, scopes: Iterable[str]) -> bool:
    """Is every action of `scope` already asked for, on the same resource, by one of `scopes`?"""
    resource, actions = _scope_parts(scope)
    for other in scopes:
        other_resource, other_actions = _scope_parts(other)
        if other_resource == resource and actions <= other_actions:
            return True
    return False


class _NoNetrc(requests.auth.AuthBase):
    """Given as `auth=` so that requests never substitutes ~/.netrc credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Transport:
    """Authenticated, retrying HTTP to one registry (`host[:port]`). Thread-safe."""

    def __init__(
        self,
        registry: str,
        *,
        keychain: Optional[Keychain] = None,
        insecure: bool = False,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        pool_size: int = 8,
    ) -> None:
        self.registry = registry
        self.insecure = insecure
        self.http_allowed = insecure or is_loopback(registry)
        self.timeout = timeout
        self.retry = retry
        self._keychain = keychain
        self._credential: Optional[Credential] = None
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = USER_AGENT
        if insecure:
            # The user asked for unverified TLS to this registry: no warning per request.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._credential_lock = threading.Lock()
        self._base: Optional[str] = None
        self._challenge = Challenge("")
        self._tokens: dict[frozenset, tuple[str, float]] = {}

    # -- public ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        self._ping()
        assert self._base is not None
        return self._base

    def url(self, path_or_url: str) -> str:
        """An absolute URL for an API path (`/v2/...`) or a registry-given Location."""
        return urljoin(self.base_url + "/", path_or_url)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: Sequence[str] = (),
        headers: Optional[Mapping[str, str]] = None,
        data: Body = None,
        stream: bool = False,
        ok: Iterable[int] = (200,),
        retry: bool = True,
        what: Optional[str] = None,
        timeout: Optional[tuple[float, float]] = None,
    ) -> requests.Response:
        """Send one API request; return the response if its status is in `ok`, else raise.

        `data` is bytes or a callable giving a fresh body for each attempt. With
        `retry=False` nothing is retried (a half-sent PATCH must not be blindly repeated).
        """
        url = self.url(path_or_url)
        ok = tuple(ok)
        scopes = tuple(scopes)
        refreshed = False
        while True:
            auth = self._authorization(scopes)
            all_headers = dict(headers or {})
            if auth:
                all_headers["Authorization"] = auth
            response = self._send(
                method, url, headers=all_headers, data=data, stream=stream, retry=retry, timeout=timeout
            )
            if response.status_code in ok:
                return response
            if response.status_code == 401 and not refreshed:
                refreshed = True
                if self._challenge.scheme == "bearer":
                    scopes = self._refresh_scopes(scopes, response, auth)
                    log.debug("%s %s answered 401; fetching a new token", method, redact_url(url))
                    response.close()
                    continue
                if self._challenge.scheme == "" and response.headers.get("WWW-Authenticate"):
                    # The registry let the anonymous ping through but wants auth for this.
                    self._challenge = pick_challenge(response.headers["WWW-Authenticate"])
                    response.close()
                    continue
            raise self._error(response, method, url, what)

    def close(self) -> None:
        self._session.close()

    # -- sending --------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: Body = None,
        stream: bool = False,
        retry: bool = True,
        verify: Optional[bool] = None,
        timeout: Optional[tuple[float, float]] = None,
    ) -> requests.Response:
        attempts = self.retry.attempts if retry else 1
        if verify is None:
            verify = not self.insecure
        last_exc: Optional[BaseException] = None
        for attempt in range(attempts):
            body = data() if callable(data) else data
            try:
                log.debug("%s %s", method, redact_url(url))
                response = self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=body,
                    stream=stream,
                    auth=_NoNetrc(),
                    timeout=timeout or self.timeout,
                    verify=verify,
                    allow_redirects=True,
                )
            except requests.exceptions.SSLError as e:
                untrusted = "certificate" in str(e).lower()
                hint = (
                    " (trust its CA with REQUESTS_CA_BUNDLE=FILE, or pass it as an insecure registry)"
                    if untrusted
                    else ""
                )
                raise RegistryConnectionError(
                    f"TLS with {urlsplit(url).netloc} failed on {method} {redact_url(url)}: {reason(e)}{hint}",
                    code=TLS_UNTRUSTED if untrusted else None,
                    method=method,
                    url=url,
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as e:
                last_exc = e
                if is_name_resolution_failure(e):
                    attempts = attempt + 1  # a host name that does not resolve will not start to
                    break
                if attempt + 1 < attempts:
                    pause = self.retry.delay(attempt)
                    log.info("%s %s failed (%s); retrying in %.1f s", method, redact_url(url), reason(e), pause)
                    time.sleep(pause)
                    continue
                break
            log.debug("%s %s -> %d", method, redact_url(url), response.status_code)
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                pause = self.retry.delay(attempt, retry_after(response))
                log.info("%s %s answered %d; retrying in %.1f s", method, redact_url(url), response.status_code, pause)
                response.close()
                time.sleep(pause)
                continue
            return response
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise RegistryConnectionError(
            f"cannot reach {urlsplit(url).netloc}: {method} {redact_url(url)} failed{tries}: {reason(last_exc)}",
            method=method,
            url=url,
        )

    # -- ping and auth --------------------------------------------------------------------

    def _ping(self) -> None:
        if self._base is not None:
            return
        with self._lock:
            if self._base is not None:
                return
            schemes = ["https", "http"] if self.http_allowed else ["https"]
            if self.http_allowed and not self._speaks_tls():
                schemes = ["http"]
            for i, scheme in enumerate(schemes):
                last = i == len(schemes) - 1
                url = f"{scheme}://{self.registry}/v2/"
                try:
                    response = self._send("GET", url, headers={}, retry=last)
                except RegistryConnectionError as e:
                    # A TLS server with a certificate we do not trust is not a plain-HTTP one.
                    if last or e.code == TLS_UNTRUSTED:
                        raise
                    log.debug("%s did not answer over %s; trying the next scheme", self.registry, scheme)
                    continue
                response.close()
                if response.status_code == 200:
                    self._challenge = Challenge("")
                elif response.status_code == 401:
                    self._challenge = pick_challenge(response.headers.get("WWW-Authenticate", ""))
                else:
                    raise self._error(response, "GET", url, f"checking that {self.registry} is a registry")
                self._base = f"{scheme}://{self.registry}"
                log.debug("registry %s: %s, auth %s", self.registry, scheme, self._challenge.scheme or "none")
                return

    def _speaks_tls(self) -> bool:
        """Does the registry answer a TLS handshake? Asked before the https ping of a registry
        that may also be plain HTTP, because requests' https attempt costs ~20 ms of CPU
        (loading a CA store) before it can fail on a plain-HTTP server; this costs ~1 ms.

        It only picks the schemes to try: on False, the https ping would have failed with a
        connection error and fallen back to http just the same; on True, the https ping runs
        as before, verified as configured. Nothing from this unverified handshake is used.
        Through a proxy (HTTPS_PROXY...) the answer would be about the proxy: then True."""
        if requests.utils.get_environ_proxies(f"https://{self.registry}/v2/"):
            return True
        parts = urlsplit(f"https://{self.registry}")
        host, port = parts.hostname or "", parts.port or 443
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection((host, port), timeout=self.timeout[0]) as sock:
                sock.settimeout(self.timeout[1])
                with context.wrap_socket(sock, server_hostname=host):
                    return True
        except (OSError, ValueError) as e:  # ssl.SSLError, refused, reset, timed out, no such host
            log.debug("%s did not answer a TLS handshake (%s); trying http only", self.registry, type(e).__name__)
            return False

    @property
    def credential(self) -> Credential:
        """Looked up once, on first need (never for registries that ask for no auth)."""
        if self._credential is None:
            with self._credential_lock:
                if self._credential is None:
                    self._credential = self._keychain.resolve(self.registry) if self._keychain else ANONYMOUS
        return self._credential

    def _authorization(self, scopes: Sequence[str]) -> Optional[str]:
        self._ping()
        if self._challenge.scheme == "basic":
            return None if self.credential.anonymous else basic_authorization(self.credential)
        if self._challenge.scheme == "bearer":
            return "Bearer " + self._token(scopes)
        return None

    def _token(self, scopes: Sequence[str]) -> str:
        key = frozenset(scopes)
        with self._token_lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token, expires_in = self._fetch_token(sorted(key))
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 10, expires_in / 2))
            return token

    def _refresh_scopes(
        self, scopes: Sequence[str], response: requests.Response, used: Optional[str]
    ) -> tuple[str, ...]:
        """Forget the token that was refused (unless another thread already replaced it) and
        widen the scopes by what the 401's challenge asks for beyond what they already grant.

        Distribution names in its challenge the access this one request needs, with the actions
        in any order (`repository:r:pull` for a HEAD, `repository:r:push,pull` for a PUT when
        the token simply expired): a scope already covered must not change the set, or the
        retry would fetch a token for a new cache key and the next request another one."""
        with self._token_lock:
            cached = self._tokens.get(frozenset(scopes))
            if cached and used == "Bearer " + cached[0]:
                del self._tokens[frozenset(scopes)]
        wanted = list(scopes)
        for challenge in parse_challenges(response.headers.get("WWW-Authenticate", "")):
            if challenge.scheme == "bearer" and challenge.params.get("scope"):
                for scope in challenge.params["scope"].split(" "):
                    if scope and not _scope_covered(scope, wanted):
                        wanted.append(scope)
        return tuple(sorted(set(wanted)))

    def _fetch_token(self, scopes: Sequence[str]) -> tuple[str, float]:
        credential = self.credential
        if credential.registry_token:
            return credential.registry_token, 3600.0
        realm = self._challenge.params.get("realm", "")
        realm_parts = urlsplit(realm)
        if realm_parts.scheme not in ("http", "https") or not realm_parts.netloc:
            raise AuthenticationError(
                f"{self.registry} asked for a bearer token but gave no usable realm URL ({realm!r})",
                code="UNAUTHORIZED",
                status=401,
            )
        if realm_parts.scheme == "http" and not (
            self.http_allowed
            and (is_loopback(realm_parts.netloc) or realm_parts.netloc == self.registry or self.insecure)
        ):
            raise AuthenticationError(
                f"{self.registry} sends clients for tokens to plain-HTTP {redact_url(realm)}; refusing "
                "to send credentials there (pass the registry as insecure if that is intended)",
                code="UNAUTHORIZED",
                status=401,
            )
        verify = not (self.insecure and realm_parts.netloc == self.registry)
        service = self._challenge.params.get("service")
        if credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token,
                "client_id": "ocikit",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            response = self._send(
                "POST",
                realm,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                data=urlencode(form).encode("ascii"),
                verify=verify,
            )
            if response.status_code in (404, 405):
                response.close()
                response = self._token_get(realm, service, scopes, credential, verify)
        else:
            response = self._token_get(realm, service, scopes, credential, verify)
        if response.status_code != 200:
            raise self._error(response, response.request.method or "GET", realm, f"getting a token for {self.registry}")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token or not isinstance(token, str):
            raise AuthenticationError(
                f"the token server {redact_url(realm)} for {self.registry} answered without a "
                "'token' or 'access_token'",
                code="UNAUTHORIZED",
                status=response.status_code,
            )
        register_secret(token)
        log.debug("got a token for %s (scopes %s)", self.registry, " ".join(scopes))
        return token, expires_in

    def _token_get(
        self, realm: str, service: Optional[str], scopes: Sequence[str], credential: Credential, verify: bool
    ) -> requests.Response:
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params += [("scope", s) for s in scopes]
        headers = {}
        if not credential.anonymous:
            if credential.username:
                params.append(("account", credential.username))
            headers["Authorization"] = basic_authorization(credential)
        sep = "&" if urlsplit(realm).query else "?"
        url = realm + (sep + urlencode(params) if params else "")
        return self._send("GET", url, headers=headers, verify=verify)

    def _error(self, response: requests.Response, method: str, url: str, what: Optional[str]) -> RegistryError:
        hint = None
        if response.status_code == 401:
            credential = self.credential
            if credential.anonymous:
                searched = self._keychain.describe() if self._keychain else "no keychain given"
                hint = f"no credentials found for {self.registry} ({searched})"
            else:
                hint = f"the credentials for {self.registry} from {credential.source} were rejected"
        try:
            return error_from_response(response, method=method, url=url, what=what, hint=hint)
        finally:
            response.close()
