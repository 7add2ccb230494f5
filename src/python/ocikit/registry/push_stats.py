"""What a push counts: blobs, bytes, manifests, tags, signatures and attestations."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PushStats:
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    bytes_uploaded: int = 0
    manifests_pushed: int = 0
    manifests_present: int = 0
    tags_pushed: int = 0
    signatures_pushed: int = 0
    signatures_present: int = 0
    attestations_pushed: int = 0
    attestations_present: int = 0
    attachments_copied: int = 0  # a promotion's cosign attachments (.sig, .att, .sbom tags)
    attachments_present: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


class Counters:
    """The counts of one push, from its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {k: 0 for k in PushStats.__dataclass_fields__ if k != "seconds"}

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.values[key] += n
