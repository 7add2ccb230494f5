"""Progress of blob transfers: bytes and rate per blob on long transfers, to stderr."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Optional


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """Receives transfer events. The base class ignores them (quiet)."""

    def started(self, digest: str, size: int, verb: str) -> None:
        pass

    def advanced(self, digest: str, n: int) -> None:
        pass

    def finished(self, digest: str, outcome: str) -> None:
        pass


class StderrProgress(Progress):
    """One line per blob every `interval` seconds while it transfers, once it has taken longer
    than `after` seconds; a line when such a blob is done. Thread-safe."""

    def __init__(self, stream: Optional[IO[str]] = None, *, interval: float = 2.0, after: float = 2.0) -> None:
        self._stream = stream
        self._interval, self._after = interval, after
        self._lock = threading.Lock()
        self._blobs: dict[str, list] = {}  # digest -> [size, done, started, last_print, verb, shown]

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stderr

    def started(self, digest: str, size: int, verb: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._blobs[digest] = [size, 0, now, now, verb, False]

    def advanced(self, digest: str, n: int) -> None:
        now = time.monotonic()
        with self._lock:
            state = self._blobs.get(digest)
            if state is None:
                return
            state[1] += n
            if now - state[2] >= self._after and now - state[3] >= self._interval:
                state[3], state[5] = now, True
                self._print(digest, state, now)

    def finished(self, digest: str, outcome: str) -> None:
        now = time.monotonic()
        with self._lock:
            state = self._blobs.pop(digest, None)
            if state is not None and state[5]:
                elapsed = max(now - state[2], 1e-6)
                self._write(
                    f"{_short(digest)}  {outcome}  {format_bytes(state[1])} in {elapsed:.1f} s "
                    f"({format_bytes(state[1] / elapsed)}/s)"
                )

    def _print(self, digest: str, state: list, now: float) -> None:
        size, done, started, _, verb, _ = state
        rate = done / max(now - started, 1e-6)
        percent = f" {100 * done / size:.0f}%" if size else ""
        self._write(
            f"{_short(digest)}  {verb} {format_bytes(done)} / {format_bytes(size)}{percent}  {format_bytes(rate)}/s"
        )

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _short(digest: str) -> str:
    return digest[:19]
