"""RuleRunner tests of sharded layers: a large `oci_layer` becomes several image layers with the
entries one layer would have, an edit changes one of them, and `shard_size` / `[oci].shard_size`
decide it."""

from __future__ import annotations

import io
import random
import tarfile
from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import Directory, SymlinkEntry
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner
from pants.util.frozendict import FrozenDict
from test_package import blob, layer_members, package

from pants_oci.layer_fields import OciLayerDependenciesField
from pants_oci.layer_paths import LayerInputError
from pants_oci.subsystem import Compression
from pants_oci.util_rules.layer_inputs import OciLayerRequest
from pants_oci.util_rules.layer_shards import check_declared_symlinks
from pants_oci.util_rules.settings import LayerCompression

BUILD = """
files(name="data", sources=["data/**/*"])
oci_layer(name="sharded", dependencies=[":data"], destination="/srv/app", owner="1000:1000",
          shard_size="64KiB", symlinks={"current": "sh/data/d0", "bin/tool": "/usr/bin/env"})
oci_layer(name="whole", dependencies=[":data"], destination="/srv/app", owner="1000:1000",
          shard_size="off", symlinks={"current": "sh/data/d0", "bin/tool": "/usr/bin/env"})
oci_image(name="sharded_img", layers=[":sharded"])
oci_image(name="whole_img", layers=[":whole"])
"""


def tree(seed: int = 0, files: int = 40) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"sh/data/d{i % 3}/e{i % 2}/f{i:03d}.bin": rng.randbytes(rng.randint(1000, 30000)) for i in range(files)}


def write(rule_runner: RuleRunner, files: dict[str, bytes], build: str = BUILD) -> None:
    rule_runner.write_files({**files, "sh/BUILD": build})
    rule_runner.write_files({"sh/data/d1/run.sh": "#!/bin/sh\n"})
    (Path(rule_runner.build_root) / "sh/data/d1/run.sh").chmod(0o755)


def image(rule_runner: RuleRunner, name: str) -> tuple[dict, dict, dict[str, bytes]]:
    """(manifest, config, layout files) of the image `sh:name`."""
    built, files = package(rule_runner, "sh", name)
    manifest = blob(files, f"sh/{name}", built.artifacts[0].digest)
    return manifest, blob(files, f"sh/{name}", manifest["config"]["digest"]), files


def header(member: tarfile.TarInfo) -> tuple:
    return (
        member.type,
        member.mode,
        member.uid,
        member.gid,
        member.uname,
        member.gname,
        member.mtime,
        member.linkname,
        member.size,
    )


def test_a_large_layer_becomes_shards_holding_the_entries_of_one_layer(rule_runner: RuleRunner) -> None:
    write(rule_runner, tree())
    whole_manifest, _, whole_files = image(rule_runner, "whole_img")
    (whole,) = whole_manifest["layers"]
    expected = layer_members(whole_files, "sh/whole_img", whole)
    manifest, config, files = image(rule_runner, "sharded_img")
    count = len(manifest["layers"])
    assert count > 3
    assert [h["created_by"] for h in config["history"]] == [
        f"pants: oci_layer sh:sharded (shard {n} of {count})" for n in range(1, count + 1)
    ]
    seen: dict[str, list[tarfile.TarInfo]] = {}
    for descriptor in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(files[f"sh/sharded_img/blobs/sha256/{descriptor['digest'][7:]}"])) as tar:
            for member in tar.getmembers():
                seen.setdefault(member.name, []).append(member)
                if member.isfile():
                    assert tar.extractfile(member).read() == rule_runner.read_file(
                        member.name[len("srv/app/") :], mode="rb"
                    )
    assert sorted(seen) == sorted(expected), "the same paths, and nothing above the destination"
    for name, members in seen.items():
        assert all(header(m) == header(expected[name]) for m in members), name
        if not members[0].isdir():
            assert len(members) == 1, f"{name} is in {len(members)} shards"
    assert expected["srv/app/current"].issym() and expected["srv/app/sh/data/d1/run.sh"].mode == 0o755
    assert (expected["srv/app/sh/data"].uid, expected["srv/app/bin"].gid) == (1000, 1000)


def test_an_edit_changes_one_shard_and_a_clean_build_agrees(rule_runner: RuleRunner) -> None:
    files = tree()
    write(rule_runner, files)
    before = [layer["digest"] for layer in image(rule_runner, "sharded_img")[0]["layers"]]
    edited = dict(files)
    path = sorted(files)[17]
    edited[path] = bytes(b ^ 1 for b in files[path])  # same size, new content
    write(rule_runner, edited)
    after = [layer["digest"] for layer in image(rule_runner, "sharded_img")[0]["layers"]]
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(after, before)) == 1

    added = {**edited, "sh/data/d2/e0/new.bin": random.Random(9).randbytes(20000)}
    write(rule_runner, added)
    with_new = [layer["digest"] for layer in image(rule_runner, "sharded_img")[0]["layers"]]
    assert 1 <= len(set(with_new) - set(after)) <= 2

    clean = RuleRunner(rules=rule_runner.rules, target_types=rule_runner.target_types)
    clean.set_options([], env_inherit={"PATH", "HOME"})
    write(clean, added)
    assert [layer["digest"] for layer in image(clean, "sharded_img")[0]["layers"]] == with_new


