"""Compiles one batch of sources for `ocikit bytecode`, in a fresh interpreter of its own.

    python -S .../ocikit/bytecode_worker.py ROOT OUT < RELPATHS (NUL-separated)

and prints the relpaths it could not compile, NUL-separated. It imports as little as it can
(py_compile and what that needs): marshal marks an object it meets twice with a back-reference
only when something else holds it too, so a pyc's bytes depend on which objects the compiling
process has alive. A fresh process with these imports, given the same batch, is in the same state
on every machine and for any number of parallel workers.
"""

import os
import py_compile
import sys


def pyc_path(relpath, cache_tag=None):
    """`a/b.py` -> `a/__pycache__/b.cpython-311.pyc`: where the interpreter of `cache_tag`
    (default: the running one) looks."""
    head, name = os.path.split(relpath)
    return os.path.join(head, "__pycache__", f"{name[:-3]}.{cache_tag or sys.implementation.cache_tag}.pyc")


def compile_batch(root: str, out: str, relpaths: list) -> list:
    failed = []
    for relpath in relpaths:
        try:
            py_compile.compile(
                os.path.join(root, relpath),
                cfile=os.path.join(out, pyc_path(relpath)),
                dfile=relpath,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
            )
        except py_compile.PyCompileError:
            failed.append(relpath)
    return failed


if __name__ == "__main__":
    batch = sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0")
    failed = compile_batch(sys.argv[1], sys.argv[2], [r for r in batch if r])
    sys.stdout.buffer.write("\0".join(failed).encode("utf-8", "surrogateescape"))
