"""Files and JSON records written whole: under a temporary name of their own, then renamed,
so a reader (or a run that failed half-way) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional


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
