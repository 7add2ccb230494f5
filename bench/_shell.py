"""Running commands for the benchmarks: a clean environment, a checked run, a timed run, and
reading Pants' `--stats-log` counters."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional


def clean_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PANTS_")}


def sh(cmd, cwd: Path, env=None, check=True) -> subprocess.CompletedProcess:
    shell = isinstance(cmd, str)
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd] if shell else cmd,
        cwd=cwd,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def timed(cmd, cwd: Path, **kw):
    t0 = time.monotonic()
    proc = sh(cmd, cwd, **kw)
    return time.monotonic() - t0, proc


def counter(stderr: str, name: str) -> Optional[int]:
    m = re.findall(rf"\b{name}\b\W+(\d+)", stderr)
    return int(m[-1]) if m else None
