"""Prepares the named cache ocikit's worker processes run from (standard library only).

Run once per Pants run, in a sandbox where the cache is mounted at CACHE_DIR, as
`python -S worker_setup.py SPEC.json`. Afterwards the cache holds:

  python          a symlink to the interpreter Pants runs on (replaced atomically)
  deps-<hash>/    the workers' third-party packages, copied once, their bytecode compiled

  <name>          links to other interpreters (the Python an image's bytecode is compiled by)

Workers then start as `.ocikit/python -S -m ocikit ...`: a command line with no machine path.
SPEC.json: {"cache": ".ocikit", "python": ABSOLUTE PATH, "directory": "deps-<hash>",
            "files": [[SOURCE, RELATIVE PATH, SHA256], ...]}
       or: {"cache": ".ocikit", "links": {NAME: ABSOLUTE PATH, ...}}
"""

import compileall
import hashlib
import json
import os
import shutil
import sys
import tempfile

COMPLETE = ".complete"


class SetupError(Exception):
    pass


def _copy_verified(source, dest, sha256):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    h = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "wb") as out:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != sha256:
        raise SetupError(
            f"{source} changed since Pants started (its sha256 is {h.hexdigest()}, Pants read "
            f"{sha256}): restart Pants (`pants --no-pantsd ...` or kill pantsd) after changing "
            "the packages it runs with."
        )


def ensure_dependencies(cache, directory, files):
    """Copy `files` into cache/directory unless a complete copy is there. Concurrent runs each
    build a private copy and rename it into place: the first rename wins, the others drop theirs."""
    final = os.path.join(cache, directory)
    if os.path.exists(os.path.join(final, COMPLETE)):
        return False
    work = tempfile.mkdtemp(prefix=f".{directory}.", dir=cache)
    try:
        for source, rel, sha256 in files:
            _copy_verified(source, os.path.join(work, rel), sha256)
        # Timestamp-checked bytecode beside the copies (valid as long as they stay untouched),
        # so no worker compiles requests & co. again.
        if not compileall.compile_dir(work, quiet=2, workers=1):
            raise SetupError(f"compiling the packages copied into {final} failed")
        open(os.path.join(work, COMPLETE), "w").close()
        os.chmod(work, 0o755)
        try:
            os.rename(work, final)
        except OSError:
            if not os.path.exists(os.path.join(final, COMPLETE)):
                # An incomplete leftover of an interrupted run of an older layout: replace it.
                shutil.rmtree(final, ignore_errors=True)
                os.rename(work, final)
        return True
    finally:
        shutil.rmtree(work, ignore_errors=True)


def link_python(cache, python, name="python"):
    """cache/name -> `python`, replaced atomically (another Pants run may use it right now)."""
    link = os.path.join(cache, name)
    try:
        if os.readlink(link) == python:
            return False
    except OSError:
        pass
    temp = f"{link}.{os.getpid()}.tmp"
    if os.path.lexists(temp):
        os.unlink(temp)
    os.symlink(python, temp)
    os.replace(temp, link)
    return True


def main(argv):
    with open(argv[1]) as f:
        spec = json.load(f)
    cache = spec["cache"]
    if not os.path.isdir(cache):
        raise SetupError(f"the named cache is not mounted at {cache}")
    if "links" in spec:
        for name, python in sorted(spec["links"].items()):
            link_python(cache, python, name)
        return 0
    ensure_dependencies(cache, spec["directory"], spec["files"])
    link_python(cache, spec["python"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (SetupError, OSError) as e:
        sys.stderr.write(f"pants-oci: preparing the Python for ocikit processes failed: {e}\n")
        sys.exit(1)
