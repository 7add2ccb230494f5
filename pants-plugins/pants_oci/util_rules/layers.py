"""A layer's inputs -> one cached `Process` that writes its deterministic blob."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants_oci.util_rules.core import OcikitRunner
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import OciBuildSettings
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


def layer_spec(request: OciLayerRequest, mtime: int) -> dict:
    """The `python -m ocikit layer --spec` of a request: what decides the layer's bytes."""
    spec = {
        "root": _FILES,
        "destination": request.destination,
        "uid": request.uid,
        "gid": request.gid,
        "mode_policy": "normalize",
        "compression": request.compression.compression.value,
        "level": request.compression.level,
        "mtime": mtime,
    }
    if request.symlinks:  # absent otherwise, so layers without links keep their cache keys
        spec["symlinks"] = dict(request.symlinks)
    return spec


async def _layer_process_inputs(request: OciLayerRequest, mtime: int) -> Digest:
    inputs = await Get(LayerInputs, OciLayerRequest, request)
    files, spec = await MultiGet(
        # A layer of symlinks only has no files: its root must still exist.
        Get(Digest, AddPrefix(inputs.digest, _FILES))
        if inputs.digest != EMPTY_DIGEST
        else Get(Digest, CreateDigest([Directory(_FILES)])),
        Get(Digest, CreateDigest([FileContent(_SPEC, canonical_json(layer_spec(request, mtime)))])),
    )
    return await Get(Digest, MergeDigests([files, spec]))


async def _read_built_layer(result: ProcessResult, request: OciLayerRequest) -> BuiltOciLayer:
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


@rule(desc="Build an OCI layer", level=LogLevel.DEBUG)
async def build_oci_layer(
    request: OciLayerRequest, runner: OcikitRunner, settings: OciBuildSettings
) -> BuiltOciLayer:
    input_digest = await _layer_process_inputs(request, settings.epoch)
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
    return await _read_built_layer(result, request)


def rules():
    return collect_rules()
