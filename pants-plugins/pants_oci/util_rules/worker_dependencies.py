"""The third-party packages ocikit's worker processes import, found where Pants runs.

The workers run Pants' own interpreter with no site-packages (`python -S`), so they see the
standard library, the ocikit core and exactly these files: the distributions pinned in
`pants_oci/requirements.txt` and what they require, as installed next to Pants (by
`[GLOBAL].plugins`, or by the `./pants` launcher). Their content hash names the directory the
workers import them from, so a different version gives different cache keys.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from packaging.utils import canonicalize_name

with warnings.catch_warnings():
    # packaging 21.3 (what Pants 2.17 pins) with the pyparsing 3.x that comes with it warns
    # about pyparsing's renamed functions on import and on every parse; Pants would print each
    # warning in every run.
    warnings.simplefilter("ignore", DeprecationWarning)
    from packaging.requirements import Requirement

REQUIREMENTS_FILE = Path(__file__).resolve().parent.parent / "requirements.txt"

# Bump when the layout of a dependencies directory changes in a way older setups would
# accept (see worker_setup.py). The manifest in `.complete` needed none: setups that wrote it
# empty accept the new one, and the new setup rebuilds a copy with an empty one.
_LAYOUT_VERSION = "ocikit-worker-deps-v1"

FindDistribution = Callable[[str], importlib.metadata.Distribution]


class WorkerDependencyError(Exception):
    """A distribution the workers need is missing, or its version is not the one required."""


@dataclass(frozen=True)
class WorkerFile:
    source: str  # absolute path where Pants' environment has it
    path: str  # relative path below the dependencies directory (an import root)
    sha256: str


@dataclass(frozen=True)
class WorkerDependencies:
    distributions: tuple[str, ...]  # "name==version", sorted
    files: tuple[WorkerFile, ...]  # sorted by path

    @property
    def fingerprint(self) -> str:
        """A hash of every file's path and content (and of this layout's version)."""
        h = hashlib.sha256(_LAYOUT_VERSION.encode())
        for f in self.files:
            h.update(f"\n{f.path}\0{f.sha256}".encode())
        return h.hexdigest()

    @property
    def directory(self) -> str:
        """The directory name the workers import these files from."""
        return f"deps-{self.fingerprint[:20]}"


def parse_requirement(text: str) -> Requirement:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Requirement(text)


def applies(requirement: Requirement) -> bool:
    """Whether a requirement holds here with no extras asked for."""
    if requirement.marker is None:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return requirement.marker.evaluate({"extra": ""})


def read_requirements(path: Path = REQUIREMENTS_FILE) -> tuple[Requirement, ...]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return tuple(parse_requirement(line) for line in lines if line)


def _how_to_add(requirement: str) -> str:
    return (
        f"Pants installs it with the plugin when the plugin comes through `[GLOBAL].plugins` "
        f'(pants.toml: plugins = ["pants-oci==<version>"]); in an environment made by hand, '
        f"install it into the Python that runs Pants ({sys.executable}): "
        f"`{sys.executable} -m pip install '{requirement}'`."
    )


def resolve_distributions(
    requirements: Iterable[Requirement],
    find: FindDistribution = importlib.metadata.distribution,
) -> list[importlib.metadata.Distribution]:
    """The installed distributions `requirements` name, and everything they require (extras and
    markers evaluated for this interpreter), each checked against every specifier that asks for
    it. Raises WorkerDependencyError naming the distribution and how to add it."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(req, "pants-oci") for req in requirements]
    while pending:
        req, wanted_by = pending.pop(0)
        if not applies(req):
            continue
        key = canonicalize_name(req.name)
        dist = found.get(key)
        if dist is None:
            try:
                dist = find(req.name)
            except importlib.metadata.PackageNotFoundError:
                raise WorkerDependencyError(
                    f"pants-oci's worker processes need the distribution `{req}` (required by "
                    f"{wanted_by}), and the Python environment Pants runs in does not have it. " + _how_to_add(str(req))
                ) from None
            found[key] = dist
            pending.extend(
                (parse_requirement(r), f"{dist.metadata['Name']} {dist.version}") for r in dist.requires or ()
            )
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            raise WorkerDependencyError(
                f"pants-oci's worker processes need `{req}` (required by {wanted_by}), and the "
                f"Python environment Pants runs in has {dist.metadata['Name']} {dist.version}. " + _how_to_add(str(req))
            )
    return [found[k] for k in sorted(found)]


def _importable(path: PurePosixPath) -> bool:
    """Files the workers may import: not metadata, bytecode caches or files outside the import
    root (console scripts)."""
    parts = path.parts
    return not (
        ".." in parts
        or path.is_absolute()
        or any(p.endswith((".dist-info", ".egg-info")) or p == "__pycache__" for p in parts)
        or path.suffix == ".pyc"
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def worker_dependencies(
    requirements: Iterable[Requirement] | None = None,
    find: FindDistribution = importlib.metadata.distribution,
) -> WorkerDependencies:
    """Every importable file of the workers' distributions, hashed."""
    dists = resolve_distributions(read_requirements() if requirements is None else requirements, find)
    files: dict[str, WorkerFile] = {}
    for dist in dists:
        name = f"{dist.metadata['Name']} {dist.version}"
        if dist.files is None:
            raise WorkerDependencyError(
                f"{name} is installed without a RECORD of its files, so pants-oci cannot bundle "
                f"it for its worker processes. Reinstall it with pip: "
                f"`{sys.executable} -m pip install --force-reinstall '{dist.metadata['Name']}=={dist.version}'`."
            )
        for entry in dist.files:
            rel = PurePosixPath(str(entry))
            if not _importable(rel):
                continue
            source = Path(str(dist.locate_file(entry)))
            if not source.is_file():
                raise WorkerDependencyError(
                    f"{name} lists {rel} but {source} is missing: reinstall it with pip "
                    f"(`{sys.executable} -m pip install --force-reinstall "
                    f"'{dist.metadata['Name']}=={dist.version}'`)."
                )
            files[rel.as_posix()] = WorkerFile(str(source), rel.as_posix(), _sha256(source))
    return WorkerDependencies(
        distributions=tuple(sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)),
        files=tuple(files[p] for p in sorted(files)),
    )
