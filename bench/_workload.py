"""The generated tree of bench/run.py (also built on by bench/scale.py, bench/sbom_cost.py and
bench/shard_locality.py): its BUILD file, the files a build root copies from this repo, the targets
and the one-file edit, making a build root, and stopping that root's pantsd."""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
from pathlib import Path
from typing import Dict

from _single_layer import SINGLE_BUILD  # bench/ is sys.path[0]

REPO = Path(__file__).resolve().parent.parent
COPY = ["pants", "pants.toml", "BUILD", "requirements-pants.txt", "pants-plugins", "src"]
TARGET = "work:bench"
ARCHIVE_TARGET = "work:archive"
SEED = 20240601

# The generated tree's three layers (bench/scale.py builds other images on them).
LAYERS_BUILD = """\
files(name="deps_files", sources=["deps/**/*"])
files(name="assets_files", sources=["assets/**/*"])
files(name="app_files", sources=["app/**/*"])

oci_layer(name="deps", dependencies=[":deps_files"], destination="/opt")
oci_layer(name="assets", dependencies=[":assets_files"], destination="/srv")
oci_layer(name="app", dependencies=[":app_files"], destination="/app", owner="1000:1000")
"""

WORK_BUILD = (
    LAYERS_BUILD
    + """
oci_image(
    name="bench",
    layers=[":deps", ":assets", ":app"],
    repository="bench/work",
    image_tags=["latest"],
)

# Pants' own packaging of the same files, for the remote-cache rows: its snapshot of the
# inputs and its process served from the same cache.
archive(name="archive", files=[":deps_files", ":assets_files", ":app_files"], format="tar.gz")
"""
)


def _text_pool(rng: random.Random, size: int) -> bytes:
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(2000)]
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def generate_workload(work: Path, files: int, mb: float, seed: int = SEED) -> Dict[str, int]:
    """Deterministic tree: deps ~80% of bytes, assets ~18%, app ~2%. Most files are small
    compressible text; ~2% of each group's files are large random blobs holding ~60% of its bytes."""
    rng = random.Random(seed)
    pool = _text_pool(rng, 1 << 20)
    total = int(mb * 1024 * 1024)
    groups = [("deps", 0.60, 0.80), ("assets", 0.30, 0.18), ("app", 0.10, 0.02)]
    counts = {}
    for name, file_share, byte_share in groups:
        nfiles = max(3, int(files * file_share))
        nbytes = int(total * byte_share)
        nlarge = max(1, nfiles // 50) if name != "app" else 0
        large_bytes = int(nbytes * 0.6) if nlarge else 0
        small_each = max(64, (nbytes - large_bytes) // max(1, nfiles - nlarge))
        for i in range(nfiles):
            d = work / name / f"d{i % 17:02d}" / f"e{(i // 17) % 7}"
            d.mkdir(parents=True, exist_ok=True)
            if i < nlarge:
                (d / f"blob{i:05d}.bin").write_bytes(rng.randbytes(large_bytes // nlarge))
            else:
                size = max(32, int(small_each * rng.uniform(0.3, 1.7)))
                off = rng.randrange(0, len(pool) - 1)
                chunk = (pool[off:] + pool)[:size]
                header = f"# {name} file {i}\n".encode()
                (d / f"f{i:05d}.txt").write_bytes(header + chunk)
        counts[name] = nfiles
    (work / "BUILD").write_text(WORK_BUILD + SINGLE_BUILD)
    return counts


APP_EDIT_FILE = "app/d00/e0/f00000.txt"


def make_build_root(root: Path, files: int, mb: float) -> Path:
    """A fresh build root at `root`: this repo's Pants setup (COPY) and the generated tree in work/."""
    root.mkdir()
    for name in COPY:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    shutil.rmtree(root / "pants-plugins" / "__pycache__", ignore_errors=True)
    generate_workload(root / "work", files, mb)
    return root


def kill_pantsd(root: Path) -> None:
    """Stop every pantsd started in the build root `root` (one per set of global flags)."""
    for pidfile in glob.glob(str(root / ".pids" / "**" / "pid"), recursive=True):
        try:
            pid = int(Path(pidfile).read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError, OSError):
            pass
