"""plan_layer: which entries a directory tree becomes, with which owners and modes."""

from __future__ import annotations

import os
import socket
import stat

import pytest
from layer_build_support import write
from real_parts import needs

from ocikit.layer import LayerEntry, LayerError, plan_layer


def by_path(entries):
    return {e.path: e for e in entries}


def test_destination_ancestors_are_left_out_and_the_tree_gets_the_owner(tmp_path):
    # Re-emitting /opt would reset what a lower layer set for it (owner, mode).
    write(str(tmp_path / "bin" / "tool"), b"#!/bin/sh\n", 0o700)
    write(str(tmp_path / "README"), b"hi", 0o600)
    entries = plan_layer(str(tmp_path), "/opt/app", uid=1000, gid=2000)
    assert entries == [
        LayerEntry("opt/app", "dir", 0o755, 1000, 2000, 0, None),
        LayerEntry("opt/app/README", "file", 0o644, 1000, 2000, 2, str(tmp_path / "README")),
        LayerEntry("opt/app/bin", "dir", 0o755, 1000, 2000, 0, None),
        LayerEntry("opt/app/bin/tool", "file", 0o755, 1000, 2000, 10, str(tmp_path / "bin" / "tool")),
    ]


def test_destination_root_adds_no_entry_for_slash(tmp_path):
    write(str(tmp_path / "etc" / "motd"), b"x")
    assert [e.path for e in plan_layer(str(tmp_path), "/", 5, 5)] == ["etc", "etc/motd"]
    assert all(e.uid == 5 and e.gid == 5 for e in plan_layer(str(tmp_path), "/", 5, 5))


def test_empty_root_gives_only_the_directories(tmp_path):
    assert [e.path for e in plan_layer(str(tmp_path), "/a/b")] == ["a/b"]
    assert plan_layer(str(tmp_path), "/") == []


def test_normalize_policy(tmp_path):
    write(str(tmp_path / "x"), mode=0o4751)
    write(str(tmp_path / "g"), mode=0o010)  # group-executable only still counts
    write(str(tmp_path / "r"), mode=0o400)
    os.mkdir(str(tmp_path / "d"), 0o700)
    modes = {e.path: e.mode for e in plan_layer(str(tmp_path), "/")}
    assert modes == {"x": 0o755, "g": 0o755, "r": 0o644, "d": 0o755}


def test_normalize_with_executables_ignores_the_bits_on_disk(tmp_path):
    """What Pants says is executable decides, not the sandbox (where a hardlinked large file
    has the store's 0555)."""
    write(tmp_path / "t" / "data.bin", mode=0o555)
    write(tmp_path / "t" / "bin" / "run", mode=0o644)
    write(tmp_path / "t" / "plain", mode=0o644)
    modes = {e.path: e.mode for e in plan_layer(str(tmp_path / "t"), "/", executables=["bin/run"]) if e.kind == "file"}
    assert modes == {"data.bin": 0o644, "bin/run": 0o755, "plain": 0o644}


def test_preserve_policy_keeps_permission_bits_including_special_ones(tmp_path):
    write(str(tmp_path / "setuid"), mode=0o4751)
    write(str(tmp_path / "private"), mode=0o600)
    os.mkdir(str(tmp_path / "sticky"))
    os.chmod(str(tmp_path / "sticky"), 0o1777)
    os.chmod(str(tmp_path), 0o750)
    modes = {e.path: e.mode for e in plan_layer(str(tmp_path), "/top", mode_policy="preserve")}
    assert modes == {
        "top": 0o750,  # the destination takes the root directory's own bits
        "top/private": 0o600,
        "top/setuid": 0o4751,
        "top/sticky": 0o1777,
    }


