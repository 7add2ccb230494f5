"""build_layer on random trees (hypothesis): read back by tarfile and by umoci."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_build_support import members, oci_layout
from real_parts import needs

from ocikit.layer import build_layer, plan_layer


def _make_tree(root_b, spec):
    """spec: {tuple_of_name_bytes: (kind, content, mode)}. Prefixes of other paths become dirs."""
    paths = sorted(spec)
    prefixes = {p[:i] for p in paths for i in range(1, len(p))}
    for p in paths:
        full = os.path.join(root_b, *p)
        for i in range(1, len(p)):
            d = os.path.join(root_b, *p[:i])
            if not os.path.isdir(d):
                os.mkdir(d)
        kind, content, mode = spec[p]
        if kind == "dir" or p in prefixes:
            if not os.path.isdir(full):
                os.mkdir(full)
        else:
            with open(full, "wb") as f:
                f.write(content)
        os.chmod(full, mode | (0o700 if os.path.isdir(full) else 0))


_names = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.text(min_size=1, max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(min_size=100, max_size=140),
).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
_trees = st.dictionaries(
    st.lists(_names, min_size=1, max_size=3).map(tuple),
    st.tuples(st.sampled_from(["file", "dir"]), st.binary(max_size=2000), st.integers(0, 0o7777)),
    max_size=12,
)


def _build_random_tree(d, tree, uid, gid, policy):
    """Write `tree` under `d`/root and build it as a gzip layer at /dest:
    (root_b, entries, blob, result), or None for a name the filesystem refuses (e.g. over 255
    bytes, or a path over 4000)."""
    tree = {k: v for k, v in tree.items() if len(b"/".join(k)) < 4000}
    root_b = os.path.join(os.fsencode(d), b"root")
    os.mkdir(root_b)
    try:
        _make_tree(root_b, tree)
    except OSError:
        return None
    entries = plan_layer(os.fsdecode(root_b), "/dest", uid, gid, policy)
    out = io.BytesIO()
    result = build_layer(entries, out, "gzip", None, 0, 2)
    return root_b, entries, out.getvalue(), result


@pytest.mark.slow  # hypothesis: 60 random trees written to disk
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=_trees,
    uid=st.integers(0, 2**32 - 1),
    gid=st.integers(0, 70000),
    policy=st.sampled_from(["normalize", "preserve"]),
)
def test_random_trees_read_back_through_tarfile(tree, uid, gid, policy):
    with tempfile.TemporaryDirectory() as d:
        built = _build_random_tree(d, tree, uid, gid, policy)
        if built is None:
            return
        root_b, entries, blob, _ = built
        got = members(gzip.decompress(blob))
        assert list(got) == [e.path for e in entries]
        for e in entries:
            ttype, mode, m_uid, m_gid, uname, gname, mtime, _, content = got[e.path]
            assert (mode, uname, gname, mtime) == (e.mode, "", "", 0)
            assert (m_uid, m_gid) == (uid, gid)  # "/dest" has no ancestors: all is theirs
            if e.kind == "file":
                on_disk = os.path.join(root_b, e.path.encode("utf-8", "surrogateescape")[len(b"dest/") :])
                with open(on_disk, "rb") as f:
                    assert content == f.read()
                st_mode = os.stat(on_disk).st_mode & 0o7777
                want = st_mode if policy == "preserve" else (0o755 if st_mode & 0o111 else 0o644)
                assert mode == want
            else:
                assert ttype == tarfile.DIRTYPE


@pytest.mark.slow  # hypothesis: 40 random trees, each unpacked by umoci
@needs("umoci", root=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=_trees,
    uid=st.integers(0, 2**31 - 1),  # chown treats 2**32 - 1 as "unchanged"
    gid=st.integers(0, 70000),
    policy=st.sampled_from(["normalize", "preserve"]),
)
def test_random_trees_read_back_through_umoci(tree, uid, gid, policy):
    """What umoci (Go's archive/tar, a reader we did not write) unpacks is exactly the tree:
    the same names (any bytes), contents, modes and owners, and nothing else."""
    with tempfile.TemporaryDirectory() as d:
        built = _build_random_tree(d, tree, uid, gid, policy)
        if built is None:
            return
        root_b, entries, blob, result = built
        layout = Path(d) / "layout"
        oci_layout(layout, [(blob, result)])
        subprocess.run(
            ["umoci", "unpack", "--image", f"{layout}:tag", os.path.join(d, "bundle")],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        rootfs_b = os.path.join(os.fsencode(d), b"bundle", b"rootfs")
        unpacked = set()
        for dirpath, dirnames, filenames in os.walk(os.path.join(rootfs_b, b"dest")):
            for name in dirnames + filenames:
                unpacked.add(os.path.relpath(os.path.join(dirpath, name), rootfs_b))
        planned = {e.path.encode("utf-8", "surrogateescape") for e in entries}
        assert unpacked | {b"dest"} == planned | {b"dest"}
        for e in entries:
            path_b = e.path.encode("utf-8", "surrogateescape")
            st_ = os.lstat(os.path.join(rootfs_b, path_b))
            assert (st_.st_uid, st_.st_gid) == (uid, gid), e.path
            assert stat.S_IMODE(st_.st_mode) == e.mode, e.path
            if e.kind == "file":
                assert stat.S_ISREG(st_.st_mode)
                with (
                    open(os.path.join(rootfs_b, path_b), "rb") as f,
                    open(os.path.join(root_b, path_b[len(b"dest/") :]), "rb") as g,
                ):
                    assert f.read() == g.read(), e.path
            else:
                assert stat.S_ISDIR(st_.st_mode), e.path
