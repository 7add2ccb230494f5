"""build_layer: the blob read back by tarfile, gzip, zstd and umoci, and its determinism."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import tracemalloc

import pytest
import zstandard
from layer_build_support import members, oci_layout, write
from real_parts import needs

from ocikit.layer import LayerError, build_layer, plan_layer
from ocikit.media_types import LAYER_MEDIA_TYPE_BY_COMPRESSION

MIB = 1 << 20


def build(root, destination="/", compression="gzip", threads=2, uid=0, gid=0, mtime=0, **kw):
    entries = plan_layer(str(root), destination, uid, gid, kw.pop("mode_policy", "normalize"))
    out = io.BytesIO()
    result = build_layer(entries, out, compression, kw.pop("level", None), mtime, threads)
    return out.getvalue(), result, entries


def uncompress(blob, compression):
    if compression == "gzip":
        return gzip.decompress(blob)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def sample_tree(root):
    write(os.path.join(root, "bin", "tool"), b"#!/bin/sh\necho hi\n", 0o750)
    write(os.path.join(root, "etc", "app.conf"), b"key = value\n" * 1000, 0o600)
    write(os.path.join(root, "etc", "empty"), b"")
    os.makedirs(os.path.join(root, "var", "empty-dir"))
    write(os.path.join(root, "data", "random.bin"), os.urandom(3 * MIB + 17))
    os.symlink("../bin/tool", os.path.join(root, "etc", "tool-link"))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_blob_reads_back_with_tarfile(tmp_path, compression):
    sample_tree(str(tmp_path))
    blob, result, entries = build(tmp_path, "/srv/app", compression, uid=1000, gid=1001, mtime=1700000000)
    got = members(uncompress(blob, compression))
    assert list(got) == [e.path for e in entries]
    reg, dirt, sym = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE
    t = 1700000000
    assert "srv" not in got, "directories above the destination are not re-emitted"
    assert got["srv/app"] == (dirt, 0o755, 1000, 1001, "", "", t, "", None)
    assert got["srv/app/bin/tool"] == (
        reg,
        0o755,
        1000,
        1001,
        "",
        "",
        t,
        "",
        b"#!/bin/sh\necho hi\n",
    )
    assert got["srv/app/etc/app.conf"] == (
        reg,
        0o644,
        1000,
        1001,
        "",
        "",
        t,
        "",
        b"key = value\n" * 1000,
    )
    assert got["srv/app/etc/empty"] == (reg, 0o644, 1000, 1001, "", "", t, "", b"")
    assert got["srv/app/etc/tool-link"] == (sym, 0o777, 1000, 1001, "", "", t, "../bin/tool", None)
    assert got["srv/app/var/empty-dir"] == (dirt, 0o755, 1000, 1001, "", "", t, "", None)
    with open(os.path.join(str(tmp_path), "data", "random.bin"), "rb") as f:
        assert got["srv/app/data/random.bin"][-1] == f.read()
    assert result.media_type == LAYER_MEDIA_TYPE_BY_COMPRESSION[compression]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_digest_size_and_diff_id_describe_the_real_bytes(tmp_path, compression):
    sample_tree(str(tmp_path))
    blob, r, _ = build(tmp_path, "/", compression)
    assert r.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert r.size == len(blob)
    tar_bytes = uncompress(blob, compression)
    assert r.diff_id == "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    assert r.uncompressed_size == len(tar_bytes)
    if compression == "none":
        assert r.digest == r.diff_id


@pytest.mark.parametrize("compression, tool", [("gzip", "gzip"), pytest.param("zstd", "zstd", marks=needs("zstd"))])
def test_command_line_tools_decompress_to_the_diff_id(tmp_path, compression, tool):
    sample_tree(str(tmp_path / "t"))
    blob, r, _ = build(tmp_path / "t", "/", compression)
    (tmp_path / "blob").write_bytes(blob)
    tar_bytes = subprocess.run([tool, "-dc", str(tmp_path / "blob")], check=True, stdout=subprocess.PIPE).stdout
    assert "sha256:" + hashlib.sha256(tar_bytes).hexdigest() == r.diff_id
    # GNU tar agrees on the listing too.
    listing = subprocess.run(["tar", "-tf", "-"], input=tar_bytes, check=True, stdout=subprocess.PIPE).stdout.decode()
    assert "etc/tool-link\n" in listing and "var/empty-dir/\n" in listing


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_two_builds_are_identical(tmp_path, compression):
    sample_tree(str(tmp_path))
    first = build(tmp_path, "/app", compression)
    second = build(tmp_path, "/app", compression)
    assert first[0] == second[0] and first[1] == second[1]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_thread_count_never_changes_the_bytes(tmp_path, compression):
    sample_tree(str(tmp_path))
    write(str(tmp_path / "more.bin"), os.urandom(5 * MIB))
    write(str(tmp_path / "more.txt"), b"compressible line of text\n" * 400000)
    blobs = {t: build(tmp_path, "/", compression, threads=t)[0] for t in (1, 2, 4)}
    assert blobs[1] == blobs[2] == blobs[4]


def test_creation_order_times_and_owners_on_disk_do_not_matter(tmp_path):
    content = {"b/2": b"two", "a/1": b"one", "c": b"three" * 1000, "a/z/deep": b"x"}
    for tree, order, stamp in (
        ("one", sorted(content), 1000),
        ("two", sorted(content, reverse=True), 9999),
    ):
        for name in order:
            p = str(tmp_path / tree / name)
            write(p, content[name], 0o644)
            os.utime(p, (stamp, stamp))
            if os.geteuid() == 0:
                os.chown(p, stamp, stamp)
            stamp += 7
    for compression in ("gzip", "zstd", "none"):
        assert build(tmp_path / "one", "/x", compression)[0] == build(tmp_path / "two", "/x", compression)[0]


def test_mtime_is_the_given_one(tmp_path):
    sample_tree(str(tmp_path))
    a = build(tmp_path, "/", "none", mtime=0)[0]
    b = build(tmp_path, "/", "none", mtime=1)[0]
    assert a != b
    assert {m[6] for m in members(b).values()} == {1}


def test_awkward_names_round_trip(tmp_path):
    root = os.fsencode(str(tmp_path))
    names = [
        b"d" * 100 + b"/" + b"f" * 100,  # > 100 bytes in all, each part fits
        b"l" * 150 + b"/" + b"m" * 200,  # > 255 bytes: needs a PAX path record
        "日本語/ファイル名".encode(),  # non-ASCII
        b"latin-\xe9\xff",  # not UTF-8
        b"with space/and\nnewline",
        b"tab\tand'quote\"",
    ]
    for name in names:
        write(os.path.join(root, name), b"content of " + name)
    os.makedirs(os.path.join(root, b"empty \xe9 dir"))
    os.symlink(names[1], os.path.join(root, b"long-link"))
    os.symlink(b"latin-\xe9\xff", os.path.join(root, b"link-to-\xe9"))
    blob, _, entries = build(tmp_path, "/", "gzip")
    got = members(gzip.decompress(blob))
    expect = {n.decode("utf-8", "surrogateescape"): b"content of " + n for n in names}
    for name, content in expect.items():
        assert got[name][-1] == content
    assert got["empty \udce9 dir"][0] == tarfile.DIRTYPE
    assert got["long-link"][7] == names[1].decode()
    assert got["link-to-\udce9"][7] == "latin-\udce9\udcff"
    assert [n.encode("utf-8", "surrogateescape") for n in got] == [
        e.path.encode("utf-8", "surrogateescape") for e in entries
    ]


def test_a_file_changing_after_planning_is_a_layer_error(tmp_path):
    write(str(tmp_path / "f"), b"0123456789")
    entries = plan_layer(str(tmp_path), "/")
    write(str(tmp_path / "f"), b"0123")
    with pytest.raises(LayerError, match="shrank"):
        build_layer(entries, io.BytesIO(), "gzip", None, 0, 2)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"compression": "bzip2"}, "compression"),
        ({"compression": "gzip", "level": 12}, "level"),
        ({"threads": 0}, "threads"),
        ({"mtime": -1}, "mtime"),
        ({"mtime": 1.5}, "mtime"),
    ],
)
def test_bad_build_parameters_are_layer_errors(kwargs, word):
    args = {"compression": "gzip", "level": None, "mtime": 0, "threads": 1}
    args.update(kwargs)
    with pytest.raises(LayerError, match=word):
        build_layer([], io.BytesIO(), **args)


class SparseHashingSink:
    """Hashes and counts what is written; stores it as a sparse file (zero runs are skipped)."""

    def __init__(self, f):
        self.f, self.sha256, self.size = f, hashlib.sha256(), 0

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        if data == bytes(len(data)):
            self.f.seek(len(data), os.SEEK_CUR)
        else:
            self.f.write(data)
        return len(data)

    def close(self):
        self.f.truncate(self.size)
        self.f.close()


@pytest.fixture
def sparse_dir(tmp_path):
    """Where to put a huge sparse file. On tmpfs reading a hole costs nothing, while on a disk
    file system the first read fills the page cache with 8 GiB of zeros (~18 s of kernel time)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        d = tempfile.mkdtemp(dir="/dev/shm", prefix="ocikit-test-")
        yield d
        shutil.rmtree(d)
    else:
        yield str(tmp_path / "sparse")