def test_entries_are_sorted_bytewise_and_parents_come_first(tmp_path):
    for name in ["b/z", "a-b", "a/b/c", "a/B", "Z", "é", "a/b/d"]:
        write(str(tmp_path / name))
    paths = [e.path for e in plan_layer(str(tmp_path), "/")]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert paths == ["Z", "a", "a-b", "a/B", "a/b", "a/b/c", "a/b/d", "b", "b/z", "é"]
    seen = set()
    for p in paths:
        assert "/" not in p or p.rsplit("/", 1)[0] in seen
        seen.add(p)


def test_creation_order_and_timestamps_do_not_matter(tmp_path):
    names = ["c", "a/x", "b", "a/y", "d/e/f"]
    for root, order in (("one", names), ("two", list(reversed(names)))):
        for i, name in enumerate(order):
            write(str(tmp_path / root / name), name.encode())
            os.utime(str(tmp_path / root / name), (i * 1000, i * 1000))
    one = [(e.path, e.kind, e.mode, e.size) for e in plan_layer(str(tmp_path / "one"), "/")]
    two = [(e.path, e.kind, e.mode, e.size) for e in plan_layer(str(tmp_path / "two"), "/")]
    assert one == two


def test_root_may_be_a_symlink_to_the_tree(tmp_path):
    write(str(tmp_path / "real" / "f"), b"abc")
    os.symlink("real", str(tmp_path / "link"))
    entries = plan_layer(str(tmp_path / "link"), "/app")
    assert [e.path for e in entries] == ["app", "app/f"]
    with open(entries[1].source, "rb") as f:
        assert f.read() == b"abc"


def test_symlinks_inside_the_tree_are_kept(tmp_path):
    write(str(tmp_path / "lib" / "libx.so.1"), b"elf")
    os.symlink("libx.so.1", str(tmp_path / "lib" / "libx.so"))
    os.symlink("lib", str(tmp_path / "bin"))
    os.makedirs(str(tmp_path / "share"))
    os.symlink("../lib/./libx.so.1", str(tmp_path / "share" / "up-and-in"))
    os.symlink("lib/missing", str(tmp_path / "dangling"))  # dangling but inside: fine
    os.symlink(".", str(tmp_path / "lib" / "self"))
    entries = by_path(plan_layer(str(tmp_path), "/usr", 7, 8))
    assert entries["usr/lib/libx.so"] == LayerEntry("usr/lib/libx.so", "symlink", 0o777, 7, 8, 0, None, "libx.so.1")
    assert entries["usr/bin"].linkname == "lib"  # a link to a dir is not followed
    assert entries["usr/share/up-and-in"].linkname == "../lib/./libx.so.1"  # kept verbatim
    assert entries["usr/dangling"].linkname == "lib/missing"
    assert entries["usr/lib/self"].linkname == "."
    assert "usr/bin/libx.so.1" not in entries


@pytest.mark.parametrize(
    "link, target",
    [
        ("abs", "/etc/passwd"),
        ("up", ".."),
        ("d/up2", "../../outside"),
        ("d/sneaky", "../d/../../x"),
    ],
)
def test_symlinks_leaving_the_tree_are_refused(tmp_path, link, target):
    os.makedirs(str(tmp_path / "t" / "d"))
    os.symlink(target, str(tmp_path / "t" / link))
    with pytest.raises(LayerError) as e:
        plan_layer(str(tmp_path / "t"), "/app")
    message = str(e.value)
    assert link.split("/")[-1] in message and repr(target) in message and "refused" in message


def test_a_link_escaping_through_another_symlink_is_refused(tmp_path):
    # "d/up" -> ".." is inside (the tree root); "d/x" -> "up/.." looks inside lexically
    # (d/up/.. == d) but the kernel resolves up first: root/.. is outside.
    os.makedirs(str(tmp_path / "t" / "d"))
    os.symlink("..", str(tmp_path / "t" / "d" / "up"))
    os.symlink("up/..", str(tmp_path / "t" / "d" / "x"))
    with pytest.raises(LayerError, match=r"'up/\.\.'.*refused"):
        plan_layer(str(tmp_path / "t"), "/")


