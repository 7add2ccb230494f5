"""The inputs of one layer: its dependencies' files at their paths, checked for conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from pants_oci.layer_paths import LayerInputError, check_layer_paths
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.settings import LayerCompression
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import (
    Digest,
    DigestEntries,
    FileEntry,
    GlobExpansionConjunction,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
    Snapshot,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    FieldSet,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    SourcesField,
    Target,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
)

__all__ = ["LayerInputError", "LayerInputs", "OciLayerRequest"]


@dataclass(frozen=True)
class OciLayerRequest:
    """Build one layer from the targets in `dependencies`, placed under `destination`."""

    address: Address
    dependencies: Dependencies
    destination: str
    uid: int
    gid: int
    what: str  # how errors and history name this layer, e.g. "oci_layer //app:layer"
    compression: LayerCompression
    exclude: tuple[Address, ...] = ()  # an image's inferred base and layers: not files
    symlinks: FrozenDict[str, str] = FrozenDict()  # link path below destination -> target


@dataclass(frozen=True)
class LayerInputs:
    digest: Digest
    size: int  # bytes of file content, to start the biggest layer first


def is_plain_file(tgt: Target) -> bool:
    """A `file` or `resource` target (one source file, read from the workspace as is)."""
    return tgt.has_field(FileSourceField) or tgt.has_field(ResourceSourceField)


def _is_leaf(tgt: Target) -> bool:
    return is_plain_file(tgt) and not (tgt.has_field(Dependencies) and tgt[Dependencies].value)


def _plain_file_path(tgt: Target) -> str:
    field = tgt[FileSourceField] if tgt.has_field(FileSourceField) else tgt[ResourceSourceField]
    return field.file_path


@dataclass(frozen=True)
class _Sources:
    """The reachable targets whose source files go into the layer."""

    plain: tuple[Target, ...]  # file/resource targets: one PathGlobs for all of them
    other: tuple[Target, ...]  # other sources (relocated_files, ...): SourceFiles each


async def _direct_dependencies(request: OciLayerRequest) -> Targets:
    direct = await Get(Targets, DependenciesRequest(request.dependencies))
    return Targets(t for t in direct if t.address not in request.exclude)


async def _package_field_sets(targets: Targets) -> dict[Address, tuple[FieldSet, ...]]:
    """Targets Pants can package: their built output goes into the layer, not their sources."""
    per_target = await Get(FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets))
    return {t.address: tuple(fs) for t, fs in zip(targets, per_target.collection) if fs}


async def _reachable_sources(
    unpackaged: Sequence[Target], request: OciLayerRequest, packaged: Iterable[Address]
) -> _Sources:
    # A `file`/`resource` target with no dependencies of its own (what a `files` generator
    # makes, thousands at a time) is a leaf: no transitive walk, and all leaves are read with
    # one PathGlobs, since per-target rule work dominates a layer of many small files.
    walk = [t for t in unpackaged if not _is_leaf(t)]
    closure = (
        await Get(TransitiveTargets, TransitiveTargetsRequest(Addresses(t.address for t in walk)))
        if walk
        else None
    )
    reached = {t.address: t for t in unpackaged if _is_leaf(t)}
    for tgt in closure.closure if closure else ():
        if isinstance(tgt, OciLayerTarget):
            raise LayerInputError(
                f"{request.what} depends on {tgt.address}, an `oci_layer`: list it in the "
                "image's `layers` field instead, so its `destination` and `owner` apply."
            )
        reached.setdefault(tgt.address, tgt)
    skip = set(packaged)
    candidates = [t for t in reached.values() if t.address not in skip]
    return _Sources(
        plain=tuple(t for t in candidates if is_plain_file(t)),
        other=tuple(t for t in candidates if t.has_field(SourcesField) and not is_plain_file(t)),
    )


async def _plain_files_snapshot(plain: Sequence[Target], request: OciLayerRequest) -> Snapshot:
    return await Get(
        Snapshot,
        PathGlobs(
            sorted({_plain_file_path(t) for t in plain}),
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            conjunction=GlobExpansionConjunction.all_match,
            description_of_origin=f"the `file`/`resource` inputs of {request.what}",
        ),
    )


async def _other_sources_snapshots(other: Sequence[Target]) -> tuple[Snapshot, ...]:
    sources = await MultiGet(
        Get(
            SourceFiles,
            SourceFilesRequest(
                [t[SourcesField]],
                for_sources_types=(FileSourceField, ResourceSourceField),
                enable_codegen=True,
            ),
        )
        for t in other
    )
    return tuple(s.snapshot for s in sources)


async def _package_snapshots(
    packaged: dict[Address, tuple[FieldSet, ...]]
) -> list[tuple[Address, Snapshot]]:
    owners = [address for address, field_sets in packaged.items() for _ in field_sets]
    built = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(field_set))
        for field_sets in packaged.values()
        for field_set in field_sets
    )
    snapshots = await MultiGet(Get(Snapshot, Digest, pkg.digest) for pkg in built)
    return list(zip(owners, snapshots))


async def _content_size(digest: Digest) -> int:
    entries = await Get(DigestEntries, Digest, digest)
    return sum(e.file_digest.serialized_bytes_length for e in entries if isinstance(e, FileEntry))


@rule(desc="Collect the inputs of an OCI layer")
async def collect_layer_inputs(request: OciLayerRequest) -> LayerInputs:
    direct = await _direct_dependencies(request)
    packaged = await _package_field_sets(direct)
    unpackaged = [t for t in direct if t.address not in packaged]
    sources = await _reachable_sources(unpackaged, request, packaged)
    plain = await _plain_files_snapshot(sources.plain, request)
    other = await _other_sources_snapshots(sources.other)
    owned = [*zip((t.address for t in sources.other), other), *await _package_snapshots(packaged)]
    claims = [
        *((path, owner) for owner, path in sorted((t.address, _plain_file_path(t)) for t in sources.plain)),
        *((path, owner) for owner, snapshot in owned for path in snapshot.files),
        *((path, f"the `symlinks` field of {request.address}") for path in request.symlinks),
    ]
    check_layer_paths(claims, request.what, request.destination)
    digest = await Get(Digest, MergeDigests([plain.digest, *(s.digest for _, s in owned)]))
    return LayerInputs(digest, await _content_size(digest))


def rules():
    return collect_rules()
