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

With an `UploadJournal`, a large blob's session outlives the process (upload_journal.py): it
is recorded when opened and after each PATCH the registry confirmed, and the next upload of
the same blob to the same repository asks the registry how far it got and sends the rest. A
session the registry lost (404, or refused as invalid) is dropped and the upload starts from
zero. Such uploads go in PATCHes of `RESUMABLE_CHUNK_SIZE` unless `chunk_size` says otherwise:
Distribution 2.8 cancels a session whose stored size differs from the offset in its Location's
state token, so only a Location it handed out after a whole PATCH can be gone on from.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Optional

from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import (
    AccessDeniedError,
    AuthenticationError,
    RegistryConnectionError,
    RegistryError,
)
from ocikit.registry.upload_journal import UploadJournal, UploadRecord, same_host

log = logging.getLogger(__name__)

MONOLITHIC_MAX = 1 << 20  # blobs up to 1 MiB go in one PUT
DEFAULT_CHUNK_SIZE: Optional[int] = None  # None: the whole (rest of the) blob in one PATCH
# A journaled upload's PATCH size: what a break can cost on Distribution 2.8 (see above).
RESUMABLE_CHUNK_SIZE = 32 << 20
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


def _upload_whole(client: RepositoryClient, location: str, path: str, digest: str, size: int) -> int:
    """A small blob in the request that commits it; the bytes sent."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != size:
        raise OSError(f"{path} has {len(data)} bytes, not the {size} its descriptor says")
    client.commit_upload(location, digest, data)
    return len(data)


def _restartable(e: RegistryError) -> bool:
    """A failure a new upload session may get past: the connection, the registry's own fault."""
    return (
        isinstance(e, RegistryConnectionError)
        or e.code in _RESTARTABLE_CODES
        or (e.status is not None and e.status >= 500)
    )


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
    journal: Optional[UploadJournal] = None,
) -> int:
    """Upload the file at `path` as blob `digest`, into `location` if an upload is already open
    (else into the session `journal` recorded for it, if the registry still holds it).

    `chunk_size` None (or 0) sends a large blob in one PATCH (in RESUMABLE_CHUNK_SIZE PATCHes
    with a journal); a positive size, in PATCHes of at most that many bytes. Returns the number
    of body bytes sent (more than `size` when parts were sent again, less when resumed)."""
    sent = [0]

    def count(n: int) -> None:
        sent[0] += n
        if on_bytes:
            on_bytes(n)

    journaled = journal if size > monolithic_max else None  # small blobs go in one request
    offset = 0
    if journaled is not None and location is None:
        location, offset = _recorded_session(client, journaled, digest, size)
    if journaled is not None and not chunk_size:
        chunk_size = RESUMABLE_CHUNK_SIZE
    for restart in range(_MAX_RESTARTS + 1):
        try:
            if location is None:
                location, offset = client.start_upload(), 0
            if size <= monolithic_max:
                count(_upload_whole(client, location, path, digest, size))
            else:
                confirmed = _Recorder(journaled, client, digest, size) if journaled is not None else None
                location = _upload_chunks(client, location, path, size, chunk_size, count, offset, confirmed)
                client.commit_upload(location, digest)
                if confirmed is not None:
                    confirmed.committed()
            return sent[0]
        except RegistryError as e:  # RegistryConnectionError included
            if not _restartable(e) or restart == _MAX_RESTARTS:
                raise
            if client.blob_size(digest) == size:
                return sent[0]  # the registry committed it after all
            log.warning("upload of %s to %s failed (%s); starting it again", digest, client.name, e)
            location = None
    raise AssertionError("unreachable")


class _Recorder:
    """Records a journaled upload's session: where it is, how much the registry confirmed."""

    def __init__(self, journal: UploadJournal, client: RepositoryClient, digest: str, size: int) -> None:
        self.journal, self.client, self.digest, self.size = journal, client, digest, size
        self.recorded: Optional[str] = None

    def __call__(self, location: str, confirmed: int) -> None:
        if same_host(location, self.client.transport.base_url):
            self.recorded = location
            self.journal.save(
                UploadRecord(
                    self.client.transport.registry, self.client.repository, self.digest, self.size, location, confirmed
                )
            )

    def committed(self) -> None:
        if self.recorded is not None:
            self.journal.drop(self.client.transport.registry, self.client.repository, self.digest, self.recorded)


def _recorded_session(
    client: RepositoryClient, journal: UploadJournal, digest: str, size: int
) -> tuple[Optional[str], int]:
    """The recorded session of this blob and how much of it the registry holds, or (None, 0)
    when there is none to go on from (never recorded, lost by the registry, not this blob's)."""
    record = journal.take(client.transport.registry, client.repository, digest, size)
    if record is None:
        return None, 0
    if not same_host(record.location, client.transport.base_url):
        log.info("ignored the recorded upload of %s: its location is not on %s", digest, client.transport.registry)
        return None, 0
    try:
        offset, location = client.upload_status(record.location)
    except (RegistryConnectionError, AuthenticationError, AccessDeniedError):
        journal.save(record)  # not the session's fault: keep it for the next run
        raise
    except RegistryError as e:
        log.info(
            "%s no longer holds the upload of %s recorded %d bytes in (%s); uploading it from the start",
            client.name,
            digest,
            record.confirmed,
            e,
        )
        return None, 0
    if offset > size:
        log.info(
            "%s holds %d bytes of a %d-byte upload of %s; uploading it from the start",
            client.name,
            offset,
            size,
            digest,
        )
        return None, 0
    log.info("resuming the upload of %s to %s at byte %d of %d", digest, client.name, offset, size)
    return location, offset


def _upload_chunks(
    client: RepositoryClient,
    location: str,
    path: str,
    size: int,
    chunk_size: Optional[int],
    count: Callable[[int], None],
    offset: int = 0,
    confirmed: Optional[Callable[[str, int], None]] = None,
) -> str:
    if os.path.getsize(path) != size:
        raise OSError(f"{path} has {os.path.getsize(path)} bytes, not the {size} its descriptor says")
    resumes = 0
    while offset < size:
        if confirmed is not None:
            confirmed(location, offset)
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
