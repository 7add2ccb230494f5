"""An `oci_debian_packages` target in an image's `layers`: its locked packages, fetched once
each and grouped into layers (`pants_oci.debian.plan.group_layers`).

Each .deb is fetched by its own process keyed by the lockfile's SHA-256 and size (checked by
the process: a mismatch fails it and nothing is stored), so a package shared by several
targets or images is downloaded once, and bumping one package fetches one file. Each layer
is one process over its .debs: bumping one package rebuilds one layer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException, Target
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.contracts.debian import DebFetchCommand, DebInput, DebLayerCommand, DebLayerSpec
from ocikit.debian.archive import join
from ocikit.debian.lockfile import LockedDeb
from ocikit.image import Platform
from pants_oci.debian.lockfile import DebianLockfile, DebianLockfileRequest, debian_archive
from pants_oci.debian.plan import debian_architecture, group_layers, stale_reason
from pants_oci.debian.target_types import (
    OciDebianArchitecturesField,
    OciDebianOwnLayerSizeField,
    OciDebianPackagesField,
    OciDebianPackagesTarget,
    OciDebianSuiteField,
)
from pants_oci.extensions import OciLayers, OciLayersRequest
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.layers import LAYER_OUTPUTS, BuiltOciLayer, read_built_layer
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import OcikitRunner

logger = logging.getLogger(__name__)

_SPEC = "deb-layer-spec.json"


def deb_path(deb: LockedDeb) -> str:
    """Where a fetched .deb sits in a sandbox: named by its content."""
    return f"debs/{deb.sha256}.deb"


@dataclass(frozen=True)
class FetchDeb:
    deb: LockedDeb
    archive: str


@dataclass(frozen=True)
class FetchedDeb:
    deb: LockedDeb
    digest: Digest  # the .deb at `deb_path(deb)`


def fetch_command(request: FetchDeb) -> DebFetchCommand:
    deb = request.deb
    return DebFetchCommand(
        join(request.archive, deb.path),
        deb.sha256,
        deb.size,
        deb_path(deb),
        f"{deb.name} {deb.version} ({deb.architecture})",
    )


@rule(desc="Fetch a Debian package", level=LogLevel.DEBUG)
async def fetch_deb(request: FetchDeb, runner: OcikitRunner) -> FetchedDeb:
    deb = request.deb
    command = fetch_command(request)
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            command.to_argv(),
            output_files=(deb_path(deb),),
            description=f"Fetch {deb.name} {deb.version} ({deb.architecture})",
            level=LogLevel.DEBUG,
        ),
    )
    return FetchedDeb(deb, result.output_digest)


@dataclass(frozen=True)
class DebLayerRequest:
    what: str  # "oci_debian_packages //base:runtime (libc6)"
    debs: tuple[FetchedDeb, ...]
    compression: LayerCompression


def deb_layer_spec(request: DebLayerRequest, mtime: int) -> DebLayerSpec:
    return DebLayerSpec(
        tuple(DebInput(f.deb.name, deb_path(f.deb), f.deb.sha256, f.deb.size) for f in request.debs),
        request.compression.compression.value,
        request.compression.level,
        mtime,
    )


@rule(desc="Build a Debian package layer", level=LogLevel.DEBUG)
async def build_deb_layer(request: DebLayerRequest, runner: OcikitRunner, settings: OciBuildSettings) -> BuiltOciLayer:
    spec = await Get(Digest, CreateDigest([FileContent(_SPEC, deb_layer_spec(request, settings.epoch).dumps())]))
    inputs = await Get(Digest, MergeDigests([spec, *(f.digest for f in request.debs)]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            DebLayerCommand(_SPEC, LAYER_OUTPUTS[0], LAYER_OUTPUTS[1]).to_argv(),
            input_digest=inputs,
            output_files=LAYER_OUTPUTS,
            description=f"Build layer of {request.what}",
            level=LogLevel.DEBUG,
        ),
    )
    for line in result.stderr.decode().splitlines():
        logger.warning(f"{request.what}: {line.split(': warning: ', 1)[-1]}")
    return await read_built_layer(result, request.what)


class OciDebianLayersRequest(OciLayersRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return isinstance(target, OciDebianPackagesTarget)


def platform_architectures(request: OciLayersRequest) -> dict[Platform, str]:
    """The Debian architecture of each of the image's platforms, or an error naming the field."""
    target = request.target
    platforms = request.platforms or (Platform("linux", "amd64"),)
    allowed = target[OciDebianArchitecturesField].value
    found = {}
    for platform in platforms:
        arch = debian_architecture(platform)
        if arch is None:
            raise InvalidFieldException(
                f"{target.address}: Debian has no architecture for the image platform {platform}"
            )
        if arch not in allowed:
            raise InvalidFieldException(
                f"The `architectures` field in target {target.address} is {list(allowed)}, but an image built with it "
                f"is for {platform} ({arch}): add {arch!r} and run the lockfile's regenerate command"
            )
        found[platform] = arch
    return found


@dataclass(frozen=True)
class ArchitectureLayersRequest:
    """One architecture's packages of a target, to fetch and group into layers."""

    what: str  # "oci_debian_packages //base:runtime"
    debs: tuple[LockedDeb, ...]
    archive: str
    own_layer_size: int
    compression: LayerCompression


@dataclass(frozen=True)
class ArchitectureLayers:
    layers: tuple[BuiltOciLayer, ...]


@rule(desc="Build one architecture's Debian package layers")
async def architecture_layers(request: ArchitectureLayersRequest) -> ArchitectureLayers:
    fetched = await MultiGet(Get(FetchedDeb, FetchDeb(deb, request.archive)) for deb in request.debs)
    by_name = {f.deb.name: f for f in fetched}
    layers = await MultiGet(
        Get(
            BuiltOciLayer,
            DebLayerRequest(f"{request.what} ({g.name})", tuple(by_name[d.name] for d in g.debs), request.compression),
        )
        for g in group_layers(request.debs, request.own_layer_size)
    )
    return ArchitectureLayers(tuple(layers))


@rule(desc="Build the layers of Debian packages")
async def debian_layers(request: OciDebianLayersRequest, oci: OciSubsystem) -> OciLayers:
    target = request.target
    architectures = platform_architectures(request)
    lockfile = await Get(DebianLockfile, DebianLockfileRequest())
    entry = lockfile.lock.get(str(target.address))
    stale = stale_reason(
        entry,
        target[OciDebianSuiteField].value,
        target[OciDebianPackagesField].value,
        target[OciDebianArchitecturesField].value,
    )
    if stale or entry is None:
        raise InvalidFieldException(
            f"The Debian package lockfile {lockfile.path} {stale} ({target.address}): "
            f"run `{lockfile.regenerate_command}`"
        )
    archive = debian_archive(oci)
    arch_order = sorted(set(architectures.values()))
    built = await MultiGet(
        Get(
            ArchitectureLayers,
            ArchitectureLayersRequest(
                f"{target.alias} {target.address}",
                entry.packages(arch) or (),
                archive,
                target[OciDebianOwnLayerSizeField].bytes,
                request.compression,
            ),
        )
        for arch in arch_order
    )
    by_arch = {arch: b.layers for arch, b in zip(arch_order, built)}
    return OciLayers((), platform_layers=FrozenDict({p: by_arch[arch] for p, arch in architectures.items()}))


def rules():
    return [*collect_rules(), UnionRule(OciLayersRequest, OciDebianLayersRequest)]
