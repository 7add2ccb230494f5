"""The comparison behind `pants oci-verify` (ocikit.tar_listing, ocikit.verify): layers listed
as streams whatever their compression, tar listings compared path by path, and two images
(layouts written here) compared platform by platform and layer by layer."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
import zstandard

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.contracts.verify import ADDED, CHANGED, REMOVED, PathDifference
from ocikit.layer import add_symlinks, build_layer, plan_layer
from ocikit.tar_listing import LayerReadError, TarEntry, list_layer
from ocikit.verify import (
    LayerRef,
    LayoutSource,
    ListingCache,
    PlatformManifest,
    compare_images,
    config_changes,
    describe_entry,
    diff_listings,
    entry_changes,
    match_platforms,
    pair_layers,
)

# -- helpers: tars, layers and layouts written here -----------------------------------------

File = Tuple[str, bytes, int, int]  # name as written in the tar, content, mode, uid


def tar_of(files: Sequence[File], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode, uid in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(content), mode, uid, uid
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info)
    return out.getvalue()


def compressed(tar: bytes, how: str) -> Tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(tar, mtime=0), media_types.OCI_LAYER_GZIP
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(tar), media_types.OCI_LAYER_ZSTD
    return tar, media_types.OCI_LAYER_TAR


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout written by hand: one manifest per platform, an index when several."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True)

    def put(self, data: bytes) -> str:
        (self.path / "blobs" / "sha256" / digest(data)[7:]).write_bytes(data)
        return digest(data)

    def manifest(
        self,
        layers: Sequence[Tuple[bytes, str]],
        *,
        platform: str = "linux/amd64",
        env: Sequence[str] = (),
        annotations: Optional[dict] = None,
    ) -> Tuple[str, int]:
        os_, arch = platform.split("/")[:2]
        diff_ids = [digest(_plain(blob)) for blob, _ in layers]
        config = canonical_json(
            {
                "os": os_,
                "architecture": arch,
                "config": {"Env": list(env)},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_types.OCI_MANIFEST,
            "config": {"mediaType": media_types.OCI_CONFIG, "digest": self.put(config), "size": len(config)},
            "layers": [{"mediaType": t, "digest": self.put(b), "size": len(b)} for b, t in layers],
        }
        if annotations:
            manifest["annotations"] = annotations
        data = canonical_json(manifest)
        return self.put(data), len(data)

    def index(self, manifests: Dict[str, Tuple[str, int]]) -> str:
        entries = [
            {
                "mediaType": media_types.OCI_MANIFEST,
                "digest": d,
                "size": size,
                "platform": {"os": p.split("/")[0], "architecture": p.split("/")[1]},
            }
            for p, (d, size) in manifests.items()
        ]
        return self.put(canonical_json({"schemaVersion": 2, "mediaType": media_types.OCI_INDEX, "manifests": entries}))


def _plain(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 24)
    return blob


def listing(*entries: TarEntry) -> Dict[str, TarEntry]:
    return {e.path: e for e in entries}


def file(path: str, content: bytes = b"x", mode: int = 0o644, uid: int = 0) -> TarEntry:
    return TarEntry(path, "file", mode, uid, uid, len(content), digest(content))


def compare(tmp_path: Path, here: Layout, here_digest: str, there: Layout, there_digest: str, max_paths: int = 20):
    return compare_images(
        LayoutSource(str(here.path)),
        here_digest,
        LayoutSource(str(there.path)),
        there_digest,
        listings=ListingCache(),
        max_paths=max_paths,
    )


# -- listing layers ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layers_we_build_list_the_same_in_every_compression(tmp_path: Path, compression: str):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (tree / "bin" / "run.sh").chmod(0o755)
    (tree / "data.txt").write_bytes(b"data" * 100_000)
    entries = add_symlinks(
        plan_layer(str(tree), "/app", uid=1000, gid=1000), "/app", {"bin/sh": "/bin/busybox"}, uid=1000, gid=1000
    )
    blob = tmp_path / f"layer.{compression}"
    with open(blob, "wb") as out:
        build_layer(entries, out, compression=compression, threads=2)
    listed = list_layer(str(blob))
    assert listed["/app/bin/run.sh"] == TarEntry(
        "/app/bin/run.sh", "file", 0o755, 1000, 1000, 18, digest(b"#!/bin/sh\necho hi\n")
    )
    assert listed["/app/data.txt"].sha256 == digest(b"data" * 100_000)
    assert listed["/app/bin/sh"] == TarEntry("/app/bin/sh", "symlink", 0o777, 1000, 1000, linkname="/bin/busybox")
    assert listed["/app"].kind == "dir"
    if compression != "none":
        with open(tmp_path / "layer.tar", "wb") as out:
            build_layer(entries, out, compression="none")
        assert list_layer(str(tmp_path / "layer.tar")) == listed


def test_paths_from_other_tools_are_normalised_and_the_last_entry_of_a_path_wins(tmp_path: Path):
    link = tarfile.TarInfo("./etc/passwd-link")
    link.type, link.linkname = tarfile.LNKTYPE, "./etc/passwd"
    root = tarfile.TarInfo("./")
    root.type, root.mode = tarfile.DIRTYPE, 0o755
    data = tar_of([("./etc/passwd", b"root\n", 0o644, 0), ("/etc/passwd", b"root:x:0\n", 0o600, 0)], [link, root])
    blob, _ = compressed(data, "gzip")
    (tmp_path / "layer").write_bytes(blob + gzip.compress(b"", mtime=0))  # a second gzip member, as pigz may write
    listed = list_layer(str(tmp_path / "layer"))
    assert set(listed) == {"/", "/etc/passwd", "/etc/passwd-link"}
    assert listed["/etc/passwd"] == TarEntry("/etc/passwd", "file", 0o600, 0, 0, 9, digest(b"root:x:0\n"))
    assert listed["/etc/passwd-link"].kind == "hardlink"
    assert listed["/etc/passwd-link"].linkname == "/etc/passwd"


@pytest.mark.parametrize(
    "content", [b"not a layer at all, just text " * 40, b"\x1f\x8bbroken gzip", b"\x28\xb5\x2f\xfdnope"]
)
def test_a_blob_that_is_not_a_tar_layer_is_a_layer_read_error(tmp_path: Path, content: bytes):
    (tmp_path / "blob").write_bytes(content)
    with pytest.raises(LayerReadError, match="not a readable tar layer"):
        list_layer(str(tmp_path / "blob"))


# -- comparing listings -----------------------------------------------------------------------


def test_diff_listings_names_each_added_removed_and_changed_path_in_order():
    registry = listing(
        file("/a", b"old"),
        file("/gone"),
        file("/same"),
        file("/mode"),
        TarEntry("/link", "symlink", 0o777, 0, 0, linkname="/a"),
    )
    here = listing(
        file("/a", b"newer"),
        file("/new", b"12"),
        file("/same"),
        file("/mode", mode=0o755),
        TarEntry("/link", "symlink", 0o777, 0, 0, linkname="/b"),
    )
    assert diff_listings(registry, here) == [
        PathDifference("/a", CHANGED, "content (3 -> 5 bytes)"),
        PathDifference("/gone", REMOVED, "file, 1 bytes, mode 0644, owner 0:0"),
        PathDifference("/link", CHANGED, "link /a -> /b"),
        PathDifference("/mode", CHANGED, "mode 0644 -> 0755"),
        PathDifference("/new", ADDED, "file, 2 bytes, mode 0644, owner 0:0"),
    ]
    assert diff_listings(here, here) == []


def test_entry_changes_lists_every_change_and_a_type_change_alone():
    old = file("/f", b"abc", mode=0o644, uid=0)
    assert entry_changes(old, file("/f", b"abd", mode=0o600, uid=1000)) == [
        "content (same size, 3 bytes)",
        "mode 0644 -> 0600",
        "owner 0:0 -> 1000:1000",
    ]
    assert entry_changes(old, TarEntry("/f", "dir", 0o755, 0, 0)) == ["type file -> dir"]


def test_describe_entry_says_what_a_whiteout_deletes():
    assert describe_entry(file("/etc/.wh.motd", b"")) == "file, 0 bytes, mode 0644, owner 0:0, whiteout of motd"
    assert (
        describe_entry(TarEntry("/bin/sh", "symlink", 0o777, 0, 0, linkname="busybox"))
        == "symlink -> busybox, mode 0777, owner 0:0"
    )


# -- comparing manifests ----------------------------------------------------------------------


def _manifest(platform: str, *layers: str) -> PlatformManifest:
    return PlatformManifest(
        platform,
        digest(platform.encode() + "".join(layers).encode()),
        tuple(LayerRef(d, media_types.OCI_LAYER_GZIP, 1, "sha256:" + d[-1] * 64) for d in layers),
        {"os": platform.split("/")[0], "architecture": platform.split("/")[1]},
    )


def test_layers_pair_by_position_and_equal_digests_are_left_out():
    here, there = _manifest("linux/amd64", "a", "b", "c"), _manifest("linux/amd64", "a", "x")
    assert [(i, h and h.digest, t and t.digest) for i, h, t in pair_layers(here, there)] == [
        (1, "b", "x"),
        (2, "c", None),
    ]
    assert [(i, h, t and t.digest) for i, h, t in pair_layers(_manifest("linux/amd64"), there)] == [
        (0, None, "a"),
        (1, None, "x"),
    ]


def test_platforms_pair_by_name_and_two_single_images_always_pair():
    amd, arm, ppc = _manifest("linux/amd64", "a"), _manifest("linux/arm64", "b"), _manifest("linux/ppc64le", "c")
    pairs, notes = match_platforms([amd, arm], [arm, ppc])
    assert [(h.platform, t.platform) for h, t in pairs] == [("linux/arm64", "linux/arm64")]
    assert notes == ["platform linux/amd64 only here", "platform linux/ppc64le only in the registry"]
    pairs, notes = match_platforms([amd], [arm])
    assert [(h.platform, t.platform) for h, t in pairs] == [("linux/amd64", "linux/arm64")]
    assert notes == ["platform linux/amd64 here, linux/arm64 in the registry"]


def test_config_changes_name_the_keys_that_differ_but_not_the_layers_record():
    ours = {"os": "linux", "created": "1970", "rootfs": {"diff_ids": ["a"]}, "config": {"Env": ["A=1"], "User": "1"}}
    theirs = {
        "os": "linux",
        "created": "2024",
        "rootfs": {"diff_ids": ["b"]},
        "config": {"Env": ["A=2"], "User": "1", "Cmd": ["sh"]},
    }
    assert config_changes(ours, theirs) == ["created", "config.Cmd", "config.Env"]
    assert config_changes(ours, ours) == []


# -- comparing two images ---------------------------------------------------------------------


def test_two_images_compare_layer_by_layer_with_paths_capped(tmp_path: Path):
    base = compressed(tar_of([("bin/tool", b"tool", 0o755, 0)]), "gzip")
    old_app = compressed(
        tar_of([("app/a", b"1", 0o644, 0), ("app/b", b"2", 0o644, 0), ("app/c", b"3", 0o644, 0)]), "gzip"
    )
    new_app = compressed(
        tar_of([("app/a", b"1!", 0o644, 0), ("app/b", b"2", 0o600, 0), ("app/d", b"4", 0o644, 0)]), "gzip"
    )
    extra = compressed(tar_of([("etc/extra", b"e", 0o644, 0)]), "none")
    there, here = Layout(tmp_path / "there"), Layout(tmp_path / "here")
    there_digest, _ = there.manifest([base, old_app], env=["MODE=old"])
    here_digest, _ = here.manifest([base, new_app, extra], env=["MODE=new"])
    result = compare(tmp_path, here, here_digest, there, there_digest, max_paths=3)
    assert result.notes == ("linux/amd64: config differs: config.Env",)
    app, added = result.layers
    assert (app.index, app.platform, app.summary, app.more_paths) == (1, "linux/amd64", "4 paths differ", 1)
    assert (app.registry_digest, app.here_digest) == (digest(old_app[0]), digest(new_app[0]))
    assert app.here_diff_id == digest(_plain(new_app[0]))
    assert [(p.path, p.change, p.detail) for p in app.paths] == [
        ("/app/a", CHANGED, "content (1 -> 2 bytes)"),
        ("/app/b", CHANGED, "mode 0644 -> 0600"),
        ("/app/c", REMOVED, "file, 1 bytes, mode 0644, owner 0:0"),
    ]
    assert (added.index, added.summary, added.registry_digest) == (2, "only here", None)
    assert [(p.path, p.change) for p in added.paths] == [("/etc/extra", ADDED)]


def test_the_same_tar_compressed_another_way_is_not_listed(tmp_path: Path):
    tar = tar_of([("app/a", b"1", 0o644, 0)])
    there, here = Layout(tmp_path / "there"), Layout(tmp_path / "here")
    there_digest, _ = there.manifest([compressed(tar, "gzip")])
    here_digest, _ = here.manifest([compressed(tar, "zstd")])
    (layer,) = compare(tmp_path, here, here_digest, there, there_digest).layers
    assert layer.summary == "same diff_id, compressed differently (gzip in the registry, zstd here)"
    assert layer.paths == ()


def test_an_index_compares_platform_by_platform(tmp_path: Path):
    shared = compressed(tar_of([("app/same", b"s", 0o644, 0)]), "gzip")
    there, here = Layout(tmp_path / "there"), Layout(tmp_path / "here")
    there_digest = there.index(
        {
            "linux/amd64": there.manifest([shared], platform="linux/amd64"),
            "linux/arm64": there.manifest(
                [compressed(tar_of([("app/arm", b"1", 0o644, 0)]), "gzip")], platform="linux/arm64"
            ),
        }
    )
    here_digest = here.index(
        {
            "linux/amd64": here.manifest([shared], platform="linux/amd64"),
            "linux/arm64": here.manifest(
                [compressed(tar_of([("app/arm", b"2", 0o644, 0)]), "gzip")], platform="linux/arm64"
            ),
            "linux/s390x": here.manifest([shared], platform="linux/s390x"),
        }
    )
    result = compare(tmp_path, here, here_digest, there, there_digest)
    assert result.notes == ("platform linux/s390x only here",)
    (arm,) = result.layers
    assert (arm.platform, arm.index, [p.path for p in arm.paths]) == ("linux/arm64", 0, ["/app/arm"])


def test_an_unreadable_layer_is_reported_and_the_others_still_compared(tmp_path: Path):
    there, here = Layout(tmp_path / "there"), Layout(tmp_path / "here")
    junk = (b'{"not": "a tar"}' * 64, "application/vnd.example.artifact")
    there_digest, _ = there.manifest([compressed(tar_of([("a", b"1", 0o644, 0)]), "gzip"), junk])
    here_digest, _ = here.manifest([compressed(tar_of([("a", b"2", 0o644, 0)]), "gzip"), (junk[0] + b" ", junk[1])])
    first, second = compare(tmp_path, here, here_digest, there, there_digest).layers
    assert [p.path for p in first.paths] == ["/a"]
    assert second.summary.startswith("paths not compared: not a readable tar layer")


def test_images_with_the_same_layers_and_config_say_the_manifests_differ(tmp_path: Path):
    layer = compressed(tar_of([("a", b"1", 0o644, 0)]), "gzip")
    there, here = Layout(tmp_path / "there"), Layout(tmp_path / "here")
    there_digest, _ = there.manifest([layer])
    here_digest, _ = here.manifest([layer], annotations={"org.opencontainers.image.revision": "abc"})
    result = compare(tmp_path, here, here_digest, there, there_digest)
    assert result.layers == ()
    assert result.notes == (
        "layers and config are the same: the manifests differ (annotations, media types or encoding)",
    )


def test_each_layer_is_listed_once_per_run(tmp_path: Path, monkeypatch):
    import ocikit.verify

    calls: List[str] = []
    real = ocikit.verify.list_layer
    monkeypatch.setattr(ocikit.verify, "list_layer", lambda path: calls.append(path) or real(path))
    layout = Layout(tmp_path / "l")
    blob, media_type = compressed(tar_of([("a", b"1", 0o644, 0)]), "gzip")
    layout.put(blob)
    cache, source = ListingCache(), LayoutSource(str(layout.path))
    ref = LayerRef(digest(blob), media_type, len(blob), None)
    assert cache.listing(source, ref) is cache.listing(source, ref)
    assert len(calls) == 1
    assert json.dumps(sorted(cache.listing(source, ref))) == '["/a"]'
