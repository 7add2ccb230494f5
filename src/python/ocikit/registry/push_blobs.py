"""One blob into one repository, for `ocikit.registry.push`: the registry-wide record of which
repositories hold which blobs, the claims that keep two threads off the same blob on one
registry, and the steps (HEAD, mount, upload) in go-containerregistry's order."""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Optional, Protocol, Sequence

from ocikit.errors import OcikitError
from ocikit.layout import LayoutBlob
from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import AccessDeniedError, AuthenticationError
from ocikit.registry.push_stats import Counters
from ocikit.registry.transport import Transport
from ocikit.registry.upload import upload_blob
from ocikit.registry.upload_journal import UploadJournal

log = logging.getLogger("ocikit.registry.push")

ASK = object()  # BlobSteps.push: the blob was not checked (HEAD, mounts) yet
_NEW = object()  # BlobSteps._open: the blob is to be uploaded into a new upload session


class PushCancelled(OcikitError):
    """The push stopped at a checkpoint because its session was cancelled (Ctrl-C)."""


class BlobSession(Protocol):
    """What the blob steps use of `ocikit.registry.push.PushSession` (a protocol, so this module
    does not import the one that imports it)."""

    cancel: threading.Event
    chunk_size: Optional[int]
    journal: Optional[UploadJournal]
    monolithic_max: int
    progress: Any
    slots: threading.BoundedSemaphore

    def checkpoint(self) -> None: ...


class RegistryRun:
    """One registry's transport, shared by every image a session pushes there: which
    repositories are known to hold which blobs, and which blobs a thread is working on.

    A blob is worked on (checked, mounted or uploaded) by one thread at a time per registry:
    the others wait, then find it in their repository or mount it from its holder."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.broken: Optional[str] = None  # why the registry is taken as unreachable for this session
        self._holders: dict[str, list[str]] = {}
        self._busy: set[str] = set()
        self._lock = threading.Condition()

    def note(self, digest: str, repository: str) -> None:
        with self._lock:
            holders = self._holders.setdefault(digest, [])
            if repository not in holders:
                holders.append(repository)

    def holder(self, digest: str, other_than: str) -> Optional[str]:
        with self._lock:
            return next((r for r in self._holders.get(digest, []) if r != other_than), None)

    def holders(self, digests: Iterable[str], other_than: str) -> list[str]:
        with self._lock:
            found = [r for d in digests for r in self._holders.get(d, []) if r != other_than]
        return list(dict.fromkeys(found))

    def acquire(self, digest: str, cancel: threading.Event) -> None:
        with self._lock:
            while digest in self._busy:
                if cancel.is_set():
                    raise PushCancelled()
                self._lock.wait(0.2)
            self._busy.add(digest)

    def release(self, digest: str) -> None:
        with self._lock:
            self._busy.discard(digest)
            self._lock.notify_all()


class BlobSteps:
    """The steps of one blob into one repository: wait while another thread works on the same
    blob on this registry, check it (HEAD), mount it from a repository known to hold it, or
    upload it."""

    def __init__(
        self,
        session: BlobSession,
        run: RegistryRun,
        client: RepositoryClient,
        extra_sources: Sequence[str],
        counters: Counters,
    ) -> None:
        self.session, self.run, self.client = session, run, client
        self.extra_sources, self.counters = extra_sources, counters
        self._opened: Optional[str] = None  # the claim open_first took, until push takes it over

    def release_unpushed(self) -> None:
        """Release the first blob's claim if its push never ran (cancelled by another failure)."""
        if self._opened is not None:
            self.run.release(self._opened)
            self._opened = None

    def open_first(self, blob: LayoutBlob) -> Any:
        """Claim the first blob and take its steps before the bytes; `push` finishes it."""
        self.session.checkpoint()
        self.run.acquire(blob.digest, self.session.cancel)
        try:
            where = self._open(blob)
            if where is _NEW and not self._recorded(blob):
                where = self.client.start_upload()
        except BaseException:
            self.run.release(blob.digest)
            raise
        self._opened = blob.digest
        return where

    def _recorded(self, blob: LayoutBlob) -> bool:
        """Does the journal hold an earlier run's session of this blob (then resumed, not opened)?"""
        journal = self.session.journal
        return (
            journal is not None
            and blob.size > self.session.monolithic_max
            and journal.holds(self.client.transport.registry, self.client.repository, blob.digest)
        )

    def push(self, blob: LayoutBlob, where: Any = ASK) -> None:
        """Push one blob; `where` is what `open_first` answered for it, when it did (this thread
        then holds the blob's claim already)."""
        if where is ASK:
            self.session.checkpoint()
            self.run.acquire(blob.digest, self.session.cancel)
        else:
            self._opened = None
        try:
            with self.session.slots:
                if where is ASK:
                    where = self._open(blob)
                if where is not None:
                    self._upload(blob, where)
        finally:
            self.run.release(blob.digest)

    def _open(self, blob: LayoutBlob) -> Any:
        """HEAD the blob, and mount it if another repository holds it. Returns None when the
        repository holds it now; else where to upload it: the location of the upload a
        refused mount opened, or _NEW (no upload open yet)."""
        client, run, counters = self.client, self.run, self.counters
        repository = client.repository
        if client.blob_size(blob.digest) is not None:
            run.note(blob.digest, repository)
            counters.add("blobs_present")
            log.info("%s already holds %s", client.name, blob.digest)
            return None
        source = run.holder(blob.digest, repository)
        if source is None:
            for candidate in self.extra_sources:
                if _holds(client, blob.digest, candidate):
                    run.note(blob.digest, candidate)
                    source = candidate
                    break
        if source is None:
            return _NEW
        try:
            location = client.mount_blob(blob.digest, source)
        except (AuthenticationError, AccessDeniedError) as e:
            log.info("mounting %s from %s was not allowed (%s); uploading it", blob.digest, source, e)
            return client.start_upload()
        if location is None:
            run.note(blob.digest, repository)
            counters.add("blobs_mounted")
            log.info("mounted %s into %s from %s", blob.digest, client.name, source)
            return None
        log.info("%s refused to mount %s from %s; uploading it", client.name, blob.digest, source)
        return location

    def _upload(self, blob: LayoutBlob, where: Any) -> None:
        session, progress = self.session, self.session.progress

        def advanced(n: int) -> None:
            session.checkpoint()  # Ctrl-C breaks the upload off: nothing of it is committed
            progress.advanced(blob.digest, n)

        progress.started(blob.digest, blob.size, "uploading")
        try:
            sent = upload_blob(
                self.client,
                blob.path,
                blob.digest,
                blob.size,
                location=None if where is _NEW else where,
                chunk_size=session.chunk_size,
                monolithic_max=session.monolithic_max,
                on_bytes=advanced,
                journal=session.journal,
            )
        except BaseException:
            progress.finished(blob.digest, "failed")
            raise
        progress.finished(blob.digest, "uploaded")
        self.run.note(blob.digest, self.client.repository)
        self.counters.add("blobs_uploaded")
        self.counters.add("bytes_uploaded", sent)
        log.info("uploaded %s to %s (%d bytes sent)", blob.digest, self.client.name, sent)


def _holds(client: RepositoryClient, digest: str, repository: str) -> bool:
    """Does another repository hold the blob? Not being allowed to look counts as no."""
    try:
        return client.blob_size(digest, repository=repository) is not None
    except (AuthenticationError, AccessDeniedError):
        return False
