"""Uploading one blob from a file: monolithic for small blobs, streamed PATCHes for large ones.

A large blob goes as one PATCH streaming the whole file (as skopeo and go-containerregistry
send it): one request, flat memory, and no per-chunk request and registry-side hash-state
round trip. `chunk_size` splits it into several PATCHes with Content-Range instead, for
registries or proxies that cap request bodies. After a broken PATCH, GET the upload's status
and go on from the offset the registry reports, with the rest of the file. When the registry
cannot resume the session (Distribution refuses a session whose stored size moved under a
half-received PATCH), start the upload again, a bounded number of times.

The client does not hash blob bytes: the registry verifies the digest of what it received
when the upload is committed (PUT `?digest=`), and refuses a mismatch.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Optional

from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import RegistryConnectionError, RegistryError

log = logging.getLogger(__name__)

MONOLITHIC_MAX = 1 << 20  # blobs up to 1 MiB go in one PUT
DEFAULT_CHUNK_SIZE: Optional[int] = None  # None: the whole (rest of the) blob in one PATCH
_READ_SIZE = 256 << 10
_MAX_RESUMES = 5
_MAX_RESTARTS = 3
_RESTARTABLE_CODES = frozenset({"BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "RANGE_INVALID"})


class FileSlice:
    """A request body streaming bytes [offset, offset+length) of a file; reports bytes read.

    Has `__len__` so that requests sends Content-Length instead of chunked encoding."""

    def __init__(self, path: str, offset: int, length: int, on_bytes: Optional[Callable[[int], None]]) -> None:
        self._path, self._offset, self._length = path, offset, length
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        left = self._length
        with open(self._path, "rb") as f:
            f.seek(self._offset)
            while left > 0:
                chunk = f.read(min(_READ_SIZE, left))
                if not chunk:
                    raise OSError(f"{self._path} is shorter than expected (it changed during the push?)")
                left -= len(chunk)
                if self._on_bytes:
                    self._on_bytes(len(chunk))
                yield chunk


def upload_blob(
    client: RepositoryClient,
    path: str,
    digest: str,
    size: int,
    *,
    location: Optional[str] = None,
    chunk_size: Optional[int] = DEFAULT_CHUNK_SIZE,
    monolithic_max: int = MONOLITHIC_MAX,
    on_bytes: Optional[Callable[[int], None]] = None,
) -> int:
    """Upload the file at `path` as blob `digest`, into `location` if an upload is already open.

    `chunk_size` None (or 0) sends a large blob in one PATCH; a positive size, in PATCHes of at
    most that many bytes. Returns the number of body bytes sent (more than `size` when parts
    were sent again)."""
    sent = [0]

    def count(n: int) -> None:
        sent[0] += n
        if on_bytes:
            on_bytes(n)

    for restart in range(_MAX_RESTARTS + 1):
        try:
            if location is None:
                location = client.start_upload()
            if size <= monolithic_max:
                with open(path, "rb") as f:
                    data = f.read()
                if len(data) != size:
                    raise OSError(f"{path} has {len(data)} bytes, not the {size} its descriptor says")
                client.commit_upload(location, digest, data)
                count(len(data))
            else:
                location = _upload_chunks(client, location, path, size, chunk_size, count)
                client.commit_upload(location, digest)
            return sent[0]
        except RegistryError as e:  # RegistryConnectionError included
            restartable = (
                isinstance(e, RegistryConnectionError)
                or e.code in _RESTARTABLE_CODES
                or (e.status is not None and e.status >= 500)
            )
            if not restartable or restart == _MAX_RESTARTS:
                raise
            if client.blob_size(digest) == size:
                return sent[0]  # the registry committed it after all
            log.warning("upload of %s to %s failed (%s); starting it again", digest, client.name, e)
            location = None
    raise AssertionError("unreachable")


def _upload_chunks(
    client: RepositoryClient,
    location: str,
    path: str,
    size: int,
    chunk_size: Optional[int],
    count: Callable[[int], None],
) -> str:
    if os.path.getsize(path) != size:
        raise OSError(f"{path} has {os.path.getsize(path)} bytes, not the {size} its descriptor says")
    offset, resumes = 0, 0
    while offset < size:
        length = size - offset if not chunk_size or chunk_size <= 0 else min(chunk_size, size - offset)
        try:
            new_offset, location = client.upload_chunk(location, FileSlice(path, offset, length, count), offset, length)
        except RegistryError as e:
            if not isinstance(e, RegistryConnectionError) and (e.status is None or e.status < 500):
                raise
            resumes += 1
            if resumes > _MAX_RESUMES:
                raise
            # Raises BLOB_UPLOAD_INVALID/UNKNOWN when the registry cannot resume: upload_blob
            # then starts over.
            new_offset, location = client.upload_status(location)
            log.info(
                "PATCH at offset %d broke off (%s); the registry holds %d bytes, resuming there", offset, e, new_offset
            )
        if new_offset > size:
            raise RegistryError(
                f"{client.name} reports {new_offset} bytes received for a {size}-byte blob", code="BLOB_UPLOAD_INVALID"
            )
        offset = new_offset
    return location
