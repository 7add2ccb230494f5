"""Which scheme a registry speaks and which auth it asks for: `GET /v2/` (go-containerregistry's
transport/ping.go and its scheme choice). HTTPS first; plain HTTP only where the caller allows
it (loopback registries, registries called insecure). A 200 means no auth; a 401 carries the
challenge (Basic, or Bearer with the token server's realm)."""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from ocikit.registry.challenge import Challenge, pick_challenge
from ocikit.registry.errors import RegistryConnectionError, RegistryError, error_from_response
from ocikit.registry.sender import TLS_UNTRUSTED, Sender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pong:
    base: str  # "https://host:port", what API paths are joined to
    challenge: Challenge  # Challenge("") when the registry asks for no auth


def ping(sender: Sender, registry: str, *, http_allowed: bool) -> Pong:
    schemes = ["https", "http"] if http_allowed else ["https"]
    if http_allowed and not speaks_tls(registry, sender.timeout):
        schemes = ["http"]
    for i, scheme in enumerate(schemes):
        last = i == len(schemes) - 1
        url = f"{scheme}://{registry}/v2/"
        try:
            response = sender.send("GET", url, headers={}, retry=last)
        except RegistryConnectionError as e:
            # A TLS server with a certificate we do not trust is not a plain-HTTP one.
            if last or e.code == TLS_UNTRUSTED:
                raise
            log.debug("%s did not answer over %s; trying the next scheme", registry, scheme)
            continue
        pong = Pong(f"{scheme}://{registry}", _challenge(response, url, registry))
        log.debug("registry %s: %s, auth %s", registry, scheme, pong.challenge.scheme or "none")
        return pong
    raise AssertionError("unreachable: the last scheme's failure is raised")


def _challenge(response: requests.Response, url: str, registry: str) -> Challenge:
    try:
        if response.status_code == 200:
            return Challenge("")
        if response.status_code == 401:
            return pick_challenge(response.headers.get("WWW-Authenticate", ""))
        error: RegistryError = error_from_response(
            response, method="GET", url=url, what=f"checking that {registry} is a registry"
        )
        raise error
    finally:
        response.close()


def speaks_tls(registry: str, timeout: tuple[float, float]) -> bool:
    """Does the registry answer a TLS handshake? Asked before the https ping of a registry
    that may also be plain HTTP, because requests' https attempt loads a CA store before it
    can fail on a plain-HTTP server, which costs far more than this handshake.

    It only picks the schemes to try: on False, the https ping would have failed with a
    connection error and fallen back to http just the same; on True, the https ping runs
    as before, verified as configured. Nothing from this unverified handshake is used.
    Through a proxy (HTTPS_PROXY...) the answer would be about the proxy: then True."""
    if requests.utils.get_environ_proxies(f"https://{registry}/v2/"):
        return True
    parts = urlsplit(f"https://{registry}")
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout[0]) as sock:
            sock.settimeout(timeout[1])
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ValueError) as e:  # ssl.SSLError, refused, reset, timed out, no such host
        log.debug("%s did not answer a TLS handshake (%s); trying http only", registry, type(e).__name__)
        return False
