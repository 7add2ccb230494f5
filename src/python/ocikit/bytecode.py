"""`python -m ocikit bytecode --root DIR --out OUT`: reproducible `.pyc` files.

Run by the Python the image runs (bytecode is specific to its minor version). For every
`ROOT/a/b.py` it writes `OUT/a/__pycache__/b.<tag>.pyc`, the file that interpreter's import
system looks for next to the source, so OUT merged over ROOT is the tree with its bytecode.

The bytes depend only on the sources and the interpreter's version: the pycs are hash-based
(PEP 552, `checked-hash`, so a source later mounted over the image's is noticed; timestamp pycs
would hold the build sandbox's mtimes, which the layer's fixed mtimes then contradict), the file
name recorded in the code is the path below ROOT (the interpreter replaces it with the real path
when it loads the pyc), and files are compiled one at a time in sorted order. Run it with PYTHONHASHSEED=0: the order of a
constant frozenset's items in the marshalled code follows string hashing.

A file that does not compile (Python 2 syntax in a test fixture of some wheel, say) is skipped,
as pip and compileall do; the import of it fails at run time as it would without bytecode.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import sys
from typing import Iterator, List, Optional, Tuple

PROG = "ocikit bytecode"


def sources(root: str) -> Iterator[str]:
    """Every `.py` file below `root`, relative to it, in sorted order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(directory, name), root)


def pyc_path(relpath: str) -> str:
    """`a/b.py` -> `a/__pycache__/b.cpython-311.pyc`: where the running interpreter looks."""
    head, name = os.path.split(relpath)
    return os.path.join(head, "__pycache__", f"{name[:-3]}.{sys.implementation.cache_tag}.pyc")


def compile_tree(root: str, out: str) -> Tuple[int, List[str]]:
    """Compile every source below `root` into `out`; returns (compiled, skipped relpaths). A
    source whose pyc the tree already holds (some wheels ship them) keeps that one: the two
    could not both go into the layer."""
    compiled, skipped = 0, []
    for relpath in sources(root):
        if os.path.exists(os.path.join(root, pyc_path(relpath))):
            skipped.append(relpath)
            continue
        try:
            py_compile.compile(
                os.path.join(root, relpath),
                cfile=os.path.join(out, pyc_path(relpath)),
                dfile=relpath,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
            )
            compiled += 1
        except py_compile.PyCompileError:
            skipped.append(relpath)
    return compiled, skipped


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", required=True, help="the tree of sources")
    parser.add_argument("--out", required=True, help="where the __pycache__ tree goes")
    parser.add_argument(
        "--python", help="refuse to run on another Python than this one, e.g. cpython3.11 (the "
        "bytecode is for that version; the name is what the caller's cache key holds)"
    )
    args = parser.parse_args(argv)
    running = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
    if args.python and args.python != running:
        print(
            f"{PROG}: error: asked for bytecode of {args.python}, but this is {running} "
            f"({sys.executable})",
            file=sys.stderr,
        )
        return 1
    if not os.path.isdir(args.root):
        print(f"{PROG}: error: {args.root!r} is not a directory", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    compiled, skipped = compile_tree(args.root, args.out)
    print(f"{PROG}: {compiled} compiled, {len(skipped)} skipped (shipped a pyc, or do not compile)", file=sys.stderr)
    return 0
