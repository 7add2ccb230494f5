"""Give pantsd's freed memory back to the operating system (`[oci].trim_pantsd_memory`).

Snapshotting a tree makes pantsd allocate and free a buffer per file. glibc's malloc keeps what
is freed inside its heaps, and fragmentation keeps those pages resident: after a cold `package`
of 20,000 files pantsd holds ~1.3 GB although what it still uses is ~0.4 GB, and every edit adds
to it, so a large repository reaches Pants' `pantsd_max_memory_usage` and pantsd restarts (the
next command pays a cold graph). `malloc_trim(0)` returns the free pages inside the heaps too,
which glibc's own trimming (only the top of the main heap) never does; it takes tens of
milliseconds. Limiting glibc's arenas (`MALLOC_ARENA_MAX`) must happen before pantsd starts and
only stops the growth, so it is not used here.

The trim rides on Pants' streaming workunit callbacks: Pants calls them about once a second
during a run and once after it, on their own thread, and the last call may finish after the
client has its answer. The callback reads pantsd's anonymous resident memory and trims when it
has grown by `TRIM_GROWTH` since the last trim, so a no-op run costs one read of
/proc/self/status. Elsewhere than Linux with glibc there is nothing to call, and no callback.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from pants.engine.rules import collect_rules, rule
from pants.engine.streaming_workunit_handler import (
    StreamingWorkunitContext,
    WorkunitsCallback,
    WorkunitsCallbackFactory,
    WorkunitsCallbackFactoryRequest,
)
from pants.engine.unions import UnionRule

from pants_oci.subsystem import OciSubsystem

logger = logging.getLogger(__name__)

# Less than this is left alone: a trim walks every heap, and small growth is the graph's own.
TRIM_GROWTH = 64 << 20


def rss_anon_bytes(status: str) -> Optional[int]:
    """`RssAnon` of a /proc/<pid>/status text, in bytes: resident memory that is not a mapped
    file (VmRSS also counts the pages of the store's memory-mapped LMDB files)."""
    for line in status.splitlines():
        if line.startswith("RssAnon:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                return None
            return int(value) * 1024
    return None


def read_rss_anon() -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            return rss_anon_bytes(f.read())
    except OSError:
        return None


def glibc_malloc_trim() -> Optional[Callable[[], object]]:
    """glibc's `malloc_trim(0)`, or None where the C library has none (macOS, musl)."""
    try:
        # The symbols the process already has: glibc's malloc_trim if the C library is glibc.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


@dataclass
class MemoryTrimmer:
    """Trims when resident memory grew by `growth` bytes since the level after the last trim.
    One per pantsd: its level carries from run to run."""

    trim: Callable[[], object]
    read: Callable[[], Optional[int]] = read_rss_anon
    growth: int = TRIM_GROWTH
    level: Optional[int] = None

    def __post_init__(self) -> None:
        # Pants may call a finishing run's callback while the next run's calls begin.
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Trims if due; True when it did."""
        with self._lock:
            now = self.read()
            if now is None:
                return False
            if self.level is not None and now - self.level < self.growth:
                return False
            started = time.perf_counter()
            self.trim()
            self.level = self.read()
            logger.debug(
                f"malloc_trim: resident anonymous memory {now >> 20} -> {(self.level or 0) >> 20} MiB "
                f"in {(time.perf_counter() - started) * 1000:.0f} ms"
            )
            return True


class _TrimCallback(WorkunitsCallback):
    def __init__(self, trimmer: MemoryTrimmer) -> None:
        self.trimmer = trimmer

    def __call__(self, *, started_workunits, completed_workunits, finished: bool, context: StreamingWorkunitContext):
        self.trimmer.check()

    @property
    def can_finish_async(self) -> bool:
        return True


class TrimPantsdMemoryCallbackFactoryRequest(WorkunitsCallbackFactoryRequest):
    pass


_TRIMMER_LOCK = threading.Lock()
_TRIMMER: list[MemoryTrimmer] = []


def process_trimmer() -> Optional[MemoryTrimmer]:
    """The one trimmer of this process (the rule below is re-run when options change, and
    the level must survive that); None without glibc."""
    with _TRIMMER_LOCK:
        if not _TRIMMER:
            trim = glibc_malloc_trim()
            if trim is None or read_rss_anon() is None:
                return None
            _TRIMMER.append(MemoryTrimmer(trim))
        return _TRIMMER[0]


@rule
async def trim_pantsd_memory_callback(
    _: TrimPantsdMemoryCallbackFactoryRequest, oci: OciSubsystem
) -> WorkunitsCallbackFactory:
    enabled = oci.trim_pantsd_memory

    def factory() -> Optional[WorkunitsCallback]:
        trimmer = process_trimmer() if enabled else None
        return _TrimCallback(trimmer) if trimmer else None

    return WorkunitsCallbackFactory(factory)


def rules():
    return [
        *collect_rules(),
        UnionRule(WorkunitsCallbackFactoryRequest, TrimPantsdMemoryCallbackFactoryRequest),
    ]
