"""ocikit.layout: the pure index.json builders, LayoutWriter's all-or-nothing replacement, and
the reader reading back what the writer wrote."""

from __future__ import annotations

import json
import os

import pytest

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.digest import sha256_digest
from ocikit.image import Descriptor
from ocikit.layout import (
    OCI_LAYOUT_BYTES,
    LayoutError,
    LayoutWriter,
    blob_path,
    index_json,
    layout_index,
    read_layout_image,
)

CONFIG = canonical_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
LAYER = b"not really a tar, but a blob all the same"


def manifest_bytes() -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": media_types.OCI_MANIFEST,
            "config": {"mediaType": media_types.OCI_CONFIG, "digest": sha256_digest(CONFIG), "size": len(CONFIG)},
            "layers": [{"mediaType": media_types.OCI_LAYER_GZIP, "digest": sha256_digest(LAYER), "size": len(LAYER)}],
        }
    )


def write_image(layout: LayoutWriter) -> dict:
    """Blobs through both ways a writer takes them; returns the index entry."""
    manifest = manifest_bytes()
    layout.write_blob(sha256_digest(manifest), manifest)
    layout.write_blob(sha256_digest(CONFIG), CONFIG)
    with open(layout.blob_file(sha256_digest(LAYER)), "wb") as f:
        f.write(LAYER)
    return {
        "mediaType": media_types.OCI_MANIFEST,
        "digest": sha256_digest(manifest),
        "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }


def test_blob_path_and_oci_layout_bytes():
    digest = sha256_digest(b"x")
    assert blob_path(digest) == "blobs/sha256/" + digest[7:]
    assert OCI_LAYOUT_BYTES == b'{"imageLayoutVersion":"1.0.0"}'


def test_layout_index_bytes_are_pinned():
    # These bytes decide the example images' digests: they must not change.
    top = Descriptor(media_types.OCI_MANIFEST, sha256_digest(b"m"), 1)
    assert layout_index(top, ["1.0"], "team/app") == (
        b'{"manifests":[{"annotations":{"io.containerd.image.name":"team/app:1.0",'
        b'"org.opencontainers.image.ref.name":"1.0"},"digest":"'
        + top.digest.encode()
        + b'","mediaType":"application/vnd.oci.image.manifest.v1+json","size":1}],'
        b'"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}'
    )
    assert layout_index(top, [], None) == index_json([top.to_json()])


def test_the_writer_makes_a_layout_the_reader_reads_back(tmp_path):
    target = tmp_path / "out.oci"
    with LayoutWriter(str(target)) as layout:
        entry = write_image(layout)
        assert not target.exists()  # nothing in place before the commit
        layout.commit([entry])
    assert sorted(os.listdir(tmp_path)) == ["out.oci"]
    assert (target / "oci-layout").read_bytes() == OCI_LAYOUT_BYTES
    assert (target / "index.json").read_bytes() == index_json([entry])
    image = read_layout_image(str(target))
    assert image.digest == entry["digest"] and image.top.data == manifest_bytes()
    assert [b.digest for b in image.configs] == [sha256_digest(CONFIG)]
    assert [(b.digest, b.size) for b in image.layers] == [(sha256_digest(LAYER), len(LAYER))]


def test_a_failure_before_the_commit_leaves_nothing_and_the_old_layout_intact(tmp_path):
    target = tmp_path / "out.oci"
    with LayoutWriter(str(target)) as layout:
        layout.commit([write_image(layout)])
    before = {p: (target / p).read_bytes() for p in ("index.json", "oci-layout")}
    with pytest.raises(RuntimeError, match="network gone"):
        with LayoutWriter(str(target)) as layout:
            write_image(layout)
            raise RuntimeError("network gone")
    assert sorted(os.listdir(tmp_path)) == ["out.oci"]
    assert {p: (target / p).read_bytes() for p in before} == before


def test_a_layout_or_an_empty_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "out.oci"
    target.mkdir()
    with LayoutWriter(str(target)) as layout:
        layout.commit([write_image(layout)])
    (target / "stale").write_text("from an earlier pull")
    with LayoutWriter(str(target)) as layout:
        entry = write_image(layout)
        layout.commit([entry, entry])
    assert not (target / "stale").exists()
    assert len(json.loads((target / "index.json").read_bytes())["manifests"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["out.oci"]


def test_anything_else_is_refused_before_any_work(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep too")
    for target in (precious, a_file):
        with pytest.raises(FileExistsError, match="is not an OCI image layout; refusing to replace it"):
            with LayoutWriter(str(target)):
                pytest.fail("the writer must refuse on entry")
    assert (precious / "file").read_text() == "keep" and a_file.read_text() == "keep too"
    assert sorted(os.listdir(tmp_path)) == ["a_file", "precious"]


def test_a_directory_appearing_during_the_write_is_not_replaced(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(FileExistsError):
        with LayoutWriter(str(target)) as layout:
            entry = write_image(layout)
            target.mkdir()
            (target / "file").write_text("someone else's")
            layout.commit([entry])
    assert sorted(os.listdir(tmp_path)) == ["out"] and (target / "file").read_text() == "someone else's"


def test_blob_bytes_must_match_their_digest(tmp_path):
    with LayoutWriter(str(tmp_path / "out")) as layout:
        with pytest.raises(LayoutError, match="its bytes hash to"):
            layout.write_blob(sha256_digest(b"a"), b"b")
    assert os.listdir(tmp_path) == []


def test_the_writer_is_unusable_outside_its_block(tmp_path):
    layout = LayoutWriter(str(tmp_path / "out"))
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        layout.blob_file(sha256_digest(b"a"))
