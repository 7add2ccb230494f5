"""add_symlinks: declared symlinks in a layer (Pants' sources cannot hold any), read back by
tarfile and by umoci."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest
from layer_build_support import members, oci_layout, write

from ocikit.layer import LayerEntry, LayerError, add_symlinks, build_layer, plan_layer


def planned(tmp_path, destination="/app", uid=0, gid=0):
    return plan_layer(str(tmp_path / "root"), destination, uid, gid)


def tree(tmp_path):
    root = tmp_path / "root"
    write(str(root / "bin" / "tool"), b"#!/bin/sh\n", 0o755)
    write(str(root / "README"), b"hi")
    os.symlink("tool", str(root / "bin" / "alias"))
    return root


def test_links_get_the_owner_mode_0777_and_their_missing_parents(tmp_path):
    tree(tmp_path)
    entries = add_symlinks(
        planned(tmp_path, uid=7, gid=8),
        "/app",
        {"bin/python": "/usr/bin/python3", "lib/py/site": "../../../venv/site-packages"},
        uid=1000,
        gid=2000,
    )
    assert [(e.path, e.kind, e.mode, e.uid, e.gid, e.linkname) for e in entries] == [
        ("app", "dir", 0o755, 7, 8, ""),
        ("app/README", "file", 0o644, 7, 8, ""),
        ("app/bin", "dir", 0o755, 7, 8, ""),  # the tree's own directory stays as planned
        ("app/bin/alias", "symlink", 0o777, 7, 8, "tool"),
        ("app/bin/python", "symlink", 0o777, 1000, 2000, "/usr/bin/python3"),
        ("app/bin/tool", "file", 0o755, 7, 8, ""),
        ("app/lib", "dir", 0o755, 1000, 2000, ""),
        ("app/lib/py", "dir", 0o755, 1000, 2000, ""),
        ("app/lib/py/site", "symlink", 0o777, 1000, 2000, "../../../venv/site-packages"),
    ]
    assert all(e.size == 0 and e.source is None for e in entries if e.kind != "file")


def test_a_layer_of_links_only_adds_nothing_above_the_destination(tmp_path):
    (tmp_path / "root").mkdir()
    links = {"current": "releases/v2", "bin/python": "python3.11"}
    assert add_symlinks(planned(tmp_path, "/opt/app"), "/opt/app", links, 5, 6) == [
        LayerEntry("opt/app", "dir", 0o755, 0, 0, 0, None),
        LayerEntry("opt/app/bin", "dir", 0o755, 5, 6, 0, None),
        LayerEntry("opt/app/bin/python", "symlink", 0o777, 5, 6, 0, None, "python3.11"),
        LayerEntry("opt/app/current", "symlink", 0o777, 5, 6, 0, None, "releases/v2"),
    ]
    assert [e.path for e in add_symlinks([], "/", {"usr/bin/python": "python3"})] == [
        "usr",
        "usr/bin",
        "usr/bin/python",
    ]
    # Without the planned entries, the destination itself is a missing parent too.
    assert [e.path for e in add_symlinks([], "/opt/app", {"x": "y"})] == ["opt/app", "opt/app/x"]


def test_no_links_change_nothing(tmp_path):
    tree(tmp_path)
    entries = planned(tmp_path)
    assert add_symlinks(entries, "/app", {}) == entries


def test_entries_stay_sorted_bytewise(tmp_path):
    (tmp_path / "root").mkdir()
    write(str(tmp_path / "root" / "a-b"), b"")
    entries = add_symlinks(planned(tmp_path, "/"), "/", {"a/z": "t", "a.b": "t", "\u00e9": "t", "Z": "t"})
    paths = [e.path for e in entries]
    assert paths == sorted(paths, key=lambda p: p.encode("utf-8")) == ["Z", "a", "a-b", "a.b", "a/z", "\u00e9"]


def test_targets_are_kept_verbatim_and_never_resolved(tmp_path):
    (tmp_path / "root").mkdir()
    links = {"long": "/" + "x" * 300, "up": "../../../../etc/passwd", "utf8": "caf\u00e9", "dangling": "nope"}
    entries = add_symlinks(planned(tmp_path), "/app", links)
    out = io.BytesIO()
    build_layer(entries, out, "none", None, 0, 1)
    read = members(out.getvalue())
    for link, target in links.items():
        assert read["app/" + link][0] == tarfile.SYMTYPE and read["app/" + link][7] == target


@pytest.mark.parametrize(
    "links, words",
    [
        ({"README": "x"}, ["/app/README -> 'x'", "the file /app/README"]),
        ({"bin": "x"}, ["/app/bin -> 'x'", "the directory /app/bin"]),
        ({"bin/alias": "x"}, ["/app/bin/alias -> 'x'", "the symlink /app/bin/alias -> 'tool'"]),
        ({"README/x": "y"}, ["/app/README/x -> 'y'", "below the file /app/README"]),
        ({"bin/alias/x": "y"}, ["/app/bin/alias/x -> 'y'", "below the symlink /app/bin/alias -> 'tool'"]),
        ({"lib": "x", "lib/y": "z"}, ["symlink /app/lib -> 'x' would be the parent of symlink /app/lib/y -> 'z'"]),
        ({"lib/y/z": "z", "lib": "x"}, ["symlink /app/lib -> 'x' would be the parent of symlink /app/lib/y/z"]),
    ],
)
def test_clashes_name_the_path_and_both_sides(tmp_path, links, words):
    tree(tmp_path)
    with pytest.raises(LayerError) as info:
        add_symlinks(planned(tmp_path), "/app", links)
    for word in words:
        assert word in str(info.value)


def test_a_link_above_an_entry_it_was_not_planned_with_is_refused():
    files = [LayerEntry("app/lib/x", "file", 0o644, 0, 0, 1, "/src/x")]
    with pytest.raises(LayerError, match="symlink /app/lib -> 'y' would be the parent of the file /app/lib/x"):
        add_symlinks(files, "/app", {"lib": "y"})


@pytest.mark.parametrize("link", ["", "/abs", "trailing/", "a//b", "./a", "a/.", "a/../b", "..", "a\0b", "\ud800"])
def test_bad_link_paths_are_refused_naming_them(link):
    with pytest.raises(LayerError, match="invalid symlink path") as info:
        add_symlinks([], "/app", {link: "target"})
    assert repr(link) in str(info.value)


@pytest.mark.parametrize("target", ["", None, 1, ["a"], "a\0b", "\ud800"])
def test_bad_targets_are_refused_naming_the_link(target):
    with pytest.raises(LayerError, match="invalid target") as info:
        add_symlinks([], "/app", {"bin/python": target})
    assert "'bin/python'" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"symlinks": ["a"]}, "invalid symlinks"),
        ({"symlinks": None}, "invalid symlinks"),
        ({"destination": "app"}, "destination"),
        ({"uid": -1}, "uid"),
        ({"gid": "0"}, "gid"),
    ],
)
def test_bad_arguments_are_layer_errors(kwargs, word):
    args = {"entries": [], "destination": "/app", "symlinks": {"a": "b"}, **kwargs}
    with pytest.raises(LayerError, match=word):
        add_symlinks(**args)


@pytest.mark.skipif(shutil.which("umoci") is None or os.geteuid() != 0, reason="needs umoci, run as root")
def test_umoci_unpacks_the_declared_links(tmp_path):
    tree(tmp_path)
    links = {"bin/python": "/usr/bin/python3", "lib/py/site": "../../bin", "current": "README"}
    entries = add_symlinks(planned(tmp_path, "/opt/app", 10, 20), "/opt/app", links, 1000, 2000)
    out = io.BytesIO()
    result = build_layer(entries, out, "gzip", None, 0, 2)
    oci_layout(tmp_path / "layout", [(out.getvalue(), result)])
    subprocess.run(
        ["umoci", "unpack", "--image", f"{tmp_path / 'layout'}:tag", str(tmp_path / "bundle")],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    app = tmp_path / "bundle" / "rootfs" / "opt" / "app"
    for link, target in links.items():
        assert os.readlink(str(app / link)) == target
        st = os.lstat(str(app / link))
        assert (st.st_uid, st.st_gid) == (1000, 2000), link
    for parent in ("lib", "lib/py"):
        st = os.lstat(str(app / parent))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 2000, 0o755), parent
        assert os.path.isdir(str(app / parent)) and not os.path.islink(str(app / parent))
    assert (os.stat(str(app)).st_uid, os.stat(str(app / "bin")).st_uid) == (10, 10)
    assert os.stat(str(app.parent)).st_uid == 0  # /opt is not in the layer
    assert (app / "current").read_text() == "hi"  # resolved inside the image, not at build time
