"""The third-party packages a worker imports from Pants' named cache: the manifest that vouches
for them, and the one line a worker prints when they turn out damaged.

The plugin's setup step (pants_oci/util_rules/worker_setup.py) copies the packages into
`.ocikit/deps-<hash>/`, compiles their bytecode, and writes MANIFEST last: every file's
relative path, size and sha256, the .pyc files included (Python trusts a .pyc whose header
matches its source, so a truncated one fails every import with `EOFError: marshal data too
short`). The setup checks the manifest whenever it runs and rebuilds the directory on any
difference. A worker only checks it when one of its imports fails: with pantsd the setup does
not run again until pantsd restarts, so the worker names the damage instead of a traceback.

Standard library only, and nothing else of ocikit: the setup runs it with no packages at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Dict, Mapping, Optional, Tuple

# Written last, so its presence marks a finished copy (older layouts left it empty: such a
# directory fails the check and is rebuilt once).
MANIFEST = ".complete"
DEPS_PREFIX = "deps-"
_VERSION = 1
# Why check() may fail on a cache nobody damaged: a first run, an upgrade from the old layout.
MISSING = "the directory is missing"
OLD_LAYOUT = f"its manifest {MANIFEST} is empty (a copy made before manifests)"
NOT_DAMAGED = (MISSING, OLD_LAYOUT)

# What a damaged package raises on import: a missing module or extension (ImportError), a
# truncated .pyc (EOFError, or ValueError "bad marshal data"), a truncated .py (SyntaxError, or
# names missing further on). Other exceptions are never blamed on the cache.
_SYMPTOMS = (ImportError, EOFError, ValueError, SyntaxError, NameError, AttributeError, TypeError, SystemError)


def hash_file(path: str) -> Tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def write_manifest(directory: str) -> Dict[str, Tuple[int, str]]:
    """Hash every file below `directory` into its MANIFEST (after the bytecode is compiled)."""
    files: Dict[str, Tuple[int, str]] = {}
    for top, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, directory).replace(os.sep, "/")
            if rel != MANIFEST:
                files[rel] = hash_file(path)
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump({"version": _VERSION, "files": files}, f, sort_keys=True)
    return files


def _read_manifest(directory: str) -> Dict[str, Tuple[int, str]]:
    with open(os.path.join(directory, MANIFEST), "rb") as f:
        data = json.loads(f.read())
    if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("files"), dict):
        raise ValueError("not a manifest of this version")
    files = {}
    for rel, entry in data["files"].items():
        size, sha256 = entry
        files[rel] = (int(size), str(sha256))
    return files


def check(directory: str, expected: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """None when every file the manifest lists has its size and sha256 (and `expected`, relative
    path -> sha256 of what should have been copied, agrees with it); else the first problem.

    Sizes first: a truncated or deleted file is found without reading 30 MB."""
    if not os.path.isdir(directory):
        return MISSING
    try:
        if os.path.getsize(os.path.join(directory, MANIFEST)) == 0:
            return OLD_LAYOUT
        files = _read_manifest(directory)
    except FileNotFoundError:
        return f"its manifest {MANIFEST} is missing"
    except (OSError, ValueError, TypeError):
        return f"its manifest {MANIFEST} is unreadable"
    for rel, sha256 in sorted((expected or {}).items()):
        if rel not in files or files[rel][1] != sha256:
            return f"its manifest does not list {rel} as copied"
    for rel, (size, _) in sorted(files.items()):
        try:
            actual = os.stat(os.path.join(directory, rel)).st_size
        except OSError:
            return f"{rel} is missing"
        if actual != size:
            return f"{rel} has {actual} bytes, {size} expected"
    for rel, (size, sha256) in sorted(files.items()):
        try:
            if hash_file(os.path.join(directory, rel)) != (size, sha256):
                return f"{rel} has other content than was copied"
        except OSError as e:
            return f"{rel} cannot be read ({e.strerror or e})"
    return None


def damage_report(exc: BaseException) -> Optional[str]:
    """The one line a worker prints instead of `exc` when the packages directory on its sys.path
    fails its check; None when they are intact (`exc` is then not theirs) or there are none."""
    if not isinstance(exc, _SYMPTOMS):
        return None
    for entry in sys.path:
        if not os.path.basename(entry.rstrip("/")).startswith(DEPS_PREFIX):
            continue
        problem = check(entry)
        if problem is None:
            continue
        deps = os.path.realpath(entry)
        cache = os.path.dirname(deps)  # the named cache, wherever Pants keeps them
        what = " ".join(f"{type(exc).__name__}: {exc}".split())
        return (
            f"ocikit: error: the packages ocikit imports from Pants' named cache "
            f"{os.path.basename(cache)} are damaged ({os.path.basename(deps)}: {problem}; "
            f"the import failed with {what}): clear it with `rm -rf {cache}` and run Pants "
            "again with --no-pantsd once (pantsd sets the cache up only when it starts)"
        )
    return None
