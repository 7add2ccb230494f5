"""Upload sessions that outlive the push process: where a broken blob upload can go on.

A push that breaks off mid-upload (killed, a cut connection, a registry restart) leaves the
registry holding the bytes that arrived, in an upload session named by its Location URL. The
journal keeps, for each (registry, repository, blob digest), that Location and how many bytes
the registry confirmed, so that the next push of the same blob asks the registry how far it got
(GET on the Location answers `Range: 0-N`) and sends only the rest. Pants keeps the journal in
the workers' named cache (`.ocikit/uploads`), never under dist/.

What is written: the registry, repository, digest, size, the Location (which may carry the
registry's own state token, e.g. Distribution's `_state`) and the confirmed byte count; never a
request header, so never a credential. A Location on another host than the registry is not
recorded (nor used), so a record cannot send blob bytes elsewhere.

Several pushes may run at once (two `pants publish` in two checkouts share the named cache):
each record is one file replaced whole by rename, and `take` hands a record to one process
only (an atomic rename to a name of its own); two uploads of one blob at once each write their
own session, and the last one written is the one resumed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Iterator, Optional
from urllib.parse import urlsplit

from ocikit.whole_files import write_file

log = logging.getLogger(__name__)

_VERSION = 1
_KIND = "ocikit-upload-session"
RESUME_DIR_HELP = (
    "record broken blob uploads in DIR, and go on with a recorded upload where the "
    "registry left it instead of sending the whole blob again"
)
# A session the registry has surely purged by now (Distribution purges after 7 days by default).
STALE_SECONDS = 7 * 24 * 3600
# A record a killed process had taken (renamed) but not yet read: nobody will.
_TAKEN_SECONDS = 3600


@dataclass(frozen=True)
class UploadRecord:
    registry: str  # host[:port], as the push names it
    repository: str
    digest: str
    size: int
    location: str  # the absolute upload URL to go on from
    confirmed: int  # bytes the registry has acknowledged at `location`
    updated: float = 0.0  # time.time() of the last write

    def same_blob(self, registry: str, repository: str, digest: str, size: int) -> bool:
        return (self.registry, self.repository, self.digest, self.size) == (registry, repository, digest, size)

    def to_json(self) -> dict:
        return {"kind": _KIND, "version": _VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> Optional["UploadRecord"]:
        """The record, or None for anything else (another version, a damaged file)."""
        if not isinstance(data, dict) or data.get("kind") != _KIND or data.get("version") != _VERSION:
            return None
        try:
            record = cls(
                str(data["registry"]),
                str(data["repository"]),
                str(data["digest"]),
                int(data["size"]),
                str(data["location"]),
                int(data["confirmed"]),
                float(data.get("updated", 0.0)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return record if 0 <= record.confirmed <= record.size else None


def same_host(location: str, base_url: str) -> bool:
    """Is the absolute URL `location` on the registry at `base_url` (scheme, host and port)?"""
    a, b = urlsplit(location), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and not a.username and not a.password


class UploadJournal:
    """The upload sessions of the blobs being pushed, one JSON file each under `directory`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, registry: str, repository: str, digest: str) -> str:
        key = hashlib.sha256(f"{registry}\0{repository}\0{digest}".encode()).hexdigest()[:32]
        return os.path.join(self.directory, f"{key}.json")

    def holds(self, registry: str, repository: str, digest: str) -> bool:
        """Is a session of this blob recorded (to check before opening a new one)?"""
        return os.path.exists(self.path(registry, repository, digest))

    def save(self, record: UploadRecord) -> None:
        """Record (replace whole) where the blob's upload can go on."""
        record = replace(record, updated=time.time())
        try:
            with self._locked():
                write_file(
                    self.path(record.registry, record.repository, record.digest),
                    json.dumps(record.to_json(), sort_keys=True).encode(),
                )
        except OSError as e:  # the journal only saves time: a push never fails for it
            log.warning("could not record the upload of %s in %s: %s", record.digest, self.directory, e)

    def take(self, registry: str, repository: str, digest: str, size: int) -> Optional[UploadRecord]:
        """The recorded session of this blob in this repository, removed from the journal (one
        process gets it). A record of another registry, repository, blob or size, or a damaged
        one, is dropped and None returned."""
        path = self.path(registry, repository, digest)
        taken = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.taken"
        try:
            os.rename(path, taken)
        except OSError:
            return None  # none, or another process took it first
        try:
            with open(taken, encoding="utf-8") as f:
                record = UploadRecord.from_json(json.load(f))
        except (OSError, ValueError):
            record = None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(taken)
        if record is None or not record.same_blob(registry, repository, digest, size):
            log.info(
                "ignored a recorded upload session for %s in %s/%s: it is not this blob's", digest, registry, repository
            )
            return None
        if time.time() - record.updated > STALE_SECONDS:
            return None
        return record

    def drop(self, registry: str, repository: str, digest: str, location: str) -> None:
        """Forget the session at `location` (committed): a record of another session of the same
        blob (another process's, still going) stays."""
        path = self.path(registry, repository, digest)
        with contextlib.suppress(OSError, ValueError), self._locked():
            with open(path, encoding="utf-8") as f:
                record = UploadRecord.from_json(json.load(f))
            if record is None or record.location == location:
                os.unlink(path)

    def prune(self, now: Optional[float] = None) -> int:
        """Remove stale records (blobs never pushed again) and what killed processes left;
        returns how many files went."""
        now = time.time() if now is None else now
        removed = 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        for name in names:
            if not name.endswith((".json", ".taken", ".tmp")):
                continue  # the lock file
            path = os.path.join(self.directory, name)
            limit = _TAKEN_SECONDS if name.endswith((".taken", ".tmp")) else STALE_SECONDS
            with contextlib.suppress(OSError):
                if now - os.path.getmtime(path) > limit:
                    os.unlink(path)
                    removed += 1
        return removed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Writers and the compare-and-drop hold it; `take` needs no lock (one rename).
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
