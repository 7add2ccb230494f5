"""Prepares the named cache ocikit's worker processes run from (standard library only).

Run when pantsd starts (and in every `--no-pantsd` run), in a sandbox where the cache is
mounted at CACHE_DIR, as `python -S worker_setup.py SPEC.json` with the ocikit core on
PYTHONPATH (for ocikit.worker_cache). Afterwards the cache holds:

  python          a symlink to the interpreter Pants runs on (replaced atomically)
  deps-<hash>/    the workers' third-party packages, their bytecode compiled, and a manifest
                  of every file's size and sha256, checked again by every setup
  <name>          links to other interpreters (the Python an image's bytecode is compiled by)
  .setup.lock     held by a running setup (flock), so setups of concurrent Pants runs take turns

Workers then start as `.ocikit/python -S -m ocikit ...`: a command line with no machine path.
SPEC.json: {"cache": ".ocikit", "python": ABSOLUTE PATH, "directory": "deps-<hash>",
            "files": [[SOURCE, RELATIVE PATH, SHA256], ...], "imports": [MODULE, ...]}
       or: {"cache": ".ocikit", "links": {NAME: ABSOLUTE PATH, ...}}
       or: {"cache": ".ocikit", "find": {"link": NAME, "implementation": "cpython", "version":
            "3.11", "search_paths": [DIR, ...], "names": [FILE NAME, ...]}}: find that Python
            (`find_python`), link it as NAME and print {"path": ..., "fingerprint": ...,
            "version": "3.11.7"}
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager

from ocikit import worker_cache

LOCK = ".setup.lock"
LOCK_WAIT_SECONDS = 120  # a setup takes about a second; only a hung one holds the lock longer
# Tests only (tests/integration/test_e2e_worker_cache.py): the setup kills itself at this step,
# as a setup killed there would die. The rule passes it through only when the client sets it.
TEST_CRASH_ENV = "OCIKIT_TEST_SETUP_CRASH"

# Run by the workers' interpreter with only the new copy on its path: each module imported in
# turn, the first failure printed as one line.
_IMPORT_CHECK = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except BaseException as e:\n"
    "        sys.exit(' '.join(f'{name}: {type(e).__name__}: {e}'.split()))\n"
)


class SetupError(Exception):
    """A failure of the setup; `about_cache` when clearing the named cache is worth a try."""

    def __init__(self, message, about_cache=True):
        super().__init__(message)
        self.about_cache = about_cache


def _crash_point(step):
    if os.environ.get(TEST_CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def locked(cache):
    """Hold the cache's lock (waiting for another setup to finish); yields whether it is held.
    Where the file system cannot lock, setups run side by side, as before the lock."""
    fd = os.open(os.path.join(cache, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SetupError(
                        f"another setup has held {os.path.realpath(os.path.join(cache, LOCK))} "
                        f"for {LOCK_WAIT_SECONDS} s: is a Pants run hanging?"
                    ) from None
                time.sleep(0.05)
            except OSError:
                held = False
                break
        yield held
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(cache):
    """Remove what killed setups left: `.deps-*` directories (copies in progress, replaced
    copies) and `*.tmp` links. Called with the lock held: every setup holds it from before it
    creates such an entry until after it is gone, so none of them belongs to a live setup. (A
    pants-oci from before the lock does not take it: its setup running at this very moment on the
    same cache would lose its copy and fail that once.)"""
    removed = []
    for name in sorted(os.listdir(cache)):
        path = os.path.join(cache, name)
        if name.startswith("." + worker_cache.DEPS_PREFIX) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
        elif name.endswith(".tmp") and os.path.islink(path):
            os.unlink(path)
            removed.append(name)
    return removed


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
            "the packages it runs with.",
            about_cache=False,
        )


def _build(cache, directory, files):
    """A new complete copy in a temporary directory of the cache, its manifest written last."""
    import compileall  # here, not at the top: ~15 ms of imports that an intact cache never needs
    import tempfile

    work = tempfile.mkdtemp(prefix=f".{directory}.", dir=cache)
    try:
        for i, (source, rel, sha256) in enumerate(files):
            if i == len(files) // 2:
                _crash_point("mid-copy")
            _copy_verified(source, os.path.join(work, rel), sha256)
        # Timestamp-checked bytecode beside the copies (valid as long as they stay untouched),
        # so no worker compiles requests & co. again.
        if not compileall.compile_dir(work, quiet=2, workers=1):
            raise SetupError(f"compiling the packages copied into {work} failed")
        _crash_point("after-compile")
        worker_cache.write_manifest(work)
        os.chmod(work, 0o755)
        return work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def import_problem(python, directory, modules):
    """None when `python -S`, with only `directory` on its path, imports every module; else the
    first failure, as one line. Catches what the manifest cannot: a copy that was broken as
    it was made (an extension that does not load here, a module missing from the source)."""
    import subprocess

    if not modules:
        return None
    env = {"PYTHONPATH": os.path.abspath(directory), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run(
            [python, "-S", "-c", _IMPORT_CHECK, *modules],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"{python} did not run: {e}"
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


def _install(cache, directory, work):
    """Rename `work` to `directory`, moving a damaged copy out of the way first (under the lock,
    no other setup renames here; a worker of another run may see no directory for an instant,
    but it was importing from a damaged one)."""
    final = os.path.join(cache, directory)
    if os.path.lexists(final):
        old = os.path.join(cache, f".{directory}.old.{os.getpid()}")
        os.rename(final, old)
        _crash_point("mid-replace")
        os.rename(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(work, final)


def ensure_dependencies(cache, directory, files, python=None, imports=()):
    """Make cache/directory an intact copy of `files`: kept when its manifest checks out,
    otherwise built anew, checked by importing `imports` with `python`, and renamed into place.
    Returns None when the copy was kept, else why it was (re)built."""
    final = os.path.join(cache, directory)
    problem = worker_cache.check(final, expected={rel: sha256 for _, rel, sha256 in files})
    if problem is None:
        return None
    failure = None
    for _ in range(2):  # a second copy, in case the first was broken as it was written
        work = _build(cache, directory, files)
        failure = import_problem(python, work, imports)
        if failure is None:
            _install(cache, directory, work)
            return problem
        shutil.rmtree(work, ignore_errors=True)
    raise SetupError(
        f"the packages copied from Pants' environment do not import with {python}, twice ({failure}): "
        "reinstall that package in the Python Pants runs on, and check that the named caches "
        "directory allows running code (no noexec mount)"
    )


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
    _crash_point("mid-link")
    os.replace(temp, link)
    return True


# Run by each candidate: its implementation, minor and full version, as `sys.implementation`
# and `sys.version_info` say (Python 2 has no `sys.implementation` and fails: not a candidate),
# and the interpreter that really runs, as Pants' own lookup prints it: a pyenv shim or another
# wrapper script resolves to the binary it starts, which runs without the wrapper's environment.
_PROBE = (
    "import os, sys; v = sys.version_info; "
    "print(sys.implementation.name, '%d.%d' % v[:2], '%d.%d.%d' % v[:3], os.path.realpath(sys.executable))"
)


def _probe(path):
    import subprocess

    try:
        proc = subprocess.run(
            [path, "-S", "-c", _PROBE],
            env={"PATH": os.environ.get("PATH", os.defpath)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_python(implementation, version, search_paths, names, probe=_probe):
    """The first executable that is `implementation` at `version` (its minor version, "3.11"):
    each name in turn (the most specific first, `python3.11`), in each search path in order,
    each real file asked once. Returns (its path, the real path of the interpreter it runs, its
    full version), or None."""
    seen = set()
    for name in names:
        for directory in search_paths:
            path = os.path.join(directory, name)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            answer = (probe(path) or "").split(" ", 3)
            if answer[:2] == [implementation, version] and len(answer) == 4:
                return path, answer[3].strip(), answer[2]
    return None


def fingerprint(path):
    """The sha256 of the interpreter's file, as Pants' own lookup fingerprints it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find_and_link(cache, find):
    found = find_python(find["implementation"], find["version"], find["search_paths"], find["names"])
    if found is None:
        return {"path": None, "fingerprint": None, "version": None}
    _path, real, full_version = found
    link_python(cache, real, find["link"])
    return {"path": real, "fingerprint": fingerprint(real), "version": full_version}


