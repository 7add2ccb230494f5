"""HTTP to one registry, authenticated: the pieces go-containerregistry's transport has, one
module each, put together here.

- ping.py: `GET /v2/` once, choosing the scheme (HTTPS with certificate verification by
  default; plain HTTP only for loopback registries and registries the caller calls insecure)
  and reading the auth challenge;
- bearer.py: tokens from the challenge's realm for exactly the scopes a request needs, cached
  per scope set, fetched again once on a 401;
- sender.py: each request sent under the retry policy (429, 5xx and connection errors retried
  with backoff and jitter, a bounded number of times; 401/403/404 never).
Basic credentials, when the challenge asks for them, go on every request.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable, Mapping, Optional, Sequence
from urllib.parse import urljoin

import requests

from ocikit.reference import is_loopback
from ocikit.registry.auth import ANONYMOUS, Credential, Keychain, basic_authorization
from ocikit.registry.bearer import BearerTokens
from ocikit.registry.challenge import pick_challenge
from ocikit.registry.errors import RegistryError, error_from_response, redact_url
from ocikit.registry.ping import Pong, ping
from ocikit.registry.retry import RetryPolicy
from ocikit.registry.sender import DEFAULT_TIMEOUT, TLS_UNTRUSTED, USER_AGENT, Body, Sender

__all__ = ["DEFAULT_TIMEOUT", "TLS_UNTRUSTED", "USER_AGENT", "Body", "RetryPolicy", "Transport"]

log = logging.getLogger(__name__)


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
        self._credential_lock = threading.Lock()
        self._sender = Sender(insecure=insecure, timeout=timeout, retry=retry, pool_size=pool_size)
        self._bearer = BearerTokens(registry, self._sender, http_allowed=self.http_allowed, error_of=self._error)
        self._ping_lock = threading.Lock()
        self._pong: Optional[Pong] = None

    @property
    def base_url(self) -> str:
        return self._pinged().base

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
            all_headers = {**(headers or {}), **({"Authorization": auth} if auth else {})}
            response = self._sender.send(
                method, url, headers=all_headers, data=data, stream=stream, retry=retry, timeout=timeout
            )
            if response.status_code in ok:
                return response
            first_401 = response.status_code == 401 and not refreshed
            retry_scopes = self._after_401(response, scopes, auth) if first_401 else None
            if retry_scopes is not None:
                refreshed, scopes = True, retry_scopes
                log.debug("%s %s answered 401; authenticating again", method, redact_url(url))
                response.close()
                continue
            raise self._error(response, method, url, what)

    def close(self) -> None:
        self._sender.close()

    @property
    def credential(self) -> Credential:
        """Looked up once, on first need (never for registries that ask for no auth)."""
        if self._credential is None:
            with self._credential_lock:
                if self._credential is None:
                    self._credential = self._keychain.resolve(self.registry) if self._keychain else ANONYMOUS
        return self._credential

    # -- auth -----------------------------------------------------------------------------

    def _pinged(self) -> Pong:
        if self._pong is None:
            with self._ping_lock:
                if self._pong is None:
                    self._pong = ping(self._sender, self.registry, http_allowed=self.http_allowed)
        return self._pong

    def _authorization(self, scopes: Sequence[str]) -> Optional[str]:
        challenge = self._pinged().challenge
        if challenge.scheme == "basic":
            return None if self.credential.anonymous else basic_authorization(self.credential)
        if challenge.scheme == "bearer":
            return "Bearer " + self._bearer.token(challenge, self.credential, scopes)
        return None

    def _after_401(self, response: requests.Response, scopes: tuple, used: Optional[str]) -> Optional[tuple]:
        """After a first 401, the scopes to try again with (None: another try is pointless).
        With bearer auth, a new token, for wider scopes if the challenge asks for them; when the
        registry let the anonymous ping through but wants auth for this, its challenge now says
        which."""
        pong = self._pinged()
        if pong.challenge.scheme == "bearer":
            return self._bearer.refresh_scopes(scopes, response, used)
        if pong.challenge.scheme == "" and response.headers.get("WWW-Authenticate"):
            self._pong = Pong(pong.base, pick_challenge(response.headers["WWW-Authenticate"]))
            return scopes
        return None

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
