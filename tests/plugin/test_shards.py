"""The shard rule (pants_oci.shards), tested directly: what `shard_size` accepts, how a layer is
split, its locality under edits, and the image's layer budget."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pants_oci.shards import (
    RUNTIME_LAYER_LIMIT,
    SHARD_SIZE_ACCEPTED,
    SHARDED_IMAGE_LAYERS,
    LayerBudgetError,
    ShardableLayer,
    ShardItem,
    ShardSizeError,
    parse_shard_size,
    plan_image_shards,
    split_layer,
)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@pytest.mark.parametrize(
    "value, size",
    [("off", 0), ("64KiB", 64 * KiB), ("32MiB", 32 * MiB), ("1GiB", GiB), ("1048576", MiB)],
)
def test_shard_size_values(value: str, size: int) -> None:
    assert parse_shard_size(value) == size


@pytest.mark.parametrize("value", ["", "0", "63KiB", "65535", "32MB", "32 MiB", "32mib", "1.5GiB", "-1", "OFF", "none"])
def test_bad_shard_sizes_say_what_is_accepted(value: str) -> None:
    with pytest.raises(ShardSizeError) as raised:
        parse_shard_size(value)
    assert str(raised.value) == SHARD_SIZE_ACCEPTED


def test_an_item_weighs_what_it_adds_to_the_tar() -> None:
    assert [ShardItem.of("f", size).weight for size in (0, 1, 512, 513)] == [512, 1024, 1024, 1536]


def tree(seed: int, files: int, largest: int) -> list[ShardItem]:
    rng = random.Random(seed)
    return [ShardItem.of(f"d{i % 7}/e{i % 3}/f{i:05d}", rng.randint(0, largest)) for i in range(files)]


def test_a_layer_no_larger_than_the_size_is_one_shard_in_tar_order() -> None:
    items = tree(1, 50, 1000)
    assert split_layer(items, 0) == (tuple(sorted(items, key=lambda i: i.path)),)
    total = sum(i.weight for i in items)
    assert split_layer(items, total) == (tuple(sorted(items, key=lambda i: i.path)),)
    assert len(split_layer(items, total - 1)) > 1


def test_tar_order_is_bytewise_utf8() -> None:
    items = [ShardItem.of(p, 10) for p in ("b", "a/z", "a.txt", "é", "Z")]
    (only,) = split_layer(items, 0)
    assert [i.path for i in only] == ["Z", "a.txt", "a/z", "b", "é"]


@st.composite
def layers(draw):
    count = draw(st.integers(1, 300))
    sizes = draw(st.lists(st.integers(0, 3 * MiB), min_size=count, max_size=count))
    paths = [f"p{draw(st.integers(0, 9))}/{i:04d}" for i in range(count)]
    return [ShardItem.of(path, size) for path, size in zip(paths, sizes)]


@settings(max_examples=200, deadline=None)
@given(layers(), st.sampled_from([64 * KiB, 256 * KiB, MiB, 4 * MiB]))
def test_shards_partition_the_layer_in_order_and_respect_the_size(items, size) -> None:
    shards = split_layer(items, size)
    assert [i for shard in shards for i in shard] == sorted(items, key=lambda i: i.path)
    for shard in shards:
        assert shard, "no empty shard"
        assert sum(i.weight for i in shard) <= size or len(shard) == 1, "only a lone large file exceeds the size"


def test_a_file_larger_than_the_size_or_than_memory_is_a_shard_of_its_own() -> None:
    items = tree(2, 400, 40 * KiB) + [ShardItem.of("d3/huge.bin", 64 * GiB), ShardItem.of("d5/big.bin", 2 * MiB)]
    shards = split_layer(items, MiB)
    for path in ("d3/huge.bin", "d5/big.bin"):
        (holder,) = [s for s in shards if any(i.path == path for i in s)]
        assert [i.path for i in holder] == [path]


def mutate(items: list[ShardItem], rng: random.Random, kind: str) -> list[ShardItem]:
    out = list(items)
    i = rng.randrange(len(out))
    if kind == "resize":
        out[i] = ShardItem.of(out[i].path, rng.randint(0, 40 * KiB))
    elif kind == "add":
        out.append(ShardItem.of(f"d{rng.randrange(7)}/new{rng.randrange(10**6):06d}", rng.randint(0, 40 * KiB)))
    else:
        del out[i]
    return out


def forced(shards, size: int) -> bool:
    """Whether a cut was forced by the size (the only cut that depends on earlier entries)."""
    return any(sum(i.weight for i in s) + t[0].weight > size for s, t in zip(shards, shards[1:]))


@pytest.mark.parametrize("kind", ["resize", "add", "delete"])
def test_a_resize_add_or_delete_changes_at_most_two_shards(kind: str) -> None:
    """(A content edit that keeps the file's tar blocks leaves every (path, weight) as it was,
    so the same shards: only the edited file's shard gets new bytes.)"""
    size, checked = MiB, 0
    for seed in range(40):
        rng = random.Random(seed)
        items = tree(seed, 600, 40 * KiB)  # about 12 MiB: over 30 shards
        before = split_layer(items, size)
        after = split_layer(mutate(items, rng, kind), size)
        if forced(before, size) or forced(after, size):
            continue
        checked += 1
        new = set(after) - set(before)
        assert len(new) <= 2, (seed, [len(s) for s in before], [len(s) for s in after])
    assert checked >= 30


def test_same_inputs_same_shards_in_any_order() -> None:
    items = tree(3, 500, 40 * KiB)
    shuffled = list(items)
    random.Random(0).shuffle(shuffled)
    assert split_layer(items, MiB) == split_layer(shuffled, MiB)


def test_too_many_files_of_the_shard_size_get_coarser_shards() -> None:
    files = [ShardItem.of(f"blob{i:03d}", 64 * KiB) for i in range(150)]
    assert len(split_layer(files, 64 * KiB)) == 150
    plan = plan_image_shards("oci_image app:img", [ShardableLayer(tuple(files), 64 * KiB)], [("its base b:base", 3)])
    (shards,) = plan.layers
    assert 3 + len(shards) <= SHARDED_IMAGE_LAYERS < 3 + len(split_layer(files, 64 * KiB * plan.scale // 2))
    assert shards == split_layer(files, 64 * KiB * plan.scale)
    assert len(shards) > 1
    assert plan.note == (
        f"oci_image app:img: its layers are split into shards of {plan.scale} times their `shard_size`, "
        f"to keep it at {SHARDED_IMAGE_LAYERS} layers or fewer (3 from its base b:base, {len(shards)} of its own)."
    )


def test_a_base_using_most_of_the_budget_leaves_layers_unsplit() -> None:
    big = ShardableLayer(tuple(tree(4, 300, 40 * KiB)), 64 * KiB)
    small = ShardableLayer(tuple(tree(5, 3, 100)), 64 * KiB)
    assert len(split_layer(big.items, big.size)) > 4
    plan = plan_image_shards("oci_image app:img", [big, small], [("its base b:base", 80), ("extensions", 1)])
    assert [len(s) for s in plan.layers] == [1, 1]
    assert "not split into shards" in plan.note
    assert "(80 from its base b:base, 1 from extensions, 2 of its own)" in plan.note


def test_within_the_budget_nothing_is_coarsened() -> None:
    big = ShardableLayer(tuple(tree(4, 300, 40 * KiB)), 512 * KiB)
    plan = plan_image_shards("oci_image app:img", [big], [("its base b:base", 5)])
    assert plan.layers == (split_layer(big.items, big.size),)
    assert len(plan.layers[0]) > 1
    assert (plan.scale, plan.note) == (1, "")


def test_an_image_over_the_runtime_limit_is_refused_naming_where_its_layers_come_from() -> None:
    layers = [ShardableLayer((ShardItem.of(f"f{i}"),), 0) for i in range(8)]
    with pytest.raises(LayerBudgetError) as raised:
        plan_image_shards("oci_image app:img", layers, [("its base b:base", 118), ("extensions", 2), ("x", 0)])
    assert str(raised.value) == (
        f"oci_image app:img would have 128 layers (118 from its base b:base, 2 from extensions, 8 of "
        f"its own), more than the {RUNTIME_LAYER_LIMIT} container runtimes accept. Merge some of its "
        "layers into one `oci_layer`, or build it on a base with fewer layers."
    )
    plan = plan_image_shards("oci_image app:img", layers[:7], [("its base b:base", 118), ("extensions", 2)])
    assert [len(s) for s in plan.layers] == [1] * 7  # 127 is accepted