def test_the_option_sets_the_default_and_the_field_overrides_it(rule_runner: RuleRunner) -> None:
    write(rule_runner, tree(), BUILD.replace('shard_size="64KiB", ', ""))
    whole = [layer["digest"] for layer in image(rule_runner, "whole_img")[0]["layers"]]
    default = [layer["digest"] for layer in image(rule_runner, "sharded_img")[0]["layers"]]
    assert default == whole, "below the default [oci].shard_size (64MiB) a layer is built whole"
    rule_runner.set_options(["--oci-shard-size=64KiB"], env_inherit={"PATH", "HOME"})
    assert len(image(rule_runner, "sharded_img")[0]["layers"]) > 3
    assert [layer["digest"] for layer in image(rule_runner, "whole_img")[0]["layers"]] == whole


def test_too_many_files_of_the_shard_size_get_coarser_shards(rule_runner: RuleRunner) -> None:
    rng = random.Random(3)
    many = {f"sh/data/f{i:03d}.bin": rng.randbytes(9 * 1024) for i in range(66)}  # each ends a 64KiB shard
    write(
        rule_runner,
        many,
        'files(name="data", sources=["data/**/*"])\n'
        'oci_layer(name="l", dependencies=[":data"], shard_size="64KiB")\n'
        'oci_image(name="img", layers=[":l"])\n',
    )
    manifest, config, _ = image(rule_runner, "img")
    assert 1 < len(manifest["layers"]) <= 64
    assert config["history"][0]["created_by"].startswith("pants: oci_layer sh:l (shard 1 of ")


@pytest.mark.parametrize("value", ["12MB", "1KiB", "off "])
def test_a_bad_shard_size_names_the_target_field_value_and_what_is_accepted(
    rule_runner: RuleRunner, value: str
) -> None:
    write(
        rule_runner,
        tree(files=2),
        f'files(name="data", sources=["data/**/*"])\n'
        f'oci_layer(name="l", dependencies=[":data"], shard_size="{value}")\n'
        'oci_image(name="img", layers=[":l"])\n',
    )
    with pytest.raises(ExecutionError) as raised:
        image(rule_runner, "img")
    assert (
        f"The `shard_size` field in target sh:l has an invalid value {value!r}: expected 'off' (never "
        "split) or a size of at least 64KiB" in str(raised.value)
    )


def test_a_bad_shard_size_option_names_the_option(rule_runner: RuleRunner) -> None:
    write(rule_runner, tree(files=2))
    rule_runner.set_options(["--oci-shard-size=big"], env_inherit={"PATH", "HOME"})
    with pytest.raises(ExecutionError) as raised:
        image(rule_runner, "whole_img")
    assert "[oci].shard_size = 'big' is invalid: expected 'off' (never split) or a size" in str(raised.value)


def layer_with_links(links: dict[str, str]) -> OciLayerRequest:
    address = Address("sh", target_name="l")
    return OciLayerRequest(
        address,
        OciLayerDependenciesField([], address),
        "/",
        0,
        0,
        "oci_layer sh:l",
        LayerCompression(Compression.gzip, 1),
        symlinks=FrozenDict(links),
    )


@pytest.mark.parametrize(
    "entry, links, message",
    [
        (Directory("a"), {"a": "x"}, "symlink /a -> 'x' is on a path the layer's files already have: the directory /a"),
        (Directory("a/b"), {"a": "x"}, "symlink /a -> 'x' would be the parent of the directory /a/b"),
        (
            SymlinkEntry("a", "elsewhere"),
            {"a/b": "x"},
            "symlink /a/b -> 'x' would be below the symlink /a -> 'elsewhere'",
        ),
    ],
)
def test_a_split_layer_checks_its_links_against_entries_files_targets_never_have(entry, links, message) -> None:
    """Empty directories and symlinks come from packaged outputs; a whole layer's process would
    refuse a link on or above them, a split layer refuses it before building its shards."""
    with pytest.raises(LayerInputError) as raised:
        check_declared_symlinks(layer_with_links(links), {entry.path: (entry,)})
    assert str(raised.value) == f"oci_layer sh:l: the `symlinks` field: {message}"
    check_declared_symlinks(layer_with_links({"c": "x"}), {entry.path: (entry,)})
