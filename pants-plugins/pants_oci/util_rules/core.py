"""Running the Pants-independent core (`python -m ocikit ...`) as a process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ocikit
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.rules import Get, collect_rules, rule

CORE_DIR = "__ocikit"

# What the registry client reads to find credentials and CAs the way docker, crane and skopeo
# do: paths, never secrets (the secrets are read from these files at run time).
CREDENTIAL_ENV = (
    "HOME",
    "PATH",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)


@dataclass(frozen=True)
class OcikitRunner:
    """The interpreter and the bundled core code every ocikit process runs with.

    The core's source files are part of each process's inputs, so editing the core
    invalidates exactly the cached results it could change.
    """

    python: str
    digest: Digest

    def argv(self, *args: str) -> tuple[str, ...]:
        return (self.python, "-m", "ocikit", *args)

    @property
    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": CORE_DIR, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def _core_files() -> list[FileContent]:
    root = Path(ocikit.__file__).parent
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        files.append(FileContent(f"{CORE_DIR}/{rel}", path.read_bytes()))
    return files


@rule(desc="Bundle the ocikit core for processes")
async def bundle_ocikit(python: PythonBuildStandaloneBinary) -> OcikitRunner:
    digest = await Get(Digest, CreateDigest(_core_files()))
    return OcikitRunner(python=python.path, digest=digest)


def rules():
    return collect_rules()
