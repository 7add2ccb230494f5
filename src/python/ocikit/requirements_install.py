"""Resolved requirements (a packed pex, as Pants resolves them) -> the installed tree, inside the
worker that builds its layers (`ocikit requirement-layers`); and their metadata, for the SBOM
(`ocikit requirements-metadata`).

Installing in the layers' own process keeps the tree's thousands of files out of Pants: they
are neither captured into the store nor written again into the layer process's sandbox. The
install is pex's own (`pex3 venv create --layout flat`, the command Pants would run), so the
tree is the one a separate install process would hand over, byte for byte.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from typing import List, Tuple

from ocikit.contracts.requirement_layers import RequirementsInstall
from ocikit.layer import LayerError

# What the SBOM reads of each distribution (`ocikit.sbom.pypi`).
METADATA_FILES = ("METADATA", "WHEEL")


def install_tree(install: RequirementsInstall, root: str, scratch: str) -> None:
    """`pex3 venv create --layout flat` of `install.repository` into `root`. pex runs on this
    worker's interpreter with an environment of its own (none of the worker's PYTHONPATH); its
    temporary files go to `scratch`. The interpreter is given as an absolute path, which pex
    takes as is (a relative one it would look for on a search path)."""
    tmp = os.path.join(scratch, "pex-tmp")
    os.makedirs(tmp, exist_ok=True)
    argv = [
        sys.executable,
        install.pex_cli,
        "venv",
        "create",
        "--tmpdir",
        tmp,
        f"--dest-dir={root}",
        f"--pex-repository={install.repository}",
        "--layout=flat",
        f"--python={os.path.abspath(install.python)}",
    ]
    env = {
        "PEX_ROOT": install.pex_root,
        "PEX_SCRIPT": "pex3",
        "PEX_IGNORE_RCFILES": "true",
        "PATH": os.environ.get("PATH", os.defpath),
    }
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.split())[-2000:]
        raise LayerError(f"`pex3 venv create` could not install the requirements (exit {proc.returncode}): {tail}")


def executables(root: str) -> Tuple[str, ...]:
    """The regular files below `root` (relative, sorted) that have the owner's execute bit, the
    bit Pants records when it captures a file."""
    found: List[str] = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and mode & stat.S_IXUSR:
                found.append(os.path.relpath(path, root))
    return tuple(sorted(found))


def _raise(error: OSError) -> None:
    raise error


def holds_files(root: str) -> bool:
    """Whether the tree at `root` has any file; a missing or unreadable `root` is an OSError."""
    return any(files for _d, _s, files in os.walk(root, onerror=_raise))


def _wheels(repository: str) -> List[str]:
    deps = os.path.join(repository, ".deps")
    return sorted(os.path.join(deps, n) for n in os.listdir(deps)) if os.path.isdir(deps) else []


def copy_metadata(repository: str, out: str) -> List[str]:
    """Each installed wheel's top-level `*.dist-info/METADATA` and `WHEEL`, from the packed
    pex's `.deps/` (zips of the installed wheels, which `venv create` copies file by file), into
    `out` at their paths in the installed tree; returns those paths."""
    os.makedirs(out, exist_ok=True)
    written = []
    for wheel in _wheels(repository):
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                top, _, rest = name.partition("/")
                if top.endswith(".dist-info") and rest in METADATA_FILES:
                    os.makedirs(os.path.join(out, top), exist_ok=True)
                    with open(os.path.join(out, name), "wb") as f:
                        f.write(z.read(name))
                    written.append(name)
    return sorted(written)
