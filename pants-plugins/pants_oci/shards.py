"""Splitting a large layer into shards: which input goes into which image layer. Pure functions.

`size` is the most a shard holds. The rule walks a layer's entries in the order the layer's tar
has them (bytewise by path). An entry is a candidate boundary when a hash of its path falls below
`weight / (size / 8)`: about one candidate per `size / 8` bytes, each decided by its entry alone.
A shard ends:

- after a candidate with at least `size / 8` bytes since the previous candidate (or the start
  of the layer): the floor;
- before an entry that would take it past `size` (so a file larger than `size` is a shard of
  its own).

A last shard below the floor joins the one before it when both fit in `size`. An entry's weight
is what it adds to the tar: a 512-byte header and its content in 512-byte blocks.

Whether a candidate ends a shard depends only on the entries since the previous candidate, so
an edited, added or removed file changes its own shard, and one neighbour when it makes or
unmakes a boundary; an edit that keeps the file's number of blocks changes exactly one shard.
Only the cuts forced by `size` shift with sizes, up to the next boundary: the floor is an
eighth of `size` so that shards rarely reach it. docs/sharding.md has the numbers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional, Sequence

# Docker and containers/storage (podman, CRI-O) refuse to run an image of more layers ("max
# depth exceeded"): one overlay mount names every layer, in one page of mount options.
RUNTIME_LAYER_LIMIT = 127
# Shards are coarsened to keep an image at or below this many layers: room for the images built
# on it, and for mounts with longer paths (BuildKit's `RUN --mount=from=` fails near 70 layers).
SHARDED_IMAGE_LAYERS = 64
MIN_SHARD_SIZE = 64 * 1024
DEFAULT_SHARD_SIZE = "64MiB"

_HASH_PREFIX = b"pants-oci layer shard v1\0"
_TAR_BLOCK = 512
_UNITS = {"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_SIZE_RE = re.compile(r"([0-9]{1,12})(KiB|MiB|GiB)?")
SHARD_SIZE_ACCEPTED = (
    "expected 'off' (never split) or a size of at least 64KiB, a whole number with an optional "
    "unit KiB, MiB or GiB, such as '32MiB' or '1GiB'"
)


class ShardSizeError(ValueError):
    pass


class LayerBudgetError(ValueError):
    pass


def parse_size(value: str) -> Optional[int]:
    """Bytes of a size such as '512', '64KiB', '16MiB' or '1GiB'; None when it is not one."""
    match = _SIZE_RE.fullmatch(value)
    return int(match.group(1)) * _UNITS[match.group(2) or ""] if match else None


def parse_shard_size(value: str) -> int:
    """The shard size in bytes of a `shard_size` value; 0 for 'off'. ShardSizeError says what
    is accepted."""
    if value == "off":
        return 0
    size = parse_size(value) or 0
    if size < MIN_SHARD_SIZE:
        raise ShardSizeError(SHARD_SIZE_ACCEPTED)
    return size


@dataclass(frozen=True)
class ShardItem:
    """One entry of a layer: a file, an empty directory or a symlink, at its path below the
    layer's destination."""

    path: str
    weight: int  # bytes it adds to the tar

    @classmethod
    def of(cls, path: str, size: int = 0) -> "ShardItem":
        return cls(path, _TAR_BLOCK + -(-size // _TAR_BLOCK) * _TAR_BLOCK)


def _tar_order(item: ShardItem) -> bytes:
    return item.path.encode("utf-8", "surrogateescape")


def _is_candidate(item: ShardItem, spacing: int) -> bool:
    digest = hashlib.sha256(_HASH_PREFIX + _tar_order(item)).digest()
    return int.from_bytes(digest[:8], "big") * spacing < item.weight << 64


def _weight(items: Sequence[ShardItem]) -> int:
    return sum(item.weight for item in items)


def split_layer(items: Sequence[ShardItem], size: int) -> tuple[tuple[ShardItem, ...], ...]:
    """The shards of a layer, in tar order: one shard when `size` is 0 or the layer's tar is
    no larger than `size`."""
    ordered = sorted(items, key=_tar_order)
    if not size or _weight(ordered) <= size:
        return (tuple(ordered),)
    floor = spacing = size // 8
    shards: list[tuple[ShardItem, ...]] = []
    current: list[ShardItem] = []
    filled = since_candidate = 0
    for item in ordered:
        if current and filled + item.weight > size:
            shards.append(tuple(current))
            current, filled = [], 0
        current.append(item)
        filled += item.weight
        since_candidate += item.weight
        if _is_candidate(item, spacing):
            if since_candidate >= floor:
                shards.append(tuple(current))
                current, filled = [], 0
            since_candidate = 0
    if current:
        shards.append(tuple(current))
    if len(shards) > 1 and _weight(shards[-1]) < floor and _weight(shards[-2] + shards[-1]) <= size:
        shards[-2:] = [shards[-2] + shards[-1]]
    return tuple(shards)


@dataclass(frozen=True)
class ShardableLayer:
    items: tuple[ShardItem, ...]
    size: int  # its shard size; 0: never split


@dataclass(frozen=True)
class ImageShards:
    layers: tuple[tuple[tuple[ShardItem, ...], ...], ...]  # each layer's shards
    scale: int = 1  # what the shard sizes were multiplied by to fit the image's layer budget
    note: str = ""  # what that coarsening did, for a warning


def _sources(others: Sequence[tuple[str, int]], own: int) -> str:
    return ", ".join([*(f"{count} from {what}" for what, count in others if count), f"{own} of its own"])


def check_layer_budget(image: str, own: int, others: Sequence[tuple[str, int]]) -> int:
    """The image's layers without shards (`own` of its own, `others` as (what, count)); over
    RUNTIME_LAYER_LIMIT is a LayerBudgetError naming where its layers come from."""
    fixed = sum(count for _, count in others) + own
    if fixed > RUNTIME_LAYER_LIMIT:
        raise LayerBudgetError(
            f"{image} would have {fixed} layers ({_sources(others, own)}), more than the "
            f"{RUNTIME_LAYER_LIMIT} container runtimes accept. Merge some of its layers into one "
            "`oci_layer`, or build it on a base with fewer layers."
        )
    return fixed


def _layer_count(fixed: int, shard_counts: Sequence[int]) -> int:
    """The image's layers when its `fixed` layers' splittable ones have these many shards."""
    return fixed - len(shard_counts) + sum(shard_counts)


def fits(fixed: int, shard_counts: Sequence[int]) -> bool:
    """Whether shards that many per layer keep the image in its budget (or nothing is split)."""
    return _layer_count(fixed, shard_counts) <= SHARDED_IMAGE_LAYERS or all(n == 1 for n in shard_counts)


def coarsening_note(
    image: str, scale: int, fixed: int, shard_counts: Sequence[int], others: Sequence[tuple[str, int]]
) -> str:
    """What doubling every shard size `scale` times over did, for a warning ("" when nothing)."""
    if scale == 1:
        return ""
    split = _layer_count(fixed, shard_counts) > fixed
    how = f"split into shards of {scale} times their `shard_size`" if split else "not split into shards"
    return (
        f"{image}: its layers are {how}, to keep it at {SHARDED_IMAGE_LAYERS} layers or fewer "
        f"({_sources(others, sum(shard_counts))})."
    )


def plan_image_shards(image: str, layers: Sequence[ShardableLayer], others: Sequence[tuple[str, int]]) -> ImageShards:
    """Each layer's shards, doubling every shard size until the image has at most
    SHARDED_IMAGE_LAYERS layers or no layer is split (`fits`). `others` are the image's other
    layers (its base's, extensions'), as (what, count). The rules take the same steps one layer
    at a time (util_rules/layer_shards.py), so that an unchanged layer is never planned again."""
    fixed = check_layer_budget(image, len(layers), others)
    scale = 1
    while True:
        shards = tuple(split_layer(layer.items, layer.size * scale) for layer in layers)
        if fits(fixed, [len(s) for s in shards]):
            break
        scale *= 2
    return ImageShards(shards, scale, coarsening_note(image, scale, fixed, [len(s) for s in shards], others))
