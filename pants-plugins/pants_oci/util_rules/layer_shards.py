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

from ocikit.layer import LayerEntry, LayerError, add_symlinks
from pants_oci.layer_paths import LayerInputError
from pants_oci.shards import ImageShards, ShardableLayer, ShardItem, plan_image_shards
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
class ImageLayersRequest:
    """Build an image's `oci_layer`s; `others` are its other layers as (where from, count)."""

    image: Address
    layers: tuple[ShardedLayerRequest, ...]
    others: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ImageLayers:
    per_layer: tuple[tuple[BuiltOciLayer, ...], ...]  # each requested layer's image layers


@dataclass(frozen=True)
class _LayerEntries:
    inputs: LayerInputs
    by_path: dict[str, tuple[_Entry, ...]]  # an input's entries, or () for a declared symlink

    def items(self) -> tuple[ShardItem, ...]:
        def size(entries: Sequence[_Entry]) -> int:
            return sum(e.file_digest.serialized_bytes_length for e in entries if isinstance(e, FileEntry))

        return tuple(ShardItem.of(path, size(entries)) for path, entries in self.by_path.items())


async def _layer_entries(layers: Sequence[ShardedLayerRequest], prepare_runner: bool) -> list[_LayerEntries]:
    """Each layer's inputs by path; only for the layers that may be split (the others are
    built whole and never read their entries). With `prepare_runner`, the local runner of
    the layer processes is prepared meanwhile: on a cold build its setup process would
    otherwise wait for Pants to snapshot every input."""
    prepare = [Get(LocalRunner, LocalRunnerRequest())] if prepare_runner else []
    answers = await MultiGet(*(Get(LayerInputs, OciLayerRequest, layer.layer) for layer in layers), *prepare)
    inputs = answers[: len(layers)]
    shardable = [i for i, layer in enumerate(layers) if layer.shard_size]
    entries = await MultiGet(Get(DigestEntries, Digest, inputs[i].digest) for i in shardable)
    listed = dict(zip(shardable, entries))
    found: list[_LayerEntries] = []
    for i, layer in enumerate(layers):
        links = layer.layer.symlinks if i in listed else {}
        by_path: dict[str, tuple[_Entry, ...]] = {link: () for link in links}
        # A digest holds each path once; a declared link on an input's path is refused later.
        by_path.update((entry.path, (entry,)) for entry in listed.get(i, ()))
        found.append(_LayerEntries(inputs[i], by_path))
    return found


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


def _plan(request: ImageLayersRequest, entries: Sequence[_LayerEntries]) -> ImageShards:
    plan = plan_image_shards(
        f"oci_image {request.image}",
        [ShardableLayer(found.items(), layer.shard_size) for layer, found in zip(request.layers, entries)],
        request.others,
    )
    if plan.note:
        logger.warning(plan.note)
    return plan


def _part(layer: OciLayerRequest, files: Digest, shard: Sequence[ShardItem], n: int, count: int) -> LayerPart:
    links = FrozenDict({i.path: layer.symlinks[i.path] for i in shard if i.path in layer.symlinks})
    return LayerPart.of_layer(layer, files, links, f"shard {n} of {count}")


async def _parts(
    layers: Sequence[ShardedLayerRequest], entries: Sequence[_LayerEntries], plan: ImageShards
) -> list[list[tuple[LayerPart, int]]]:
    """Each layer's processes, each with its size (to start the biggest first). A layer of one
    shard is built whole, exactly as an unsplit layer."""
    split = [(i, shard) for i, shards in enumerate(plan.layers) if len(shards) > 1 for shard in shards]
    for i in sorted({i for i, _ in split if layers[i].layer.symlinks}):
        check_declared_symlinks(layers[i].layer, entries[i].by_path)
    digests = iter(
        await MultiGet(
            Get(Digest, CreateDigest(e for item in shard for e in entries[i].by_path[item.path])) for i, shard in split
        )
    )
    parts: list[list[tuple[LayerPart, int]]] = []
    for layer, found, shards in zip(layers, entries, plan.layers):
        request = layer.layer
        if len(shards) == 1:
            whole = LayerPart.of_layer(request, found.inputs.digest, request.symlinks)
            parts.append([(whole, found.inputs.size)])
            continue
        parts.append(
            [
                (_part(request, next(digests), shard, n, len(shards)), sum(i.weight for i in shard))
                for n, shard in enumerate(shards, start=1)
            ]
        )
    return parts


@rule(desc="Build the layers of an OCI image")
async def build_image_layers(
    request: ImageLayersRequest, worker: OciWorkerSubsystem, environment: EnvironmentTarget
) -> ImageLayers:
    entries = await _layer_entries(request.layers, prepare_runner=not ships_worker(worker.mode, environment))
    plan = _plan(request, entries)
    per_layer = await _parts(request.layers, entries, plan)
    # With fewer process slots than parts, the longest build should start first instead of
    # queueing behind small ones: request the builds in size order.
    parts = [(part, size, n) for n, layer_parts in enumerate(per_layer) for part, size in layer_parts]
    order = sorted(range(len(parts)), key=lambda i: -parts[i][1])
    built = dict(zip(order, await MultiGet(Get(BuiltOciLayer, LayerPart, parts[i][0]) for i in order)))
    layers: list[list[BuiltOciLayer]] = [[] for _ in request.layers]
    for i, (_, _, n) in enumerate(parts):
        layers[n].append(built[i])
    return ImageLayers(tuple(tuple(built_layers) for built_layers in layers))


def rules():
    return collect_rules()
