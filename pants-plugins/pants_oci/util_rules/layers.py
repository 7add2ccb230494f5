"""A layer's files, or one shard of them, -> one cached `Process` that writes its deterministic blob.

The files come from an `oci_layer`'s targets (`OciLayerRequest`) or from a rule that placed them
itself (a Python app's installed requirements): either way a `LayerPart`, built by one process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

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

from ocikit.contracts.layer import LayerCommand, LayerDescriptor, LayerSpec
from ocikit.image import Descriptor, Layer
from ocikit.layout import blob_path
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import OcikitRunner

_BLOB = "layer.blob"
_DESCRIPTOR = "layer.json"
# Where every layer process writes its blob and descriptor (`read_built_layer` reads them).
LAYER_OUTPUTS = (_BLOB, _DESCRIPTOR)
_SPEC = "layer-spec.json"
_FILES = "files"


@dataclass(frozen=True)
class BuiltOciLayer:
    layer: Layer
    blob: Digest  # one file, at blobs/sha256/<hex>
    # The SHA1 of each file the layer holds, by its SHA-256 (what the image's SBOM needs).
    file_sha1s: FrozenDict[str, str] = FrozenDict()


@dataclass(frozen=True)
class LayerPart:
    """What one layer process builds: a whole layer, or one shard of a split layer (each
    shard carries the directories its own entries need, as the whole layer would)."""

    files: Digest  # its inputs, at their paths below `destination`
    destination: str
    uid: int
    gid: int
    what: str  # how errors and history name it: "oci_layer //app:layer", "... (shard 2 of 7)"
    compression: LayerCompression
    symlinks: FrozenDict[str, str] = FrozenDict()  # link path below destination -> target

    @classmethod
    def of_layer(
        cls, layer: OciLayerRequest, files: Digest, symlinks: FrozenDict[str, str], shard: str = ""
    ) -> LayerPart:
        """An `oci_layer`'s part: the whole layer, or its `shard` ("shard 2 of 7")."""
        what = f"{layer.what} ({shard})" if shard else layer.what
        return cls(files, layer.destination, layer.uid, layer.gid, what, layer.compression, symlinks)


def layer_spec(part: LayerPart, mtime: int, executables: tuple[str, ...] = ()) -> LayerSpec:
    """The `python -m ocikit layer --spec` of a part: what decides the layer's bytes.
    `executables` are the part's files Pants records as executable: the worker never reads
    the bit from the sandbox, where Pants may have hardlinked a large file with its store's
    mode (`LayerSpec.executables`)."""
    return LayerSpec(
        root=_FILES,
        destination=part.destination,
        uid=part.uid,
        gid=part.gid,
        mode_policy="normalize",
        compression=part.compression.compression.value,
        level=part.compression.level,
        mtime=mtime,
        symlinks=dict(part.symlinks),
        executables=executables,
    )


def executable_paths(entries: Iterable[object]) -> tuple[str, ...]:
    """The files Pants records as executable, sorted: what a layer spec lists (`LayerSpec.executables`)."""
    return tuple(sorted(e.path for e in entries if isinstance(e, FileEntry) and e.is_executable))


async def _layer_process_inputs(part: LayerPart, mtime: int) -> Digest:
    executables = executable_paths(await Get(DigestEntries, Digest, part.files))
    files, spec = await MultiGet(
        # A part of symlinks only has no files: its root must still exist.
        Get(Digest, AddPrefix(part.files, _FILES))
        if part.files != EMPTY_DIGEST
        else Get(Digest, CreateDigest([Directory(_FILES)])),
        Get(Digest, CreateDigest([FileContent(_SPEC, layer_spec(part, mtime, executables).dumps())])),
    )
    return await Get(Digest, MergeDigests([files, spec]))


async def read_layer_files(outputs: Digest, blob_path_in: str, descriptor_path: str, what: str) -> BuiltOciLayer:
    """The layer whose blob and descriptor (`LayerDescriptor`) are the files at these paths of
    `outputs`, its blob placed at its blob path."""
    descriptor_contents, entries = await MultiGet(
        Get(DigestContents, DigestSubset(outputs, PathGlobs([descriptor_path]))),
        Get(DigestEntries, DigestSubset(outputs, PathGlobs([blob_path_in]))),
    )
    built = LayerDescriptor.loads(descriptor_contents[0].content, f"the layer descriptor of {what}")
    descriptor = Descriptor(built.media_type, built.digest, built.size)
    (blob_entry,) = entries
    assert isinstance(blob_entry, FileEntry)
    blob = await Get(Digest, CreateDigest([FileEntry(blob_path(descriptor.digest), blob_entry.file_digest)]))
    return BuiltOciLayer(Layer(descriptor, built.diff_id, f"pants: {what}"), blob, FrozenDict(built.file_sha1s))


async def read_built_layer(result: ProcessResult, what: str) -> BuiltOciLayer:
    """The layer a process wrote as `layer.blob` and `layer.json` (`layer_outputs`), placed
    at its blob path; `what` names it in errors and the image's history."""
    return await read_layer_files(result.output_digest, _BLOB, _DESCRIPTOR, what)


@rule(desc="Build an OCI layer", level=LogLevel.DEBUG)
async def build_layer_part(part: LayerPart, runner: OcikitRunner, settings: OciBuildSettings) -> BuiltOciLayer:
    input_digest = await _layer_process_inputs(part, settings.epoch)
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            # The layer compresses on every core. Not `concurrency_available`: Pants 2.17
            # restarts a running process to rebalance its concurrency, building a layer twice.
            LayerCommand(spec=_SPEC, out=_BLOB, descriptor=_DESCRIPTOR).to_argv(),
            input_digest=input_digest,
            output_files=(_BLOB, _DESCRIPTOR),
            description=f"Build layer of {part.what}",
            level=LogLevel.DEBUG,
        ),
    )
    return await read_built_layer(result, part.what)


@rule(desc="Build an OCI layer, whole", level=LogLevel.DEBUG)
async def build_oci_layer(request: OciLayerRequest) -> BuiltOciLayer:
    inputs = await Get(LayerInputs, OciLayerRequest, request)
    return await Get(BuiltOciLayer, LayerPart, LayerPart.of_layer(request, inputs.digest, request.symlinks))


def rules():
    return collect_rules()
