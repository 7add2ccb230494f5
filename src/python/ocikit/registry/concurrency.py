"""A bounded thread run for push and pull: on the first failure, nothing more starts."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence


def run_concurrently(tasks: Sequence[Callable[[], Any]], jobs: int) -> None:
    """Run the callables on up to `jobs` threads. On the first failure, cancel what has not
    started, wait for what has, and raise that failure."""
    if not tasks:
        return
    if jobs <= 1 or len(tasks) == 1:
        for task in tasks:
            task()
        return
    executor = ThreadPoolExecutor(max_workers=min(jobs, len(tasks)), thread_name_prefix="ocikit")
    try:
        futures = [executor.submit(task) for task in tasks]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f.done() and not f.cancelled() and f.exception()), None)
        if failed is not None:
            for other in futures:
                other.cancel()
            raise failed.exception()  # type: ignore[misc]
        for future in futures:
            future.result()
    finally:
        executor.shutdown(wait=True)
