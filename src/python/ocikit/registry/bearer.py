"""Bearer tokens for a registry that asks for them (go-containerregistry's transport/bearer.go):
fetched from the challenge's realm for exactly the scopes a request needs, cached per scope
set until shortly before they expire, forgotten and fetched again once when refused (a 401).

A token is asked for with GET (Basic credentials, or anonymously) or, holding an identity
token, with the OAuth2 refresh-token POST (GET again when the server has no POST endpoint).
Credentials go to a plain-HTTP realm only on loopback, on the registry itself, or when the
registry was called insecure."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Optional, Sequence
from urllib.parse import urlencode, urlsplit

import requests

from ocikit.reference import is_loopback
from ocikit.registry.auth import Credential, basic_authorization
from ocikit.registry.challenge import Challenge, parse_challenges
from ocikit.registry.errors import AuthenticationError, RegistryError, redact_url
from ocikit.registry.secrets import register_secret
from ocikit.registry.sender import Sender

log = logging.getLogger(__name__)

# (response, method, url, what) -> the error to raise, with the transport's credential hints.
ErrorOf = Callable[[requests.Response, str, str, Optional[str]], RegistryError]


def _scope_parts(scope: str) -> tuple[str, frozenset]:
    """`repository:a/b:pull,push` -> ("repository:a/b", {"pull", "push"})."""
    resource, _, actions = scope.rpartition(":")
    return resource, frozenset(a for a in actions.split(",") if a)


def scope_covered(scope: str, scopes: Iterable[str]) -> bool:
    """Is every action of `scope` already asked for, on the same resource, by one of `scopes`?"""
    resource, actions = _scope_parts(scope)
    for other in scopes:
        other_resource, other_actions = _scope_parts(other)
        if other_resource == resource and actions <= other_actions:
            return True
    return False


class BearerTokens:
    """The tokens of one registry, per scope set. Thread-safe."""

    def __init__(self, registry: str, sender: Sender, *, http_allowed: bool, error_of: ErrorOf) -> None:
        self.registry = registry
        self._sender = sender
        self._http_allowed = http_allowed
        self._error_of = error_of
        self._lock = threading.Lock()
        self._tokens: dict[frozenset, tuple[str, float]] = {}

    def token(self, challenge: Challenge, credential: Credential, scopes: Sequence[str]) -> str:
        key = frozenset(scopes)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token, expires_in = self._fetch(challenge, credential, sorted(key))
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 10, expires_in / 2))
            return token

    def refresh_scopes(
        self, scopes: Sequence[str], response: requests.Response, used: Optional[str]
    ) -> tuple[str, ...]:
        """Forget the token that was refused (unless another thread already replaced it) and
        widen the scopes by what the 401's challenge asks for beyond what they already grant.

        Distribution names in its challenge the access this one request needs, with the actions
        in any order (`repository:r:pull` for a HEAD, `repository:r:push,pull` for a PUT when
        the token simply expired): a scope already covered must not change the set, or the
        retry would fetch a token for a new cache key and the next request another one."""
        with self._lock:
            cached = self._tokens.get(frozenset(scopes))
            if cached and used == "Bearer " + cached[0]:
                del self._tokens[frozenset(scopes)]
        wanted = list(scopes)
        for challenge in parse_challenges(response.headers.get("WWW-Authenticate", "")):
            if challenge.scheme == "bearer" and challenge.params.get("scope"):
                for scope in challenge.params["scope"].split(" "):
                    if scope and not scope_covered(scope, wanted):
                        wanted.append(scope)
        return tuple(sorted(set(wanted)))

    # -- fetching -------------------------------------------------------------------------

    def _fetch(self, challenge: Challenge, credential: Credential, scopes: Sequence[str]) -> tuple[str, float]:
        if credential.registry_token:
            return credential.registry_token, 3600.0
        realm = self._realm(challenge)
        verify = not (self._sender.insecure and urlsplit(realm).netloc == self.registry)
        service = challenge.params.get("service")
        if credential.identity_token:
            response = self._post_refresh_token(realm, service, scopes, credential.identity_token, verify)
            if response.status_code in (404, 405):
                response.close()
                response = self._get(realm, service, scopes, credential, verify)
        else:
            response = self._get(realm, service, scopes, credential, verify)
        if response.status_code != 200:
            raise self._error_of(
                response, response.request.method or "GET", realm, f"getting a token for {self.registry}"
            )
        token, expires_in = self._read(response, realm)
        register_secret(token)
        log.debug("got a token for %s (scopes %s)", self.registry, " ".join(scopes))
        return token, expires_in

    def _realm(self, challenge: Challenge) -> str:
        """The token server's URL, if credentials may be sent there."""
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AuthenticationError(
                f"{self.registry} asked for a bearer token but gave no usable realm URL ({realm!r})",
                code="UNAUTHORIZED",
                status=401,
            )
        trusted_http = is_loopback(parts.netloc) or parts.netloc == self.registry or self._sender.insecure
        if parts.scheme == "http" and not (self._http_allowed and trusted_http):
            raise AuthenticationError(
                f"{self.registry} sends clients for tokens to plain-HTTP {redact_url(realm)}; refusing "
                "to send credentials there (pass the registry as insecure if that is intended)",
                code="UNAUTHORIZED",
                status=401,
            )
        return realm

    def _post_refresh_token(
        self, realm: str, service: Optional[str], scopes: Sequence[str], identity_token: str, verify: bool
    ) -> requests.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": identity_token,
            "client_id": "ocikit",
            "scope": " ".join(scopes),
        }
        if service:
            form["service"] = service
        return self._sender.send(
            "POST",
            realm,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=urlencode(form).encode("ascii"),
            verify=verify,
        )

    def _get(
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
        return self._sender.send("GET", url, headers=headers, verify=verify)

    def _read(self, response: requests.Response, realm: str) -> tuple[str, float]:
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
        return token, expires_in
