"""One HTTP request to a registry, sent under the retry policy (go-containerregistry's
transport/retry.go): temporary failures (429, 408, 5xx, connection errors, timeouts) are
retried with backoff a bounded number of times; a TLS failure or a host name that does not
resolve is not, since another attempt would fail the same way."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Callable, Iterable, Mapping, Optional, Union
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ocikit.registry.errors import RegistryConnectionError, redact_url
from ocikit.registry.retry import RETRY_STATUSES, RetryPolicy, is_name_resolution_failure, reason, retry_after

log = logging.getLogger(__name__)

USER_AGENT = "ocikit/0.1 (+python-requests)"
DEFAULT_TIMEOUT = (10.0, 120.0)  # (connect, read) seconds for every request
TLS_UNTRUSTED = "TLS_UNTRUSTED"  # RegistryConnectionError.code: the certificate did not verify
# bytes, a stream (an iterable with __len__, sent once), or a callable giving a fresh body per attempt
Body = Union[None, bytes, Iterable[bytes], Callable[[], Any]]
_TEMPORARY = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class _NoNetrc(requests.auth.AuthBase):
    """Given as `auth=` so that requests never substitutes ~/.netrc credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Sender:
    """A connection pool to one registry and the retry policy applied to what goes through it."""

    def __init__(
        self,
        *,
        insecure: bool = False,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        pool_size: int = 8,
    ) -> None:
        self.insecure = insecure
        self.timeout = timeout
        self.retry = retry
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = USER_AGENT
        if insecure:
            # The user asked for unverified TLS to this registry: no warning per request.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

    def close(self) -> None:
        self._session.close()

    def send(
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
        """The first answer that is not a temporary failure (or the last one when the attempts
        run out); RegistryConnectionError when no answer came."""
        attempts = self.retry.attempts if retry else 1
        verify = not self.insecure if verify is None else verify
        last_exc: Optional[BaseException] = None
        for attempt in range(attempts):
            try:
                response = self._attempt(method, url, headers, data, stream, verify, timeout)
            except _TEMPORARY as e:
                last_exc = e
                if is_name_resolution_failure(e):
                    attempts = attempt + 1  # a host name that does not resolve will not start to
                    break
                if attempt + 1 < attempts:
                    self._pause(self.retry.delay(attempt), method, url, f"failed ({reason(e)})")
                    continue
                break
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                pause = self.retry.delay(attempt, retry_after(response))
                response.close()
                self._pause(pause, method, url, f"answered {response.status_code}")
                continue
            return response
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise RegistryConnectionError(
            f"cannot reach {urlsplit(url).netloc}: {method} {redact_url(url)} failed{tries}: {reason(last_exc)}",
            method=method,
            url=url,
        )

    def _attempt(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: Body,
        stream: bool,
        verify: bool,
        timeout: Optional[tuple[float, float]],
    ) -> requests.Response:
        body = data() if callable(data) else data
        log.debug("%s %s", method, redact_url(url))
        try:
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
            raise _tls_error(e, method, url) from None
        log.debug("%s %s -> %d", method, redact_url(url), response.status_code)
        return response

    @staticmethod
    def _pause(seconds: float, method: str, url: str, what: str) -> None:
        log.info("%s %s %s; retrying in %.1f s", method, redact_url(url), what, seconds)
        time.sleep(seconds)


def _tls_error(e: requests.exceptions.SSLError, method: str, url: str) -> RegistryConnectionError:
    untrusted = "certificate" in str(e).lower()
    hint = " (trust its CA with REQUESTS_CA_BUNDLE=FILE, or pass it as an insecure registry)" if untrusted else ""
    return RegistryConnectionError(
        f"TLS with {urlsplit(url).netloc} failed on {method} {redact_url(url)}: {reason(e)}{hint}",
        code=TLS_UNTRUSTED if untrusted else None,
        method=method,
        url=url,
    )