def test_fifo_is_refused(tmp_path):
    os.mkfifo(str(tmp_path / "pipe"))
    with pytest.raises(LayerError, match="pipe.*fifo"):
        plan_layer(str(tmp_path), "/")


def test_socket_is_refused(tmp_path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tmp_path / "sock"))
        with pytest.raises(LayerError, match="sock.*socket"):
            plan_layer(str(tmp_path), "/")
    finally:
        s.close()


@needs(root=True)  # mknod
def test_device_is_refused(tmp_path):
    os.mknod(str(tmp_path / "null"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(LayerError, match="null.*character device"):
        plan_layer(str(tmp_path), "/")


@pytest.mark.parametrize(
    "destination",
    ["app", "", "/app/", "//app", "/a/../b", "/a/./b", "/..", "/a//b", "/a\0b", 5, None],
)
def test_bad_destinations_are_refused_naming_the_value(tmp_path, destination):
    with pytest.raises(LayerError) as e:
        plan_layer(str(tmp_path), destination)
    assert repr(destination) in str(e.value)


@pytest.mark.parametrize("good", ["/", "/app", "/opt/my app/bin", "/ünï"])
def test_good_destinations(tmp_path, good):
    entries = plan_layer(str(tmp_path), good)
    assert [e.path for e in entries][-1:] == ([good[1:]] if good != "/" else [])


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"uid": -1}, "uid"),
        ({"gid": 2**32}, "gid"),
        ({"uid": "0"}, "uid"),
        ({"uid": True}, "uid"),
        ({"mode_policy": "keep"}, "mode_policy"),
    ],
)
def test_bad_owner_or_policy_is_refused(tmp_path, kwargs, word):
    with pytest.raises(LayerError, match=word):
        plan_layer(str(tmp_path), "/", **kwargs)


def test_missing_or_non_directory_root_is_refused(tmp_path):
    with pytest.raises(LayerError, match="nope"):
        plan_layer(str(tmp_path / "nope"), "/")
    write(str(tmp_path / "file"))
    with pytest.raises(LayerError, match="not a directory"):
        plan_layer(str(tmp_path / "file"), "/")


def test_non_utf8_names_round_trip_through_surrogateescape(tmp_path):
    raw = b"caf\xe9 \xff\xfe"
    d = os.path.join(os.fsencode(str(tmp_path)), b"dir-\x80")
    os.mkdir(d)
    with open(os.path.join(d, raw), "wb") as f:
        f.write(b"latin-1")
    entries = plan_layer(str(tmp_path), "/")
    assert [e.path.encode("utf-8", "surrogateescape") for e in entries] == [
        b"dir-\x80",
        b"dir-\x80/" + raw,
    ]
    assert entries[1].path == "dir-\udc80/caf\udce9 \udcff\udcfe"
    with open(entries[1].source, "rb") as f:  # the source path opens the same file
        assert f.read() == b"latin-1"


def test_hard_links_are_plain_files(tmp_path):
    write(str(tmp_path / "a"), b"same")
    os.link(str(tmp_path / "a"), str(tmp_path / "b"))
    entries = plan_layer(str(tmp_path), "/")
    assert [(e.path, e.kind, e.size) for e in entries] == [("a", "file", 4), ("b", "file", 4)]


@pytest.mark.slow  # 1,100 nested directories
def test_deep_trees_do_not_hit_the_recursion_limit(tmp_path):
    path = str(tmp_path)
    made = []
    try:
        for _ in range(1100):  # deeper than Python's default recursion limit of 1000
            path = os.path.join(path, "d")
            os.mkdir(path)
            made.append(path)
        entries = plan_layer(str(tmp_path), "/")
        assert len(entries) == 1100
        assert entries[-1].path == "/".join(["d"] * 1100)
    finally:  # shutil.rmtree (pytest's cleanup) recurses: remove it bottom-up here
        for p in reversed(made):
            os.rmdir(p)
