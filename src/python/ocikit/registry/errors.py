"""One place that turns a registry's HTTP answer into a typed RegistryError.

The message names the spec's error code, the HTTP status, the method and URL (never
credentials, never query tokens) and says what a person can do about it. A small secret
registry (`register_secret` / `scrub`) is the last line of defence: every credential and token
the client handles is registered, and every error text and log line is scrubbed of them.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Optional, Sequence
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from ocikit.errors import OcikitError

# Query keys that are safe to show; every other value (upload state, signed-URL signatures,
# tokens) is replaced by "…".
_SHOWN_QUERY_KEYS = frozenset({"digest", "mount", "from", "n", "last", "service", "scope"})

_HINTS = {
    "UNAUTHORIZED": "check the credentials for {host} (docker/podman config.json `auths`, "
    "`credHelpers` or `credsStore`)",
    "DENIED": "the credentials for {host} are not allowed to do this on the repository; check its permissions",
    "NAME_UNKNOWN": "the repository does not exist on {host} (check the name)",
    "MANIFEST_UNKNOWN": "no manifest with that tag or digest exists on {host}",
    "BLOB_UNKNOWN": "the blob does not exist in this repository on {host}",
    "BLOB_UPLOAD_UNKNOWN": "the upload session expired or was cancelled; push again",
    "BLOB_UPLOAD_INVALID": "the upload session is no longer usable; push again",
    "DIGEST_INVALID": "the bytes sent do not match their digest; rebuild the image layout",
    "SIZE_INVALID": "the bytes sent do not match their declared size; rebuild the image layout",
    "MANIFEST_INVALID": "{host} rejected the manifest; check that every media type is one it accepts",
    "MANIFEST_BLOB_UNKNOWN": "the manifest references a blob {host} does not hold",
    "NAME_INVALID": "the repository name is not valid on {host}",
    "TAG_INVALID": "the tag is not valid on {host}",
    "UNSUPPORTED": "{host} does not support this operation",
    "TOOMANYREQUESTS": "{host} is rate limiting requests; wait and try again, or authenticate",
}
_CODE_BY_STATUS = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}


class RegistryError(OcikitError):
    """A registry answered with an error (or could not be reached, or sent bad bytes)."""

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        method: Optional[str] = None,
        url: Optional[str] = None,
        codes: Sequence[str] = (),
    ) -> None:
        super().__init__(scrub(message))
        self.code = code
        self.codes = tuple(codes) or ((code,) if code else ())
        self.status = status
        self.method = method
        self.url = redact_url(url) if url else None

    @property
    def message(self) -> str:
        return str(self)


class AuthenticationError(RegistryError):
    """401: no credentials, wrong credentials, or a token that the registry did not accept."""


class AccessDeniedError(RegistryError):
    """403 / DENIED: authenticated, but not allowed."""


class NotFoundError(RegistryError):
    """404: unknown repository, manifest, blob or upload."""


class RateLimitedError(RegistryError):
    """429 / TOOMANYREQUESTS, after the retries ran out."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached (after the retries ran out)."""


class DigestMismatchError(RegistryError):
    """Bytes from (or accepted by) a registry do not have the digest they should."""


_CLASS_BY_STATUS = {401: AuthenticationError, 403: AccessDeniedError, 404: NotFoundError, 429: RateLimitedError}


def error_from_response(
    response: Any,
    *,
    method: Optional[str] = None,
    url: Optional[str] = None,
    what: Optional[str] = None,
    hint: Optional[str] = None,
) -> RegistryError:
    """The typed error for a registry response that was not a success.

    `what` says what the client was doing ("pushing manifest sha256:…"), shown first; `hint`
    replaces the default advice for the error code.
    """
    method = method or getattr(getattr(response, "request", None), "method", None) or "?"
    url = url or getattr(response, "url", None) or "?"
    status = int(response.status_code)
    entries = _error_entries(response)
    codes = [str(e.get("code") or "").upper() for e in entries if e.get("code")]
    code = codes[0] if codes else _CODE_BY_STATUS.get(status)
    if status == 401:
        code = "UNAUTHORIZED" if not codes or codes[0] == "UNKNOWN" else code
    host = urlsplit(url).netloc.rsplit("@", 1)[-1] or "the registry"

    said = "; ".join(_describe_entry(e) for e in entries) if entries else _short_body(response)
    if status == 401:
        challenge = response.headers.get("WWW-Authenticate", "") if hasattr(response, "headers") else ""
        if "insufficient_scope" in challenge:
            said = (said + "; " if said else "") + "the token does not grant the access needed"
    parts = [f"{what}: " if what else ""]
    parts.append(f"{code or 'HTTP ' + str(status)} (HTTP {status}) on {method} {redact_url(url)}")
    if said:
        parts.append(f": {said}")
    hint = hint or _HINTS.get(code or "", "").format(host=host)
    if hint:
        parts.append(f" ({hint})")
    elif status >= 500:
        parts.append(f" ({host} had a server error; retry later)")
    cls = _CLASS_BY_STATUS.get(status, RegistryError)
    if code == "DENIED":
        cls = AccessDeniedError
    elif code == "TOOMANYREQUESTS":
        cls = RateLimitedError
    return cls("".join(parts), code=code, status=status, method=method, url=url, codes=codes)


def redact_url(url: str) -> str:
    """The URL without user info and with every query value but the harmless ones hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe=':/,') if k in _SHOWN_QUERY_KEYS else '…'}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _error_entries(response: Any) -> list[dict[str, Any]]:
    try:
        body = json.loads(_body_text(response) or "null")
    except ValueError:
        return []
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, dict)]
    return []


def _describe_entry(entry: dict[str, Any]) -> str:
    message = str(entry.get("message") or "").strip()
    detail = entry.get("detail")
    if detail not in (None, "", [], {}):
        text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        if len(text) > 300:
            text = text[:300] + "…"
        message = f"{message} ({text})" if message else text
    return message or str(entry.get("code") or "")


def _short_body(response: Any) -> str:
    text = (_body_text(response) or "").strip()
    if not text or text.startswith("<"):
        return ""
    return text[:200] + ("…" if len(text) > 200 else "")


def _body_text(response: Any) -> str:
    try:
        if getattr(response, "_content_consumed", True) is False and getattr(response, "raw", None) is not None:
            data = response.raw.read(65536, decode_content=True)
        else:
            data = response.content or b""
        return data[:65536].decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    except Exception:  # noqa: BLE001 - an unreadable error body must not hide the error itself
        return ""


_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: Optional[str]) -> None:
    """Remember a credential or token so that `scrub` removes it from any text."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def describe_error(e: BaseException) -> str:
    """One line for a failure, scrubbed: a registry's or credential store's own message, an
    OS error with its file, else the exception's type and text."""
    if isinstance(e, (OcikitError, ValueError)):
        text = str(e)
    elif isinstance(e, OSError):
        text = f"{e.strerror or e}" + (f": {e.filename}" if getattr(e, "filename", None) else "")
    else:
        text = f"unexpected {type(e).__name__}: {e}"
    return scrub(" ".join(text.split()))
