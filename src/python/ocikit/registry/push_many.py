"""Push many OCI layouts in one run: images concurrently, each with its own result.

One `PushSession` serves every image: one transport per registry, at most `jobs` blob
transfers at a time, and a layer that several images share uploaded once per registry and
mounted into the other repositories. Up to `jobs` images are in flight at once. One image
failing (refused credentials, a registry that went away) does not stop the others: each gets
an `ImageOutcome`. Ctrl-C stops every push at its next checkpoint; images already tagged stay
pushed, the others are `interrupted` and none has some of its tags only.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ocikit.contracts.publish import FAILED, INTERRUPTED, PUSHED
from ocikit.registry.attest import Predicate
from ocikit.registry.errors import describe_error
from ocikit.registry.progress import format_bytes
from ocikit.registry.promote import promote_image
from ocikit.registry.push import PushSession, PushSummary
from ocikit.registry.push_blobs import PushCancelled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImagePush:
    """One image of a run: its layout and where it goes. `key` is how the caller names it."""

    key: str
    layout: str
    destinations: tuple[str, ...]
    mounts_from: tuple[str, ...] = ()
    predicates: tuple[Predicate, ...] = ()  # attested when the session signs
    source: Optional[str] = None  # promoted: copied from this `registry/repo@digest`, not `layout`


@dataclass(frozen=True)
class ImageOutcome:
    key: str
    status: str  # PUSHED, FAILED or INTERRUPTED
    destinations: tuple[str, ...]
    summary: Optional[PushSummary] = None
    error: Optional[str] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == PUSHED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "status": self.status,
            "destinations": list(self.destinations),
            "seconds": round(self.seconds, 3),
        }
        if self.summary is not None:
            out["push"] = self.summary.to_json()
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class RunResult:
    outcomes: tuple[ImageOutcome, ...]
    interrupted: bool


def push_images(
    images: Sequence[ImagePush],
    session: PushSession,
    on_outcome: Optional[Callable[[ImageOutcome], None]] = None,
    on_interrupt: Optional[Callable[[], None]] = None,
) -> RunResult:
    """Push every image through `session`, up to `session.jobs` at a time; one outcome per
    image, in the order given. Ctrl-C (KeyboardInterrupt in this thread) cancels the session,
    waits for the pushes to reach a checkpoint, and returns with `interrupted` set; a second
    Ctrl-C while waiting is raised. `on_outcome` hears each image as it finishes and
    `on_interrupt` the first Ctrl-C, both in this thread: Pants kills an interrupted process
    a few seconds later (`[GLOBAL].process_execution_graceful_shutdown_timeout`), perhaps
    before a slow request reaches its checkpoint, so what is known is recorded at once."""
    outcomes: dict[str, ImageOutcome] = {}
    interrupted = False
    executor = ThreadPoolExecutor(max_workers=max(1, min(session.jobs, len(images))), thread_name_prefix="ocikit-image")
    finished = False
    try:
        futures: dict[Future, ImagePush] = {executor.submit(_push_one, image, session): image for image in images}
        pending = set(futures)
        while pending:
            # Ctrl-C may come while `on_outcome` writes: a future leaves `pending` only once it
            # is handled, so none is lost, and one handled twice gives the same outcome.
            try:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    outcomes[outcome.key] = outcome
                    pending.discard(future)
                    if on_outcome is not None:
                        on_outcome(outcome)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                session.cancel.set()
                log.info("interrupted: stopping the pushes at their next checkpoint")
                if on_interrupt is not None:
                    on_interrupt()
        finished = True
    finally:
        session.cancel.set()  # nothing more starts, whatever ends this loop
        executor.shutdown(wait=finished)
    return RunResult(tuple(outcomes[image.key] for image in images), interrupted)


def _push_one(image: ImagePush, session: PushSession) -> ImageOutcome:
    started = time.monotonic()
    try:
        session.checkpoint()
        if image.source is not None:
            summary = promote_image(session, image.source, image.destinations)
        else:
            summary = session.push(image.layout, image.destinations, image.mounts_from, image.predicates)
    except PushCancelled:
        return ImageOutcome(
            image.key,
            INTERRUPTED,
            image.destinations,
            error="interrupted before it was tagged",
            seconds=time.monotonic() - started,
        )
    except Exception as e:  # noqa: BLE001 - one image's failure is its outcome, not the run's
        log.debug("pushing %s failed: %s", image.key, type(e).__name__)
        return ImageOutcome(
            image.key, FAILED, image.destinations, error=describe_error(e), seconds=time.monotonic() - started
        )
    return ImageOutcome(image.key, PUSHED, image.destinations, summary=summary, seconds=time.monotonic() - started)


def format_table(rows: Sequence[tuple[str, str, str, str, str]]) -> str:
    """Rows of (reference, digest, bytes, seconds, status) as an aligned table."""
    header = ("REFERENCE", "DIGEST", "SENT", "SECONDS", "STATUS")
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def outcome_rows(outcome: ImageOutcome, digest: str) -> list[tuple[str, str, str, str, str]]:
    """The table rows of one image: one per destination."""
    short = digest[:19] if digest else "-"
    if outcome.ok and outcome.summary is not None:
        sent = format_bytes(outcome.summary.stats.bytes_uploaded)
        status = PUSHED
    else:
        sent, status = "-", f"{outcome.status}: {outcome.error}" if outcome.error else outcome.status
    return [(d, short, sent, f"{outcome.seconds:.2f}", status) for d in outcome.destinations]


__all__ = [
    "FAILED",
    "INTERRUPTED",
    "ImageOutcome",
    "ImagePush",
    "PUSHED",
    "RunResult",
    "format_table",
    "outcome_rows",
    "push_images",
]
