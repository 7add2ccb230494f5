"""Measurements of bench/run.py taken outside Pants: the layer command run alone on a tree, its
peak RSS for one large file, and what creating files costs on this machine's filesystems."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

from _shell import clean_env, timed  # bench/ is sys.path[0]
from _workload import REPO

# The core, for LayerSpec (worker_start, imported first by bench/run.py, has put it there already).
if str(REPO / "src" / "python") not in sys.path:
    sys.path.append(str(REPO / "src" / "python"))
from ocikit.contracts.layer import LayerCommand, LayerSpec  # noqa: E402


def _layer_argv(spec: Path, blob: Path, descriptor: Path) -> list:
    """`python -m ocikit layer ...` as the plugin writes it (the command's typed contract)."""
    return [sys.executable, "-m", "ocikit", *LayerCommand(str(spec), str(blob), str(descriptor)).to_argv()]


def layer_alone(root: Path, tree: Path) -> float:
    """Seconds of the layer command a `deps` layer process runs (gzip level 1, as the plugin's
    default), on the same tree but outside Pants: no sandbox, no output capture."""
    spec = root / "alone-spec.json"
    spec.write_bytes(LayerSpec(str(tree), "/opt", compression="gzip", level=1).dumps())
    env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"), PYTHONDONTWRITEBYTECODE="1")
    try:
        seconds, _ = timed(
            _layer_argv(spec, root / "alone.blob", root / "alone.json"),
            root,
            env=env,
        )
    finally:
        for leftover in ("alone-spec.json", "alone.blob", "alone.json"):
            (root / leftover).unlink(missing_ok=True)
    return seconds


def file_creation_seconds(directory: str, count: int = 3000) -> float:
    """Seconds to create `count` empty files in a fresh directory under `directory`: what a
    sandbox pays per input file before writing a byte."""
    d = tempfile.mkdtemp(prefix="oci-bench-create-", dir=directory)
    try:
        t0 = time.monotonic()
        for i in range(count):
            open(os.path.join(d, f"f{i}"), "wb").close()
        return time.monotonic() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def layer_peak_rss(base: Path, size_mb: int) -> Dict[str, float]:
    """Peak RSS (MiB) of `python -m ocikit layer` -- the command a layer `Process` runs -- for a
    tree holding one file of `size_mb` MB (alternating random and text MiB), per compression."""
    tree = base / "rss-tree"
    tree.mkdir()
    rng = random.Random(2)
    block = rng.randbytes(1 << 20)
    text = (b"some compressible text line\n" * 40000)[: 1 << 20]
    with open(tree / "big.bin", "wb") as f:
        for i in range(size_mb):
            f.write(block if i % 2 else text)
    waiter = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = dict(clean_env(), PYTHONPATH=str(REPO / "src" / "python"))
    peaks = {}
    try:
        for compression in ("gzip", "zstd", "none"):
            spec = base / "rss-spec.json"
            spec.write_bytes(LayerSpec(str(tree), "/", compression=compression).dumps())
            cmd = [
                sys.executable,
                "-c",
                waiter,
                *_layer_argv(spec, base / "rss.blob", base / "rss.json"),
            ]
            proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
            peaks[compression] = int(proc.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        for leftover in ("rss.blob", "rss.json", "rss-spec.json"):
            (base / leftover).unlink(missing_ok=True)
    return peaks