@pytest.mark.slow
def test_a_sparse_file_over_8_gib(tmp_path, sparse_dir):
    """Size does not fit the 11 octal digits of ustar: a PAX size record carries it. The file
    streams through in flat memory: build_layer's allocations peak at a few chunks, not GiBs."""
    size = 8 * 1024**3 + MIB + 3
    tree = os.path.join(sparse_dir, "tree")
    big = os.path.join(tree, "big.img")
    write(big, b"HEAD")
    with open(big, "r+b") as f:
        f.truncate(size)
        f.seek(size - 4)
        f.write(b"TAIL")
    write(os.path.join(tree, "z-after"), b"after the big one")
    entries = plan_layer(tree, "/")
    sink = SparseHashingSink(open(str(tmp_path / "layer.tar"), "wb"))
    tracemalloc.start()
    try:
        result = build_layer(entries, sink, "none", None, 0, 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sink.close()
    assert peak < 32 * MIB, f"building the 8 GiB layer allocated {peak / MIB:.0f} MiB at its peak"
    assert result.size == sink.size == result.uncompressed_size
    assert result.digest == result.diff_id == "sha256:" + sink.sha256.hexdigest()
    with tarfile.open(str(tmp_path / "layer.tar"), encoding="utf-8") as tf:
        big_member, after = tf.getmembers()
        assert (big_member.name, big_member.size) == ("big.img", size)
        assert big_member.pax_headers["size"] == str(size)
        data = tf.extractfile(big_member)
        assert data.read(4) == b"HEAD"
        data.seek(size - 4)
        assert data.read() == b"TAIL"
        assert tf.extractfile(after).read() == b"after the big one"
    assert os.stat(str(tmp_path / "layer.tar")).st_blocks * 512 < 64 * MIB  # really sparse


@needs("umoci", root=True)
@pytest.mark.parametrize("compression", ["gzip", "none"])  # umoci 0.4.7 predates zstd layers
def test_umoci_unpacks_the_layer(tmp_path, compression):
    tree = tmp_path / "tree"
    write(str(tree / "bin" / "tool"), b"#!/bin/sh\n", 0o4750)
    write(str(tree / "etc" / "conf"), b"a=b\n", 0o640)
    write(str(tree / "big"), os.urandom(2 * MIB + 5), 0o644)
    os.makedirs(str(tree / "var" / "empty"))
    os.symlink("../bin/tool", str(tree / "etc" / "tool"))
    blob, result, entries = build(tree, "/opt/app", compression, uid=1234, gid=5678, mode_policy="preserve")
    oci_layout(tmp_path / "layout", [(blob, result)])
    subprocess.run(
        ["umoci", "unpack", "--image", f"{tmp_path / 'layout'}:tag", str(tmp_path / "bundle")],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    rootfs = tmp_path / "bundle" / "rootfs"
    for e in entries:
        st_ = os.lstat(str(rootfs / e.path))
        assert (st_.st_uid, st_.st_gid) == (e.uid, e.gid), e.path
        assert st_.st_mode & 0o7777 == e.mode or e.kind == "symlink", e.path
        if e.kind == "file":
            assert (rootfs / e.path).read_bytes() == open(e.source, "rb").read()
        elif e.kind == "symlink":
            assert os.readlink(str(rootfs / e.path)) == e.linkname
    assert os.stat(str(rootfs / "opt")).st_uid == 0
    assert os.stat(str(rootfs / "opt/app/bin/tool")).st_mode & 0o7777 == 0o4750
    assert sorted(os.listdir(str(rootfs / "opt/app"))) == ["big", "bin", "etc", "var"]


@needs("umoci", root=True)
def test_a_later_layer_replaces_a_file_with_a_directory_and_back(tmp_path):
    """Layers are applied in order and the later one wins, as in `docker build` and the OCI
    image spec's changesets: a directory in layer 2 replaces layer 1's file on the same path,
    and a file in layer 3 replaces that directory (with what was under it). No error, no merge."""
    trees = [tmp_path / f"tree{i}" for i in (1, 2, 3)]
    write(str(trees[0] / "x"), b"a file in layer 1")
    write(str(trees[0] / "keep"), b"untouched")
    write(str(trees[1] / "x" / "inside"), b"a directory in layer 2")
    write(str(trees[2] / "x"), b"a file again in layer 3")
    layers = [build(tree, "/srv") for tree in trees]
    layout = tmp_path / "layout"

    def unpack(count):
        oci_layout(layout, [(blob, result) for blob, result, _ in layers[:count]], f"t{count}")
        bundle = tmp_path / f"bundle{count}"
        subprocess.run(
            ["umoci", "unpack", "--image", f"{layout}:t{count}", str(bundle)],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return bundle / "rootfs" / "srv"

    two = unpack(2)
    assert (two / "x").is_dir() and (two / "x" / "inside").read_bytes() == b"a directory in layer 2"
    assert (two / "keep").read_bytes() == b"untouched"
    three = unpack(3)
    assert (three / "x").is_file() and (three / "x").read_bytes() == b"a file again in layer 3"
    assert (three / "keep").read_bytes() == b"untouched"
