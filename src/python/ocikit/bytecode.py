"""`python -m ocikit bytecode --root DIR --out OUT`: reproducible `.pyc` files.

(What Pants passes: ocikit.contracts.bytecode.BytecodeCommand.)

Run by the Python the image runs (bytecode is specific to its minor version). For every
`ROOT/a/b.py` it writes `OUT/a/__pycache__/b.<tag>.pyc`, the file that interpreter's import
system looks for next to the source, so OUT merged over ROOT is the tree with its bytecode.

The bytes depend only on the sources, the interpreter's version and this module's: the pycs
are hash-based (PEP 552, `checked-hash`, so a source later mounted over the image's is noticed;
timestamp pycs would hold the build sandbox's mtimes, which the layer's fixed mtimes then
contradict), the file name recorded in the code is the path below ROOT (the interpreter replaces
it with the real path when it loads the pyc), and the sources are compiled in sorted order, in
fixed batches, each by a fresh worker process with PYTHONHASHSEED=0 (the order of a constant
frozenset's items in the marshalled code follows string hashing; bytecode_worker says why a
fresh process). The batches run in parallel, so the bytes do not depend on the core count.

A file that does not compile (Python 2 syntax in a test fixture of some wheel, say) is skipped,
as pip and compileall do; the import of it fails at run time as it would without bytecode.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional, Tuple

from ocikit import bytecode_worker
from ocikit.bytecode_worker import pyc_path
from ocikit.contracts.bytecode import BytecodeCommand

PROG = "ocikit bytecode"


def sources(root: str) -> Iterator[str]:
    """Every `.py` file below `root`, relative to it, in sorted order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(directory, name), root)


def compile_tree(
    root: str,
    out: str,
    jobs: int = 1,
    python: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    cache_tag: Optional[str] = None,
) -> Tuple[int, List[str]]:
    """Compile every source below `root` into `out`; returns (compiled, skipped relpaths). A
    source whose pyc the tree already holds (some wheels ship them) keeps that one: the two
    could not both go into the layer. Batches of BATCH sorted sources, each compiled by a fresh
    worker process (bytecode_worker says why) of `python` (default: this one, whose
    `cache_tag` must then be given) in `env` (default: this one's), `jobs` of them at a time."""
    todo, skipped = [], []
    for relpath in sources(root):
        if os.path.exists(os.path.join(root, pyc_path(relpath, cache_tag))):
            skipped.append(relpath)
        else:
            todo.append(relpath)
    batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        failed = [
            r
            for f in pool.map(lambda batch: _run_worker(root, out, batch, python or sys.executable, env), batches)
            for r in f
        ]
    return len(todo) - len(failed), sorted([*skipped, *failed])


# Sources per worker process: fixed, so each file is compiled after the same others on every
# machine; large enough that a worker's start-up is small next to compiling its batch.
BATCH = 500


def _run_worker(root: str, out: str, batch: List[str], python: str, env: Optional[Dict[str, str]]) -> List[str]:
    proc = subprocess.run(
        [python, "-S", bytecode_worker.__file__, root, out],
        input="\0".join(batch).encode("utf-8", "surrogateescape"),
        env={**(os.environ if env is None else env), "PYTHONHASHSEED": "0"},
        capture_output=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"a bytecode worker failed: {proc.stderr.decode(errors='replace').strip()}")
    return [r for r in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if r]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n", 1)[0])
    BytecodeCommand.add_arguments(parser)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes at a time (default: one per core)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    command = BytecodeCommand.from_args(args)
    running = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
    if command.python and command.python != running:
        print(
            f"{PROG}: error: asked for bytecode of {command.python}, but this is {running} ({sys.executable})",
            file=sys.stderr,
        )
        return 1
    if not os.path.isdir(command.root):
        print(f"{PROG}: error: {command.root!r} is not a directory", file=sys.stderr)
        return 1
    os.makedirs(command.out, exist_ok=True)
    compiled, skipped = compile_tree(command.root, command.out, args.jobs or cores())
    print(f"{PROG}: {compiled} compiled, {len(skipped)} skipped (shipped a pyc, or do not compile)", file=sys.stderr)
    return 0
