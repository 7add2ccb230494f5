"""Small helpers shared by push and pull: membership of a registry list, a bounded thread
run, and JSON records written whole."""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable, Collection, Optional, Sequence


def is_listed(registry: str, registries: Collection[str]) -> bool:
    """Is `registry` (host[:port]) named in `registries`? A bare host there covers every port."""
    return registry in registries or registry.rsplit(":", 1)[0] in registries


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


def write_record(path: Optional[str], value: Any) -> None:
    """Write `value` as JSON to `path`, replacing it whole (never half-written)."""
    if path:
        write_file(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_file(path: str, data: bytes) -> None:
    """Replace `path` whole with `data`: written under a temporary name of its own, renamed."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)  # `pants publish` does not write dist/ itself
    # A temporary name of its own: two publishes of one image (PANTS_CONCURRENT) write the
    # same record, and each must replace it whole.
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
