"""The inputs of one layer: its dependencies' files at their paths, checked for conflicts.

Where a file lands follows Pants: `files` and `relocated_files` keep their path from the build
root, `resources` and `python_sources` lose their source root (as inside a pex), and a
packageable target contributes its built output at its path under `dist/`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from pants.backend.python.target_types import PythonSourceField
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    Digest,
    DigestEntries,
    DigestSubset,
    FileEntry,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
    Snapshot,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    HydratedSources,
    HydrateSourcesRequest,
    SourcesField,
    Target,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.source.source_root import OptionalSourceRootsResult, SourceRootsRequest
from pants.util.frozendict import FrozenDict

from pants_oci.layer_paths import (
    LayerInputError,
    check_layer_paths,
    describe_stripped,
    no_source_root_error,
    strip_source_root,
    unused_dependencies,
    unused_dependency_error,
)
from pants_oci.target_types import OciLayerTarget
from pants_oci.util_rules.plain_files import Sources, is_leaf, is_plain_file, kind_of, plain_sources
from pants_oci.util_rules.settings import LayerCompression

__all__ = ["LayerInputError", "LayerInputs", "OciLayerRequest"]

logger = logging.getLogger(__name__)

# What a walked target's sources are hydrated as; codegen turns e.g. `relocated_files` into
# files and `protobuf_sources` into Python.
_SOURCE_TYPES = (FileSourceField, ResourceSourceField, PythonSourceField)


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
    # Each file's path below `destination` -> the address of the target that put it there
    # (what an SBOM says of first-party files); it does not enter the layer's bytes.
    owners: FrozenDict[str, str] = FrozenDict()


async def _direct_dependencies(request: OciLayerRequest) -> Targets:
    direct = await Get(Targets, DependenciesRequest(request.dependencies))
    return Targets(t for t in direct if t.address not in request.exclude)


async def _package_field_sets(targets: Targets) -> dict[Address, tuple[PackageFieldSet, ...]]:
    """Targets Pants can package: their built output goes into the layer, not their sources."""
    per_target = await Get(FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets))
    # Asked for PackageFieldSet, Pants gives only those (the collection is typed as FieldSet).
    return {
        t.address: tuple(fs for fs in field_sets if isinstance(fs, PackageFieldSet))
        for t, field_sets in zip(targets, per_target.collection)
        if field_sets
    }


async def _closures(unpackaged: Sequence[Target], request: OciLayerRequest) -> dict[Address, tuple[Target, ...]]:
    """Each direct dependency's transitive closure. A `file`/`resource` target with no
    dependencies of its own (what a `files` generator makes, thousands at a time) is a leaf: no
    walk, since per-target rule work dominates a layer of many small files."""
    walk = [t for t in unpackaged if not is_leaf(t)]
    walked = await MultiGet(Get(TransitiveTargets, TransitiveTargetsRequest([t.address])) for t in walk)
    closures: dict[Address, tuple[Target, ...]] = {t.address: (t,) for t in unpackaged if is_leaf(t)}
    for root, transitive in zip(walk, walked):
        for tgt in transitive.closure:
            if isinstance(tgt, OciLayerTarget):
                raise LayerInputError(
                    f"{request.what} depends on {tgt.address}, an `oci_layer`: list it in the "
                    "image's `layers` field instead, so its `destination` and `owner` apply."
                )
        closures[root.address] = tuple(transitive.closure)
    return closures


async def _hydrated_sources(targets: Sequence[Target]) -> list[Sources]:
    hydrated = await MultiGet(
        Get(
            HydratedSources,
            HydrateSourcesRequest(t[SourcesField], for_sources_types=_SOURCE_TYPES, enable_codegen=True),
        )
        for t in targets
    )
    return [
        Sources(t.address, h.snapshot.files, h.snapshot.digest, h.sources_type.uses_source_roots)
        for t, h in zip(targets, hydrated)
        if h.sources_type is not None and h.snapshot.files
    ]


async def _source_roots(sources: Sequence[Sources], request: OciLayerRequest) -> dict[str, str]:
    """The source root of every file that is stripped of one; none is an error naming its owner."""
    rooted = [s for s in sources if s.rooted]
    if not rooted:
        return {}
    result = await Get(
        OptionalSourceRootsResult,
        SourceRootsRequest.for_files(f for s in rooted for f in s.files),
    )
    found = {str(path): root.source_root for path, root in result.path_to_optional_root.items()}
    for source in rooted:
        missing = [f for f in source.files if found[f] is None]
        if missing:
            raise no_source_root_error(request.what, source.owner, missing)
    return {path: root.path for path, root in found.items() if root is not None}


async def _stripped(sources: Sequence[Sources], roots: dict[str, str]) -> Digest:
    """The rooted sources, each file moved below its source root."""
    by_root: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        for f in source.files if source.rooted else ():
            by_root[roots[f]].append(f)
    if not by_root:
        return EMPTY_DIGEST
    merged = await Get(Digest, MergeDigests(_unique(s.digest for s in sources if s.rooted)))
    subsets = await MultiGet(Get(Digest, DigestSubset(merged, PathGlobs(sorted(files)))) for files in by_root.values())
    at_build_root = [subset for subset, root in zip(subsets, by_root) if root in ("", ".")]
    moved = await MultiGet(
        Get(Digest, RemovePrefix(subset, root)) for subset, root in zip(subsets, by_root) if root not in ("", ".")
    )
    return await Get(Digest, MergeDigests([*at_build_root, *moved]))


def _unique(digests: Iterable[Digest]) -> list[Digest]:
    return list(dict.fromkeys(digests))


async def _package_snapshots(packaged: dict[Address, tuple[PackageFieldSet, ...]]) -> list[tuple[Address, Snapshot]]:
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


def _source_claims(sources: Iterable[Sources], roots: dict[str, str]) -> list[tuple[str, str]]:
    claims = []
    for source in sorted(sources, key=lambda s: s.owner):
        for f in source.files:
            if source.rooted:
                claims.append((strip_source_root(f, roots[f]), describe_stripped(source.owner, f, roots[f])))
            else:
                claims.append((f, str(source.owner)))
    return claims


def _owners(
    sources: Iterable[Sources], roots: dict[str, str], built: Iterable[tuple[Address, Snapshot]]
) -> FrozenDict[str, str]:
    """Each input path's owner; a path two targets provide (with equal content, or the layer
    would have failed) names both."""
    owners: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        for f in source.files:
            owners[strip_source_root(f, roots[f]) if source.rooted else f].add(str(source.owner))
    for owner, snapshot in built:
        for path in snapshot.files:
            owners[path].add(str(owner))
    return FrozenDict((path, ", ".join(sorted(names))) for path, names in sorted(owners.items()))


def _check_every_dependency_contributes(
    request: OciLayerRequest,
    direct: Targets,
    closures: dict[Address, tuple[Target, ...]],
    contributors: set[Address],
    packaged: Iterable[Address],
) -> None:
    contributed = {a: any(t.address in contributors for t in c) for a, c in closures.items()}
    contributed.update({a: True for a in packaged})
    unused = unused_dependencies([(t.address, t.alias) for t in direct], contributed)
    if unused:
        raise unused_dependency_error(request.what, unused)
    requirements = sorted({t.address for c in closures.values() for t in c if kind_of(t).requirements})
    if requirements:
        logger.warning(
            f"{request.what} reaches third-party requirements through its `dependencies`, and "
            f"a layer holds files only: {', '.join(map(str, requirements))} are not in it. "
            "List the app's `pex_binary` in an `oci_python_app` to install them in the image."
        )


@rule(desc="Collect the inputs of an OCI layer")
async def collect_layer_inputs(request: OciLayerRequest) -> LayerInputs:
    direct = await _direct_dependencies(request)
    # A plain file with no dependencies is never a package: thousands of them need no asking.
    packaged = await _package_field_sets(Targets(t for t in direct if not is_leaf(t)))
    closures = await _closures([t for t in direct if t.address not in packaged], request)
    reached = {t.address: t for c in closures.values() for t in c}
    plain = await plain_sources([t for t in reached.values() if is_plain_file(t)], request.what)
    other = [t for t in reached.values() if kind_of(t).sources and not is_plain_file(t)]
    sources = [*plain, *await _hydrated_sources(other)]
    built = await _package_snapshots(packaged)
    _check_every_dependency_contributes(request, direct, closures, {s.owner for s in sources}, packaged)
    roots = await _source_roots(sources, request)
    claims = [
        *_source_claims(sources, roots),
        *((path, str(owner)) for owner, snapshot in built for path in snapshot.files),
        *((path, f"the `symlinks` field of {request.address}") for path in request.symlinks),
    ]
    check_layer_paths(claims, request.what, request.destination)
    unrooted = [s.digest for s in sources if not s.rooted]
    stripped = await _stripped(sources, roots)
    digest = await Get(Digest, MergeDigests(_unique([*unrooted, stripped, *(s.digest for _, s in built)])))
    return LayerInputs(digest, await _content_size(digest), _owners(sources, roots, built))


def rules():
    return collect_rules()
