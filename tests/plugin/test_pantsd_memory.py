"""`[oci].trim_pantsd_memory`: pantsd's freed memory handed back to the operating system by
glibc's `malloc_trim`, from Pants' streaming workunit callbacks."""

from __future__ import annotations

import ctypes
import sys
from typing import List, Optional

import pytest
from pants.engine.environment import EnvironmentName
from pants.engine.rules import QueryRule
from pants.engine.streaming_workunit_handler import WorkunitsCallbackFactories
from pants.engine.unions import UnionMembership
from pants.testutil.rule_runner import RuleRunner

from pants_oci import pantsd_memory
from pants_oci.pantsd_memory import TRIM_GROWTH, MemoryTrimmer, glibc_malloc_trim, read_rss_anon, rss_anon_bytes

MiB = 1 << 20
ON_GLIBC = sys.platform.startswith("linux") and glibc_malloc_trim() is not None


def test_rss_anon_is_read_from_a_status_text() -> None:
    status = "Name:\tpantsd\nVmRSS:\t  2048000 kB\nRssAnon:\t  1342076 kB\nRssFile:\t   705924 kB\n"
    assert rss_anon_bytes(status) == 1342076 * 1024
    assert rss_anon_bytes("Name:\tpantsd\n") is None


class Recorder:
    """What the trimmer reads, in order, and how many times it trimmed."""

    def __init__(self, readings: List[Optional[int]]) -> None:
        self.readings = readings
        self.trims = 0

    def read(self) -> Optional[int]:
        return self.readings.pop(0)

    def trim(self) -> None:
        self.trims += 1


def test_trims_first_then_only_after_growing_by_the_threshold() -> None:
    rec = Recorder([])
    trimmer = MemoryTrimmer(trim=rec.trim, read=rec.read)

    rec.readings += [900 * MiB, 400 * MiB]  # before and after the first trim
    assert trimmer.check() and rec.trims == 1 and trimmer.level == 400 * MiB

    rec.readings += [400 * MiB + TRIM_GROWTH - 1]  # grew, but less than the threshold
    assert not trimmer.check() and rec.trims == 1 and trimmer.level == 400 * MiB

    rec.readings += [400 * MiB + TRIM_GROWTH, 410 * MiB]
    assert trimmer.check() and rec.trims == 2 and trimmer.level == 410 * MiB

    rec.readings += [None]  # no /proc: nothing to decide on
    assert not trimmer.check() and rec.trims == 2
    assert rec.readings == []


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's, on Linux")
def test_malloc_trim_returns_freed_heap_pages_to_the_system() -> None:
    # Freed chunks between chunks still in use stay resident: glibc only ever gives back the
    # top of a heap by itself. This is what a snapshot leaves in pantsd.
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunk, count = 64 * 1024, 2048  # 128 MiB, each chunk below the mmap threshold
    pointers = [libc.malloc(chunk) for _ in range(count)]
    try:
        for p in pointers:
            ctypes.memset(p, 1, chunk)
        for i, p in enumerate(pointers):
            if i % 16:
                libc.free(p)
        freed = read_rss_anon()
        trim = glibc_malloc_trim()
        assert trim is not None
        trim()
        trimmed = read_rss_anon()
        assert freed is not None and trimmed is not None
        assert freed - trimmed > 64 * MiB, (freed // MiB, trimmed // MiB)
    finally:
        for i, p in enumerate(pointers):
            if i % 16 == 0:
                libc.free(p)


@pytest.fixture
def callback_runner(rule_runner: RuleRunner) -> RuleRunner:
    return RuleRunner(
        rules=[*rule_runner.rules, QueryRule(WorkunitsCallbackFactories, [UnionMembership, EnvironmentName])],
        target_types=rule_runner.target_types,
    )


def _our_callbacks(runner: RuleRunner) -> list:
    factories = runner.request(WorkunitsCallbackFactories, [runner.union_membership])
    callbacks = [f.callback_factory() for f in factories]
    return [c for c in callbacks if c is not None and type(c).__module__ == pantsd_memory.__name__]


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's, on Linux")
def test_pants_gets_the_callback_unless_the_option_is_off(callback_runner: RuleRunner) -> None:
    callbacks = _our_callbacks(callback_runner)
    assert len(callbacks) == 1
    assert callbacks[0].can_finish_async  # the last trim never delays the client's answer
    assert callbacks[0].trimmer is pantsd_memory.process_trimmer()  # one level per process

    callback_runner.set_options(["--no-oci-trim-pantsd-memory"], env_inherit={"PATH", "HOME"})
    assert _our_callbacks(callback_runner) == []