def main(argv):
    """Prints what it did as JSON: {"rebuilt": REASON or null, "damaged": bool}, where damaged
    means a copy was there and failed its check (not missing, nor of an older layout)."""
    with open(argv[1]) as f:
        spec = json.load(f)
    cache = spec["cache"]
    if not os.path.isdir(cache):
        raise SetupError(f"the named cache is not mounted at {cache}", about_cache=False)
    with locked(cache) as held:
        if held:
            remove_leftovers(cache)
        if "links" in spec:
            for name, python in sorted(spec["links"].items()):
                link_python(cache, python, name)
            return 0
        if "find" in spec:
            print(json.dumps(_find_and_link(cache, spec["find"])))
            return 0
        rebuilt = ensure_dependencies(cache, spec["directory"], spec["files"], spec["python"], spec.get("imports", ()))
        link_python(cache, spec["python"])
    damaged = rebuilt is not None and rebuilt not in worker_cache.NOT_DAMAGED
    print(json.dumps({"rebuilt": rebuilt, "damaged": damaged}))
    return 0


def failure_line(error, cache=".ocikit"):
    """One line: what failed and, when the cache may be the cause, the named cache it happened
    in (the sandbox's mount is a link to it) and how to clear it."""
    message = " ".join(str(error).split())
    if isinstance(error, SetupError) and not error.about_cache:
        return f"pants-oci: preparing the Python for ocikit processes failed: {message}"
    where = os.path.realpath(cache)
    return (
        f"pants-oci: preparing the Python for ocikit processes in Pants' named cache "
        f"{os.path.basename(where)} failed: {message}. If it fails again, clear that cache with "
        f"`rm -rf {where}` and run Pants again."
    )


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (SetupError, OSError) as e:
        sys.stderr.write(failure_line(e) + "\n")
        sys.exit(1)
