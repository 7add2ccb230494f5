"""`python -m ocikit requirement-layers`: its command line, the spec it reads and the result it
writes (with one `LayerDescriptor` per layer, as `ocikit layer` writes); and `python -m ocikit
requirements-metadata`, which reads the distributions' metadata for the SBOM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class RequirementLayersCommand(CommandLine):
    """Compile an installed site-packages tree's bytecode, split it by distribution and build
    each part's layer, in one process (`ocikit.requirement_layers_cli`)."""

    COMMAND = "requirement-layers"

    spec: str = option("--spec", "a RequirementLayersSpec as JSON", metavar="SPEC.json")
    out: str = option("--out", "the directory to write the layers and the result into", metavar="DIR")


@dataclass(frozen=True)
class RequirementsInstall(Contract):
    """Install the resolved requirements into the spec's `root` first, in the process: `pex3
    venv create --layout flat` of `repository` (a packed pex of the requirements) for `python`,
    run by the pex CLI `pex_cli` with `pex_root` (Pants' named cache) as PEX_ROOT. Paths are
    relative to the working directory. The tree then never leaves the process: neither captured
    into Pants' store nor written into another sandbox. Its executable files are the ones with
    the owner's execute bit, as Pants would record them."""

    KIND = "requirements-install"

    pex_cli: str
    repository: str
    python: str
    pex_root: str


@dataclass(frozen=True)
class RequirementLayersSpec(Contract):
    """The tree at `root` (a flat site-packages), placed at `destination`/`prefix`; with
    `install`, the process installs it there first.

    `python` is the interpreter that compiles the bytecode (relative to the working directory;
    None: no bytecode) and `python_name` the version it must be (`cpython3.11`). A distribution
    of at least `own_layer_bytes` (its files and their bytecode) gets a layer of its own
    (`ocikit.requirement_layers`). `executables` are the tree's files that are executable
    (relative to `root`; the bytecode never is), as in a `LayerSpec`, which the rest of the
    fields also follow."""

    KIND = "requirement-layers-spec"

    root: str
    destination: str
    prefix: str
    own_layer_bytes: int
    python: Optional[str] = None
    python_name: Optional[str] = None
    uid: int = 0
    gid: int = 0
    compression: str = "gzip"
    level: Optional[int] = None
    mtime: int = 0
    threads: Optional[int] = None
    executables: Tuple[str, ...] = ()
    install: Optional[RequirementsInstall] = None


@dataclass(frozen=True)
class RequirementLayer(Contract):
    """One layer written into the out directory: `blob` and `descriptor` are file names in it."""

    KIND = "requirement-layer"

    name: str  # a distribution ("numpy-1.26.4"), or "requirements" for the shared layer
    blob: str
    descriptor: str


@dataclass(frozen=True)
class RequirementLayersResult(Contract):
    """What `ocikit requirement-layers` wrote (`result.json` in its out directory): the layers in
    image order and the distributions built for one platform only (from their WHEEL tags)."""

    KIND = "requirement-layers-result"

    layers: Tuple[RequirementLayer, ...]
    platform_specific: Tuple[str, ...] = ()


RESULT = "result.json"


@dataclass(frozen=True)
class RequirementsMetadataCommand(CommandLine):
    """Copy each distribution's `*.dist-info/METADATA` and `WHEEL` out of a packed pex of
    requirements (`.deps/*.whl`, the installed wheels that `venv create` lays out) into `out`,
    at their paths in the installed tree: what the SBOM says of the requirement layers."""

    COMMAND = "requirements-metadata"

    repository: str = option("--repository", "a packed pex of the requirements", metavar="PEX_DIR")
    out: str = option("--out", "the directory to write the dist-info files into", metavar="DIR")
