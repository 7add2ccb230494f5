"""A layer's inputs -> one cached `Process` that writes its deterministic blob.

`OciLayerRequest` (an `oci_layer`'s targets) and `LayerContents` (files another rule already
placed, e.g. a Python app's installed requirements) end in the same process."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants_oci.util_rules.core import OcikitRunner
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    Directory,
    FileContent,
    FileEntry,
    MergeDigests,
    PathGlobs,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.canonical_json import canonical_json
from ocikit.image import Descriptor, Layer
from ocikit.layout import blob_path

_BLOB = "layer.blob"
_DESCRIPTOR = "layer.json"
_SPEC = "layer-spec.json"
_FILES = "files"


@dataclass(frozen=True)
class BuiltOciLayer:
    layer: Layer
    blob: Digest  # one file, at blobs/sha256/<hex>


@dataclass(frozen=True)
class LayerContents:
    """Files to tar into one layer: `digest` holds them at their paths below `destination`."""

    digest: Digest
    destination: str
    uid: int
    gid: int
    what: str  # how errors and history name this layer, e.g. "oci_layer //app:layer"
    compression: LayerCompression
    symlinks: FrozenDict[str, str] = FrozenDict()  # link path below destination -> target


def layer_spec(contents: LayerContents, mtime: int) -> dict:
    """The `python -m ocikit layer --spec` of a layer: what decides its bytes."""
    spec = {
        "root": _FILES,
        "destination": contents.destination,
        "uid": contents.uid,
        "gid": contents.gid,
        "mode_policy": "normalize",
        "compression": contents.compression.compression.value,
        "level": contents.compression.level,
        "mtime": mtime,
    }
    if contents.symlinks:  # absent otherwise, so layers without links keep their cache keys
        spec["symlinks"] = dict(contents.symlinks)
    return spec


async def _layer_process_inputs(contents: LayerContents, runner: OcikitRunner, mtime: int) -> Digest:
    files, spec = await MultiGet(
        # A layer of symlinks only has no files: its root must still exist.
        Get(Digest, AddPrefix(contents.digest, _FILES))
        if contents.digest != EMPTY_DIGEST
        else Get(Digest, CreateDigest([Directory(_FILES)])),
        Get(Digest, CreateDigest([FileContent(_SPEC, canonical_json(layer_spec(contents, mtime)))])),
    )
    return await Get(Digest, MergeDigests([files, spec, runner.digest]))


async def _read_built_layer(result: ProcessResult, contents: LayerContents) -> BuiltOciLayer:
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
    return BuiltOciLayer(Layer(descriptor, info["diffID"], f"pants: {contents.what}"), blob)


@rule(desc="Build an OCI layer", level=LogLevel.DEBUG)
async def build_layer_from_contents(
    contents: LayerContents, runner: OcikitRunner, settings: OciBuildSettings
) -> BuiltOciLayer:
    input_digest = await _layer_process_inputs(contents, runner, settings.epoch)
    result = await Get(
        ProcessResult,
        Process(
            # The layer compresses on every core. Not `concurrency_available`: Pants 2.17
            # restarts a running process to rebalance its concurrency, building a layer twice.
            argv=runner.argv("layer", "--spec", _SPEC, "--out", _BLOB, "--descriptor", _DESCRIPTOR),
            env=runner.env,
            input_digest=input_digest,
            output_files=(_BLOB, _DESCRIPTOR),
            description=f"Build layer of {contents.what}",
            level=LogLevel.DEBUG,
        ),
    )
    return await _read_built_layer(result, contents)


@rule(desc="Build an OCI layer of targets", level=LogLevel.DEBUG)
async def build_oci_layer(request: OciLayerRequest) -> BuiltOciLayer:
    inputs = await Get(LayerInputs, OciLayerRequest, request)
    contents = LayerContents(
        inputs.digest,
        request.destination,
        request.uid,
        request.gid,
        request.what,
        request.compression,
        request.symlinks,
    )
    return await Get(BuiltOciLayer, LayerContents, contents)


def rules():
    return collect_rules()
