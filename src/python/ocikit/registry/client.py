"""The registry API for one repository: blobs, manifests, upload sessions, tags.

Each method is one small step of the distribution spec; push.py and pull.py chain them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional
from urllib.parse import quote

import requests

from ocikit import media_types
from ocikit.digest import is_digest, sha256_digest
from ocikit.registry.errors import (
    DigestMismatchError,
    NotFoundError,
    RegistryConnectionError,
    RegistryError,
    redact_url,
)
from ocikit.registry.transport import Transport

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    [media_types.OCI_MANIFEST, media_types.OCI_INDEX, media_types.DOCKER_MANIFEST, media_types.DOCKER_MANIFEST_LIST]
)
_STREAM_CHUNK = 1 << 20
_MAX_MANIFEST_BYTES = 4 << 20
_RANGE_RE = re.compile(r"^(?:bytes=)?(\d+)-(\d+)$")
# A manifest PUT answered DIGEST_INVALID although its bytes hash to its digest: retried this often.
MANIFEST_DIGEST_INVALID_RETRIES = 2


@dataclass(frozen=True)
class ManifestInfo:
    """What HEAD on a manifest says (or GET, with the bytes)."""

    media_type: str
    digest: str
    size: int
    data: Optional[bytes] = None


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class _BrokenOff(RegistryConnectionError):
    """A blob body that stopped mid-stream after the request itself succeeded.

    Only these are retried around the download: the transport has already retried its own
    request failures, and retrying those again would multiply the attempts.
    """


class RepositoryClient:
    """One repository on one registry. `push=True` asks for push access; `mount_sources` adds
    pull access to the repositories blobs may be mounted from (one token covers all)."""

    def __init__(
        self, transport: Transport, repository: str, *, push: bool = False, mount_sources: Iterable[str] = ()
    ) -> None:
        self.transport = transport
        self.repository = repository
        sources = sorted({s for s in mount_sources if s != repository})
        self.scopes = tuple(
            [push_scope(repository) if push else pull_scope(repository)] + [pull_scope(s) for s in sources]
        )

    @property
    def name(self) -> str:
        return f"{self.transport.registry}/{self.repository}"

    def _path(self, kind: str, identifier: str = "") -> str:
        return f"/v2/{self.repository}/{kind}/{quote(identifier, safe=':@')}"

    # -- blobs ----------------------------------------------------------------------------

    def blob_size(self, digest: str, *, repository: Optional[str] = None) -> Optional[int]:
        """HEAD a blob: its size if the repository (default: this one) holds it, else None."""
        repo = repository or self.repository
        response = self.transport.request(
            "HEAD",
            f"/v2/{repo}/blobs/{digest}",
            scopes=self.scopes,
            ok=(200, 404),
            what=f"checking for blob {digest} in {self.transport.registry}/{repo}",
        )
        response.close()
        if response.status_code == 404:
            return None
        return int(response.headers.get("Content-Length") or 0)

    def fetch_blob(
        self,
        digest: str,
        dest_path: str,
        *,
        expected_size: Optional[int] = None,
        on_bytes: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Stream a blob into `dest_path`, verifying its sha256 (and size) before it is kept.

        Nothing of a blob whose bytes do not match stays on disk. Returns the size.
        """
        attempts = max(1, self.transport.retry.attempts)
        for attempt in range(attempts):
            try:
                return self._fetch_blob_once(digest, dest_path, expected_size, on_bytes)
            except _BrokenOff as e:
                if attempt + 1 >= attempts:
                    raise
                log.info("download of %s broke off (%s); starting it again", digest, e)
        raise AssertionError("unreachable")

    def _fetch_blob_once(
        self, digest: str, dest_path: str, expected_size: Optional[int], on_bytes: Optional[Callable[[int], None]]
    ) -> int:
        response = self.transport.request(
            "GET",
            self._path("blobs", digest),
            scopes=self.scopes,
            stream=True,
            what=f"fetching blob {digest} from {self.name}",
        )
        directory = os.path.dirname(os.path.abspath(dest_path))
        fd, partial = tempfile.mkstemp(prefix=".blob-", suffix=".partial", dir=directory)
        hasher, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    for chunk in response.iter_content(_STREAM_CHUNK):
                        hasher.update(chunk)
                        size += len(chunk)
                        if expected_size is not None and size > expected_size:
                            raise self._mismatch(digest, f"it is larger than the {expected_size} bytes expected")
                        out.write(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
                except (
                    requests.exceptions.ConnectionError,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.Timeout,
                ) as e:
                    raise _BrokenOff(
                        f"fetching blob {digest} from {self.name} broke off after {size} bytes: {type(e).__name__}",
                        method="GET",
                        url=response.url,
                    ) from None
            actual = "sha256:" + hasher.hexdigest()
            if actual != digest:
                raise self._mismatch(digest, f"its bytes hash to {actual}")
            if expected_size is not None and size != expected_size:
                raise self._mismatch(digest, f"it has {size} bytes, not the {expected_size} expected")
            os.replace(partial, dest_path)
            partial = ""
            return size
        finally:
            response.close()
            if partial and os.path.exists(partial):
                os.unlink(partial)

    def fetch_blob_bytes(self, digest: str, *, max_size: int = _MAX_MANIFEST_BYTES) -> bytes:
        """A small blob (a config) in memory, verified."""
        response = self.transport.request(
            "GET", self._path("blobs", digest), scopes=self.scopes, what=f"fetching blob {digest} from {self.name}"
        )
        data = response.content
        if len(data) > max_size:
            raise self._mismatch(digest, f"it is larger than {max_size} bytes")
        if sha256_digest(data) != digest:
            raise self._mismatch(digest, f"its bytes hash to {sha256_digest(data)}")
        return data

    def _mismatch(self, digest: str, why: str) -> DigestMismatchError:
        return DigestMismatchError(
            f"blob {digest} from {self.name} does not match its digest: {why}; nothing of it was kept",
            code="DIGEST_INVALID",
        )

    # -- manifests ------------------------------------------------------------------------

    def head_manifest(self, identifier: str) -> Optional[ManifestInfo]:
        """HEAD a manifest by tag or digest; None if the registry does not know it."""
        response = self.transport.request(
            "HEAD",
            self._path("manifests", identifier),
            scopes=self.scopes,
            ok=(200, 404),
            headers={"Accept": MANIFEST_ACCEPT},
            what=f"checking for manifest {identifier} in {self.name}",
        )
        response.close()
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        if not is_digest(digest):
            info = self.get_manifest(identifier)
            return ManifestInfo(info.media_type, info.digest, info.size)
        return ManifestInfo(_media_type(response), digest, int(response.headers.get("Content-Length") or 0))

    def get_manifest(self, identifier: str) -> ManifestInfo:
        """GET a manifest or index with its exact bytes; a digest identifier is verified."""
        response = self.transport.request(
            "GET",
            self._path("manifests", identifier),
            scopes=self.scopes,
            headers={"Accept": MANIFEST_ACCEPT},
            what=f"fetching manifest {identifier} from {self.name}",
        )
        data = response.content
        actual = sha256_digest(data)
        if is_digest(identifier) and actual != identifier:
            raise DigestMismatchError(
                f"manifest {identifier} from {self.name} does not match its digest: its bytes hash to {actual}",
                code="DIGEST_INVALID",
            )
        served = response.headers.get("Docker-Content-Digest")
        if served and is_digest(served) and served != actual:
            raise DigestMismatchError(
                f"manifest {identifier} from {self.name}: the registry says {served} but its bytes hash to {actual}",
                code="DIGEST_INVALID",
            )
        media_type = _media_type(response)
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = _media_type_in(data) or media_type
        if media_type not in media_types.MANIFEST_TYPES + media_types.INDEX_TYPES:
            raise RegistryError(
                f"{self.name}:{identifier} is served as {media_type!r}, which ocikit does not handle "
                f"(it reads {', '.join(media_types.MANIFEST_TYPES + media_types.INDEX_TYPES)})",
                code="MANIFEST_INVALID",
            )
        return ManifestInfo(media_type, actual, len(data), data)

    def put_manifest(self, identifier: str, data: bytes, media_type: str) -> str:
        """PUT manifest bytes by digest or tag with their exact media type; check the digest."""
        expected = sha256_digest(data)
        for attempt in range(MANIFEST_DIGEST_INVALID_RETRIES + 1):
            try:
                response = self.transport.request(
                    "PUT",
                    self._path("manifests", identifier),
                    scopes=self.scopes,
                    data=data,
                    headers={"Content-Type": media_type},
                    ok=(200, 201, 202),
                    what=f"pushing manifest {expected} to {self.name} as {identifier}",
                )
                break
            except RegistryError as e:
                # The bytes hash to `expected` (computed just above), so DIGEST_INVALID is the
                # registry's own race: Distribution's filesystem driver rewrites a manifest
                # blob in place, and a concurrent push of the same manifest can read it half
                # written while verifying an index (seen 1 in 20 in test_faults_concurrency).
                if e.code != "DIGEST_INVALID" or attempt == MANIFEST_DIGEST_INVALID_RETRIES:
                    raise
                log.debug("%s answered DIGEST_INVALID for %s; retrying", self.name, expected)
                time.sleep(0.2 * (attempt + 1))
        response.close()
        served = response.headers.get("Docker-Content-Digest")
        if served and served != expected:
            raise DigestMismatchError(
                f"{self.name} stored manifest {identifier} as {served}, not {expected}",
                code="DIGEST_INVALID",
            )
        return expected

    # -- uploads --------------------------------------------------------------------------

    def put_small_blob(self, data: bytes) -> bool:
        """Upload a blob held in memory (a signature payload, a config) in one request, unless
        the repository has it; True when it was sent."""
        digest = sha256_digest(data)
        if self.blob_size(digest) == len(data):
            return False
        self.commit_upload(self.start_upload(), digest, data)
        return True

    def mount_blob(self, digest: str, source: str) -> Optional[str]:
        """Ask for a cross-repository mount. None if mounted; else the upload it started.

        A source this client was not made with (a repository another image of the same run
        just pushed) adds its pull scope to this request's token: without it, a token registry
        answers with a plain upload instead of the mount."""
        scopes = self.scopes if pull_scope(source) in self.scopes else (*self.scopes, pull_scope(source))
        response = self.transport.request(
            "POST",
            f"/v2/{self.repository}/blobs/uploads/?mount={digest}&from={quote(source, safe='/')}",
            scopes=scopes,
            ok=(201, 202),
            what=f"mounting blob {digest} from {source} into {self.name}",
        )
        response.close()
        if response.status_code == 201:
            return None
        return self._location(response)

    def start_upload(self) -> str:
        response = self.transport.request(
            "POST",
            f"/v2/{self.repository}/blobs/uploads/",
            scopes=self.scopes,
            ok=(202,),
            what=f"starting a blob upload to {self.name}",
        )
        response.close()
        return self._location(response)

    def upload_status(self, location: str) -> tuple[int, str]:
        """How many bytes the registry holds for an upload (its Range), and where to go on."""
        response = self.transport.request(
            "GET", location, scopes=self.scopes, ok=(204, 200), what=f"asking {self.name} how much of an upload arrived"
        )
        response.close()
        return _range_end(response.headers.get("Range")), self._location(response, default=location)

    def upload_chunk(self, location: str, body: Iterable[bytes], offset: int, length: int) -> tuple[int, str]:
        """PATCH one chunk; returns the registry's new offset and the next location.

        Never retried here: after a broken PATCH the caller asks `upload_status`."""
        response = self.transport.request(
            "PATCH",
            location,
            scopes=self.scopes,
            data=body,
            retry=False,
            ok=(202, 204),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            },
            what=f"uploading bytes {offset}-{offset + length - 1} to {self.name}",
        )
        response.close()
        reported = response.headers.get("Range")
        new_offset = _range_end(reported) if reported else offset + length
        return new_offset, self._location(response, default=location)

    def commit_upload(self, location: str, digest: str, data: Optional[bytes] = None) -> None:
        """PUT `?digest=` to finish an upload (with the whole blob when `data` is given)."""
        sep = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream"}
        response = self.transport.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            scopes=self.scopes,
            data=data or b"",
            headers=headers,
            ok=(201, 204),
            what=f"committing blob {digest} to {self.name}",
        )
        response.close()
        served = response.headers.get("Docker-Content-Digest")
        if served and served != digest:
            raise DigestMismatchError(f"{self.name} stored blob {digest} as {served}", code="DIGEST_INVALID")

    def _location(self, response: requests.Response, default: Optional[str] = None) -> str:
        location = response.headers.get("Location") or default
        if not location:
            raise RegistryError(
                f"{self.name} answered {response.request.method} {redact_url(response.url)} without a Location header",
                status=response.status_code,
            )
        return self.transport.url(location)


def _media_type(response: requests.Response) -> str:
    return (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()


def _media_type_in(data: bytes) -> str:
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return ""
    return str(value.get("mediaType") or "") if isinstance(value, dict) else ""


def _range_end(value: Optional[str]) -> int:
    """Distribution's `Range: 0-N` means N+1 bytes arrived ("0-0" is taken as none)."""
    match = _RANGE_RE.match((value or "").strip())
    if not match:
        return 0
    end = int(match.group(2))
    return end + 1 if end > 0 else 0


__all__ = ["MANIFEST_ACCEPT", "ManifestInfo", "NotFoundError", "RepositoryClient", "pull_scope", "push_scope"]
