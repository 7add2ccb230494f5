"""An image's `oci_layer`s -> its image layers: a large layer is split into shards
(`pants_oci.shards`) within the image's layer budget, and every shard is its own cached process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

from pants.core.util_rules.environments import EnvironmentTarget
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestEntries, Directory, FileEntry, SymlinkEntry
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.layer import LayerEntry, LayerError, add_symlinks
from pants_oci.layer_paths import LayerInputError
from pants_oci.shards import ShardItem, check_layer_budget, coarsening_note, fits, split_layer
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart
from pants_oci.util_rules.worker_environment import OciWorkerSubsystem, ships_worker
from pants_oci.util_rules.worker_runner import LocalRunner, LocalRunnerRequest

logger = logging.getLogger(__name__)

_Entry = Union[FileEntry, Directory, SymlinkEntry]


@dataclass(frozen=True)
class ShardedLayerRequest:
    layer: OciLayerRequest
    shard_size: int  # bytes of tar a shard holds at most; 0: never split


@dataclass(frozen=True)
class LayerShardsRequest:
    """One layer's processes with its shard size multiplied by `scale` (the image's budget)."""

    layer: ShardedLayerRequest
    scale: int = 1


@dataclass(frozen=True)
class ImageLayersRequest:
    """Build an image's `oci_layer`s; `others` are its other layers as (where from, count)."""

    image: Address
    layers: tuple[ShardedLayerRequest, ...]
    others: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ImageLayers:
    per_layer: tuple[tuple[BuiltOciLayer, ...], ...]  # each requested layer's image layers
    # How each was split (its shard size scaled to the image's budget): the key under which
    # whoever reads a layer's build again (its SBOM) finds the same, memoized processes.
    shards: tuple[LayerShardsRequest, ...] = ()


@dataclass(frozen=True)
class LayerShards:
    parts: tuple[tuple[LayerPart, int], ...]  # each process and its size (the biggest starts first)


def _by_path(layer: OciLayerRequest, entries: Sequence[_Entry]) -> dict[str, tuple[_Entry, ...]]:
    """An input's entries by path, and () for a declared symlink (which a shard may hold alone)."""
    by_path: dict[str, tuple[_Entry, ...]] = {link: () for link in layer.symlinks}
    # A digest holds each path once; a declared link on an input's path is refused below.
    by_path.update((entry.path, (entry,)) for entry in entries)
    return by_path


def _items(by_path: Mapping[str, Sequence[_Entry]]) -> tuple[ShardItem, ...]:
    def size(entries: Sequence[_Entry]) -> int:
        return sum(e.file_digest.serialized_bytes_length for e in entries if isinstance(e, FileEntry))

    return tuple(ShardItem.of(path, size(entries)) for path, entries in by_path.items())


def check_declared_symlinks(layer: OciLayerRequest, by_path: Mapping[str, Sequence[_Entry]]) -> None:
    """What the layer process checks when it builds a whole layer, for a split layer, whose
    links and inputs may land in different shards: a link on, or above, a path its inputs have
    (an empty directory or a symlink of a packaged output, which `check_layer_paths` never sees)."""
    inputs = [
        LayerEntry(path, "dir", 0o755, 0, 0, 0, None)
        if isinstance(e, Directory)
        else LayerEntry(path, "symlink", 0o777, 0, 0, 0, None, e.target)
        if isinstance(e, SymlinkEntry)
        else LayerEntry(path, "file", 0o644, 0, 0, 0, None)
        for path, entries in by_path.items()
        for e in entries
    ]
    try:
        add_symlinks(inputs, "/", layer.symlinks)
    except LayerError as e:
        raise LayerInputError(f"{layer.what}: the `symlinks` field: {e}") from e


def _part(layer: OciLayerRequest, files: Digest, shard: Sequence[ShardItem], n: int, count: int) -> LayerPart:
    links = FrozenDict({i.path: layer.symlinks[i.path] for i in shard if i.path in layer.symlinks})
    return LayerPart.of_layer(layer, files, links, f"shard {n} of {count}")


@rule(desc="Split an OCI layer into shards", level=LogLevel.DEBUG)
async def shard_layer(request: LayerShardsRequest) -> LayerShards:
    """A layer's processes: the whole layer, or one per shard (`pants_oci.shards`). A rule of
    its own per layer, so that an edit plans and splits again only the layer it touched."""
    layer = request.layer.layer
    inputs = await Get(LayerInputs, OciLayerRequest, layer)
    whole = LayerShards(((LayerPart.of_layer(layer, inputs.digest, layer.symlinks), inputs.size),))
    if not request.layer.shard_size:
        return whole
    by_path = _by_path(layer, await Get(DigestEntries, Digest, inputs.digest))
    shards = split_layer(_items(by_path), request.layer.shard_size * request.scale)
    if len(shards) == 1:
        return whole
    if layer.symlinks:
        check_declared_symlinks(layer, by_path)
    digests = await MultiGet(
        Get(Digest, CreateDigest(e for item in shard for e in by_path[item.path])) for shard in shards
    )
    return LayerShards(
        tuple(
            (_part(layer, digest, shard, n, len(shards)), sum(i.weight for i in shard))
            for n, (digest, shard) in enumerate(zip(digests, shards), start=1)
        )
    )


async def _plan(request: ImageLayersRequest, prepare_runner: bool) -> tuple[list[LayerShards], int]:
    """Each layer's shards within the image's layer budget: every shard size doubled until the
    image fits (`pants_oci.shards.fits`). With `prepare_runner`, the local runner of the layer
    processes is prepared meanwhile: on a cold build its setup process would otherwise wait for
    Pants to snapshot every input."""
    image = f"oci_image {request.image}"
    fixed = check_layer_budget(image, len(request.layers), request.others)
    prepare = [Get(LocalRunner, LocalRunnerRequest())] if prepare_runner else []
    scale = 1
    while True:
        answers = await MultiGet(
            *(Get(LayerShards, LayerShardsRequest(layer, scale)) for layer in request.layers), *prepare
        )
        sharded = list(answers[: len(request.layers)])
        counts = [len(s.parts) for s in sharded]
        if fits(fixed, counts):
            break
        scale, prepare = scale * 2, []
    note = coarsening_note(image, scale, fixed, counts, request.others)
    if note:
        logger.warning(note)
    return sharded, scale


@rule(desc="Build the layers of an OCI image")
async def build_image_layers(
    request: ImageLayersRequest, worker: OciWorkerSubsystem, environment: EnvironmentTarget
) -> ImageLayers:
    per_layer, scale = await _plan(request, prepare_runner=not ships_worker(worker.mode, environment))
    # With fewer process slots than parts, the longest build should start first instead of
    # queueing behind small ones: request the builds in size order.
    parts = [(part, size, n) for n, sharded in enumerate(per_layer) for part, size in sharded.parts]
    order = sorted(range(len(parts)), key=lambda i: -parts[i][1])
    built = dict(zip(order, await MultiGet(Get(BuiltOciLayer, LayerPart, parts[i][0]) for i in order)))
    layers: list[list[BuiltOciLayer]] = [[] for _ in request.layers]
    for i, (_, _, n) in enumerate(parts):
        layers[n].append(built[i])
    return ImageLayers(
        tuple(tuple(built_layers) for built_layers in layers),
        tuple(LayerShardsRequest(layer, scale) for layer in request.layers),
    )


def rules():
    return collect_rules()
