"""Inputs of a layer -> one cached `Process` that writes its deterministic blob."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants_oci.subsystem import Compression
from pants_oci.util_rules.core import OcikitRunner
from pants_oci.util_rules.settings import OciBuildSettings
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    FileEntry,
    MergeDigests,
    GlobExpansionConjunction,
    GlobMatchErrorBehavior,
    PathGlobs,
    Snapshot,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    SourcesField,
    Target,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.util.logging import LogLevel

from ocikit.canonical_json import canonical_json
from ocikit.image import Descriptor, Layer
from ocikit.layout import blob_path

_BLOB = "layer.blob"
_DESCRIPTOR = "layer.json"
_SPEC = "layer-spec.json"
_FILES = "files"


class LayerInputError(Exception):
    """A layer whose inputs cannot be built (no inputs, two inputs on one path)."""


@dataclass(frozen=True)
class OciLayerRequest:
    """Build one layer from the targets in `dependencies`, placed under `destination`."""

    address: Address
    dependencies: Dependencies
    destination: str
    uid: int
    gid: int
    what: str  # how errors and history name this layer, e.g. "oci_layer //app:layer"
    compression: Compression
    level: int | None
    exclude: tuple[Address, ...] = ()  # an image's inferred base and layers: not files


@dataclass(frozen=True)
class BuiltOciLayer:
    layer: Layer
    blob: Digest  # one file, at blobs/sha256/<hex>


@dataclass(frozen=True)
class LayerInputs:
    digest: Digest
    size: int  # bytes of file content, to start the biggest layer first


def _is_plain_file(tgt: Target) -> bool:
    """A `file` or `resource` target (one source file, read from the workspace as is)."""
    return tgt.has_field(FileSourceField) or tgt.has_field(ResourceSourceField)


def _is_leaf(tgt: Target) -> bool:
    return _is_plain_file(tgt) and not (tgt.has_field(Dependencies) and tgt[Dependencies].value)


def _plain_file_path(tgt: Target) -> str:
    field = tgt[FileSourceField] if tgt.has_field(FileSourceField) else tgt[ResourceSourceField]
    return field.file_path


def _claim(owner_of: dict[str, Address], path: str, owner: Address, request: OciLayerRequest) -> None:
    other = owner_of.setdefault(path, owner)
    if other != owner:
        raise LayerInputError(
            f"Two inputs of {request.what} land on the same path "
            f"{request.destination.rstrip('/')}/{path}: {other} and {owner}. Move one "
            "with `relocated_files` or put them in different layers."
        )


@rule(desc="Collect the inputs of an OCI layer")
async def collect_layer_inputs(request: OciLayerRequest) -> LayerInputs:
    all_direct = await Get(Targets, DependenciesRequest(request.dependencies))
    direct = Targets(t for t in all_direct if t.address not in request.exclude)
    packages_per_target = await Get(
        FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, direct)
    )
    packaged = {
        tgt.address: field_sets
        for tgt, field_sets in zip(direct, packages_per_target.collection)
        if field_sets
    }
    unpackaged = [tgt for tgt in direct if tgt.address not in packaged]
    # A `file`/`resource` target with no dependencies of its own (what a `files` generator
    # makes, thousands at a time) is a leaf: no transitive walk, and all of them are read with
    # one PathGlobs. Per-target `TransitiveTargets` + `SourceFiles` cost ~1 ms of rule time each.
    leaves = [tgt for tgt in unpackaged if _is_leaf(tgt)]
    walk = [tgt for tgt in unpackaged if not _is_leaf(tgt)]
    closure = (
        await Get(TransitiveTargets, TransitiveTargetsRequest(Addresses(t.address for t in walk)))
        if walk
        else None
    )
    reached = {tgt.address: tgt for tgt in leaves}
    for tgt in closure.closure if closure else ():
        reached.setdefault(tgt.address, tgt)
        if tgt.alias == "oci_layer":
            raise LayerInputError(
                f"{request.what} depends on {tgt.address}, an `oci_layer`: list it in the "
                "image's `layers` field instead, so its `destination` and `owner` apply."
            )
    plain = [tgt for tgt in reached.values() if _is_plain_file(tgt) and tgt.address not in packaged]
    other_sources = [
        tgt
        for tgt in reached.values()
        if tgt.has_field(SourcesField) and tgt.address not in packaged and not _is_plain_file(tgt)
    ]
    plain_paths = [_plain_file_path(tgt) for tgt in plain]
    plain_snapshot = await Get(
        Snapshot,
        PathGlobs(
            sorted(set(plain_paths)),
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            conjunction=GlobExpansionConjunction.all_match,
            description_of_origin=f"the `file`/`resource` inputs of {request.what}",
        ),
    )
    sources = await MultiGet(
        Get(
            SourceFiles,
            SourceFilesRequest(
                [tgt[SourcesField]],
                for_sources_types=(FileSourceField, ResourceSourceField),
                enable_codegen=True,
            ),
        )
        for tgt in other_sources
    )
    built = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(field_set))
        for field_sets in packaged.values()
        for field_set in field_sets
    )
    package_owners = [
        address for address, field_sets in packaged.items() for _ in field_sets
    ]
    package_snapshots = await MultiGet(Get(Snapshot, Digest, pkg.digest) for pkg in built)

    owner_of: dict[str, Address] = {}
    digests = [plain_snapshot.digest]
    for owner, path in sorted(zip((t.address for t in plain), plain_paths)):
        _claim(owner_of, path, owner, request)
    for owner, snapshot in [
        *((tgt.address, src.snapshot) for tgt, src in zip(other_sources, sources)),
        *zip(package_owners, package_snapshots),
    ]:
        for path in snapshot.files:
            _claim(owner_of, path, owner, request)
        digests.append(snapshot.digest)
    parents: dict[str, Address] = {}
    for path, owner in owner_of.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            parents.setdefault("/".join(parts[:i]), owner)
    for path, owner in owner_of.items():
        if path in parents:
            raise LayerInputError(
                f"Two inputs of {request.what} land on the same path "
                f"{request.destination.rstrip('/')}/{path}: {owner} puts a file there and "
                f"{parents[path]} a directory. Move one with `relocated_files` or put them in "
                "different layers."
            )
    if not owner_of:
        raise LayerInputError(
            f"{request.what} has no inputs: its `dependencies` give no files. Add `files`, "
            "`resources`, `relocated_files` or packageable targets to it."
        )
    digest = await Get(Digest, MergeDigests(digests))
    entries = await Get(DigestEntries, Digest, digest)
    size = sum(e.file_digest.serialized_bytes_length for e in entries if isinstance(e, FileEntry))
    return LayerInputs(digest, size)


@rule(desc="Build an OCI layer", level=LogLevel.DEBUG)
async def build_oci_layer(
    request: OciLayerRequest, runner: OcikitRunner, settings: OciBuildSettings
) -> BuiltOciLayer:
    inputs = await Get(LayerInputs, OciLayerRequest, request)
    spec = {
        "root": _FILES,
        "destination": request.destination,
        "uid": request.uid,
        "gid": request.gid,
        "mode_policy": "normalize",
        "compression": request.compression.value,
        "level": request.level,
        "mtime": settings.epoch,
    }
    files, spec_digest = await MultiGet(
        Get(Digest, AddPrefix(inputs.digest, _FILES)),
        Get(Digest, CreateDigest([FileContent(_SPEC, canonical_json(spec))])),
    )
    input_digest = await Get(Digest, MergeDigests([files, spec_digest]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            # The layer compresses on every core. Not `concurrency_available`: Pants 2.17
            # restarts a running process to rebalance its concurrency, building a layer twice.
            ("layer", "--spec", _SPEC, "--out", _BLOB, "--descriptor", _DESCRIPTOR),
            input_digest=input_digest,
            output_files=(_BLOB, _DESCRIPTOR),
            description=f"Build layer of {request.what}",
            level=LogLevel.DEBUG,
        ),
    )
    descriptor_contents, entries = await MultiGet(
        Get(DigestContents, DigestSubset(result.output_digest, PathGlobs([_DESCRIPTOR]))),
        Get(DigestEntries, DigestSubset(result.output_digest, PathGlobs([_BLOB]))),
    )
    info = json.loads(descriptor_contents[0].content)
    descriptor = Descriptor(info["mediaType"], info["digest"], int(info["size"]))
    (blob_entry,) = entries
    assert isinstance(blob_entry, FileEntry)
    blob = await Get(
        Digest, CreateDigest([FileEntry(blob_path(descriptor.digest), blob_entry.file_digest)])
    )
    return BuiltOciLayer(Layer(descriptor, info["diffID"], f"pants: {request.what}"), blob)


def rules():
    return collect_rules()
