"""The record of one `pants publish`: which images the run holds, and what became of each.

Pants asks the plugin for each image of the run separately; each asks `register` here while
the run is planned, before any process of the run starts. The run's directory
(dist/.oci-publish/run-<id>/) then holds exactly the run's images, which is what a push reads
to know what it may push, and `dist/oci-publish.json` is rewritten whole from it, under a lock,
after every change: at any moment it lists every image of the run registered so far, each
with its latest status, and never an image of another run.

An image's own record (dist/<image>.publish.json) describes its last successful publish: it is
written when the image is found published or is pushed, and removed when the image is
registered to be pushed, so that no failure or Ctrl-C leaves one describing an earlier run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from typing import Any, Iterable, Iterator, Optional

from ocikit.contracts.publish import INTERRUPTED, RunEntry
from ocikit.registry._common import write_file, write_record

_ENTRIES = "images"
_META = "run.json"  # {"interrupted": bool, "seconds": float}: what the pushes of the run wrote
_LOCK = "lock"
STALE_SECONDS = 24 * 3600


class RunRecord:
    """The registrations of one run (`run_dir`) and the record written from them (`path`)."""

    def __init__(self, run_dir: str, path: str) -> None:
        self.run_dir = run_dir
        self.path = path

    @property
    def run_id(self) -> str:
        return os.path.basename(self.run_dir.rstrip("/"))

    def register(self, entry: RunEntry, image_record: Optional[dict[str, Any]] = None) -> None:
        """Add one image to the run: `image_record` is its own record when it is found published;
        None removes any earlier one (the image is to be pushed)."""
        fresh = not os.path.isdir(self.run_dir)
        with self._locked():
            self._write_image(entry, image_record)
            self._write_record()
        if fresh:
            prune(os.path.dirname(self.run_dir), keep=self.run_dir)

    def entries(self) -> dict[str, RunEntry]:
        """The images registered so far, by key."""
        directory = os.path.join(self.run_dir, _ENTRIES)
        found = {}
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
            if name.endswith(".json"):
                entry = _read_entry(os.path.join(directory, name))
                found[entry.key] = entry
        return found

    def update(
        self,
        outcomes: Iterable[tuple[RunEntry, Optional[dict[str, Any]]]],
        *,
        interrupted: bool = False,
        seconds: Optional[float] = None,
    ) -> None:
        """Record what a push did: each (entry with its outcome, the image's record if pushed)."""
        with self._locked():
            for entry, image_record in outcomes:
                self._write_image(entry, image_record)
            meta = self._meta()
            meta["interrupted"] = bool(meta.get("interrupted")) or interrupted
            if seconds is not None:
                meta["seconds"] = round(max(float(meta.get("seconds", 0.0)), seconds), 3)
            write_record(os.path.join(self.run_dir, _META), meta)
            self._write_record()

    def _write_image(self, entry: RunEntry, image_record: Optional[dict[str, Any]]) -> None:
        """The image's entry, and its own record: written when given, else removed."""
        self._write_entry(entry)
        if entry.record:
            if image_record is not None:
                write_record(entry.record, image_record)
            else:
                _unlink(entry.record)

    def _write_entry(self, entry: RunEntry) -> None:
        name = hashlib.sha256(entry.key.encode()).hexdigest()[:24] + ".json"
        write_file(os.path.join(self.run_dir, _ENTRIES, name), entry.dumps())

    def _meta(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.run_dir, _META), encoding="utf-8") as f:
                return dict(json.load(f))
        except FileNotFoundError:
            return {}

    def _write_record(self) -> None:
        entries = sorted(self.entries().values(), key=lambda e: e.key)
        meta = self._meta()
        record: dict[str, Any] = {
            "run_id": self.run_id,
            "interrupted": bool(meta.get("interrupted")) or any(e.status == INTERRUPTED for e in entries),
            "images": [e.for_record() for e in entries],
        }
        if "seconds" in meta:
            record["seconds"] = meta["seconds"]
        write_record(self.path, record)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Pants' rules register images from several threads, and a push updates the record from
        # its own process: one lock file serves both (flock locks per open file).
        os.makedirs(self.run_dir, exist_ok=True)
        with open(os.path.join(self.run_dir, _LOCK), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def prune(state_dir: str, keep: str = "", max_age: float = STALE_SECONDS) -> None:
    """Remove what runs older than `max_age` seconds left in `state_dir`."""
    now = time.time()
    try:
        names = os.listdir(state_dir)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(state_dir, name)
        try:
            if path == keep or now - os.path.getmtime(path) <= max_age:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


# Every registration rewrites the record from all entries: a file unchanged since it was last
# read is not parsed again, so N registrations parse N entries, not N². Entries are replaced by
# rename, so a rewritten one has a new inode.
_READ: dict[str, tuple[tuple[int, int, int], RunEntry]] = {}


def _read_entry(path: str) -> RunEntry:
    st = os.stat(path)
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _READ.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    entry = RunEntry.read(path)
    if len(_READ) > 10_000:  # a long-lived pantsd publishing many runs
        _READ.clear()
    _READ[path] = (stamp, entry)
    return entry


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
