"""Layers from real .debs: what umoci unpacks equals what `dpkg-deb -x` unpacks (paths, modes,
owners, link targets, hard links, contents), plus the status.d record; determinism; bad input."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
from pathlib import Path
from typing import Dict, Tuple

import pytest
from debian_archive import downloaded_debs, rebuilt_deb
from layer_build_support import oci_layout
from real_parts import needs

from ocikit.debian.deb import DebError, ar_members
from ocikit.debian.layer import DebFile, installed_names, order_hard_links, plan_deb_layer, status_record
from ocikit.debian.scripts import skipped_effects
from ocikit.layer import LayerEntry, LayerError, build_layer

# bzip2: hard links and symlinks; passwd: setgid files owned by group shadow; tzdata: an
# `Architecture: all` package of thousands of symlinks and files; libbz2-1.0: a library.
PACKAGES = ("bzip2", "libbz2-1.0", "passwd", "tzdata")


def _deb_file(package: str, path: Path) -> DebFile:
    data = path.read_bytes()
    return DebFile(package, str(path), hashlib.sha256(data).hexdigest(), len(data))


def _layer(tmp_path: Path, debs, mtime: int = 0) -> Tuple[bytes, object, list]:
    work = tmp_path / f"work{len(list(tmp_path.glob('work*')))}"
    work.mkdir()
    entries = plan_deb_layer(debs, str(work))
    out = io.BytesIO()
    result = build_layer(entries, out, "gzip", None, mtime, 2)
    return out.getvalue(), result, entries


def _tree(root: Path) -> Dict[str, tuple]:
    """path -> (kind, mode, uid, gid, link target or content sha256, hard link group)."""
    tree, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, os.readlink(path), None)
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, None)
            else:
                group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                tree[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest, group)
    # A hard link group is named by its first path, whichever tool made the tree.
    firsts = {}
    for rel in sorted(tree):
        if tree[rel][5] is not None:
            firsts.setdefault(tree[rel][5], rel)
    return {rel: v[:5] + ((firsts[v[5]] if v[5] else None),) for rel, v in tree.items()}


@needs("umoci", "dpkg-deb", root=True)
def test_unpacked_layer_equals_dpkg_deb_extract(tmp_path):
    debs = downloaded_debs(PACKAGES)
    blob, result, _ = _layer(tmp_path, [_deb_file(p, debs[p]) for p in PACKAGES])
    oci_layout(tmp_path / "layout", [(blob, result)])
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{tmp_path / 'layout'}:tag", str(bundle)], check=True, capture_output=True
    )
    rootfs = _tree(bundle / "rootfs")
    expected: Dict[str, tuple] = {}
    for package in PACKAGES:
        target = tmp_path / "dpkg" / package
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[package]), str(target)], check=True)
        for rel, value in _tree(target).items():
            expected.setdefault(rel, value)  # a directory several packages ship: the first one's
    status = {rel: v for rel, v in rootfs.items() if rel.startswith("var/lib/dpkg/status.d/")}
    records = {f"var/lib/dpkg/status.d/{p}" for p in PACKAGES}
    assert records <= set(status)
    assert all(v[:4] == ("file", 0o644, 0, 0) for v in status.values())
    unpacked = {rel: v for rel, v in rootfs.items() if rel not in status and rel != "var/lib/dpkg/status.d"}
    for added in ("var", "var/lib", "var/lib/dpkg"):  # the record's parents, when no package has them
        if added not in expected:
            assert unpacked.pop(added)[:4] == ("dir", 0o755, 0, 0)
    assert unpacked == expected
    assert any(v[5] for v in unpacked.values()), "bzip2's hard links should be in the tree"
    assert any(v[2:4] != (0, 0) for v in unpacked.values()), "passwd's root:shadow files should be in the tree"
    record = (bundle / "rootfs/var/lib/dpkg/status.d/passwd").read_text()
    assert record.startswith("Package: passwd\nStatus: install ok installed\n")


def test_layers_are_deterministic_and_record_the_packages(tmp_path):
    debs = downloaded_debs(("bzip2", "libbz2-1.0"))
    files = [_deb_file(p, debs[p]) for p in ("bzip2", "libbz2-1.0")]
    first, r1, entries = _layer(tmp_path, files, mtime=1700000000)
    again, r2, _ = _layer(tmp_path, list(reversed(files)), mtime=1700000000)
    assert first == again and r1 == r2
    assert installed_names(entries) == ["bzip2", "libbz2-1.0"]
    other, r3, _ = _layer(tmp_path, files, mtime=1700000001)
    assert r3.digest != r1.digest  # the layer's mtime is source_date_epoch


def test_a_bumped_package_changes_its_layer_only(tmp_path):
    debs = downloaded_debs(("bzip2", "libbz2-1.0"))
    bumped = rebuilt_deb(debs["bzip2"], "1.0.8-5+b1+bump1", tmp_path)
    _, bzip2, _ = _layer(tmp_path, [_deb_file("bzip2", debs["bzip2"])])
    _, bzip2_bumped, _ = _layer(tmp_path, [_deb_file("bzip2", bumped)])
    _, lib, _ = _layer(tmp_path, [_deb_file("libbz2-1.0", debs["libbz2-1.0"])])
    _, lib_again, _ = _layer(tmp_path, [_deb_file("libbz2-1.0", debs["libbz2-1.0"])])
    assert bzip2.digest != bzip2_bumped.digest
    assert lib.digest == lib_again.digest


@needs("dpkg-deb")
def test_every_member_compression_dpkg_deb_writes_gives_the_same_layer(tmp_path):
    deb = downloaded_debs(("bzip2",))["bzip2"]
    digests = {}
    for compression in ("xz", "gzip", "zstd", "none"):
        out = tmp_path / compression
        out.mkdir()
        rebuilt = rebuilt_deb(deb, "1.0.8-5+b1", out, compression)
        with open(rebuilt, "rb") as f:
            members = list(ar_members(f, str(rebuilt)))
        assert (
            members[2]
            == {"xz": "data.tar.xz", "gzip": "data.tar.gz", "zstd": "data.tar.zst", "none": "data.tar"}[compression]
        ), members
        digests[compression] = _layer(tmp_path, [_deb_file("bzip2", rebuilt)])[1].digest
    assert len(set(digests.values())) == 1, digests


def test_a_sha256_mismatch_is_refused(tmp_path):
    deb = _deb_file("bzip2", downloaded_debs(("bzip2",))["bzip2"])
    wrong = DebFile(deb.package, deb.path, "0" * 64, deb.size)
    with pytest.raises(DebError, match=r"^bzip2 \(bzip2_.*\.deb\): SHA-256 mismatch: the lockfile says 0{64}"):
        plan_deb_layer([wrong], str(tmp_path))


def test_not_a_deb_is_refused(tmp_path):
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"not an archive")
    digest = hashlib.sha256(b"not an archive").hexdigest()
    with pytest.raises(DebError, match="not a .deb"):
        plan_deb_layer([DebFile("junk", str(junk), digest, 14)], str(tmp_path / "w"))


def test_a_path_two_packages_ship_is_refused(tmp_path):
    deb = downloaded_debs(("bzip2",))["bzip2"]
    copy = rebuilt_deb(deb, "9.9", tmp_path)
    with pytest.raises(LayerError, match=r"/bin/bunzip2 is shipped by both a-bzip2 and bzip2"):
        plan_deb_layer([_deb_file("bzip2", deb), _deb_file("a-bzip2", copy)], str(tmp_path / "w"))


def test_hard_links_are_written_after_the_file_they_name():
    file = LayerEntry("usr/bin/perl5.36", "file", 0o755, 0, 0, 3, "/src")
    link = LayerEntry("usr/bin/perl", "hardlink", 0o755, 0, 0, 0, None, linkname="usr/bin/perl5.36")
    ordered = order_hard_links(sorted([file, link], key=lambda e: e.path))
    assert [(e.path, e.kind, e.linkname) for e in ordered] == [
        ("usr/bin/perl", "file", ""),
        ("usr/bin/perl5.36", "hardlink", "usr/bin/perl"),
    ]


def test_status_record_puts_status_after_package():
    assert (
        status_record("Package: a\nVersion: 1\nStatus: x\n") == "Package: a\nStatus: install ok installed\nVersion: 1\n"
    )


def test_maintainer_script_effects_are_warned_naming_the_package(tmp_path):
    debs = downloaded_debs(("passwd", "bzip2", "tzdata"))
    warnings: list = []
    plan_deb_layer([_deb_file(p, debs[p]) for p in ("passwd", "bzip2", "tzdata")], str(tmp_path), warnings)
    assert warnings == [
        "passwd: maintainer scripts are not run: system users or groups are not created",
        "tzdata: maintainer scripts are not run: debconf configuration is not applied",
    ]


def test_script_effects_table():
    assert skipped_effects("x", {"postinst": "#!/bin/sh\n# update-alternatives in a comment\npy3compile -p x\n"}) == []
    assert skipped_effects("x", {"postinst": "update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\n"}) == [
        "x: maintainer scripts are not run: update-alternatives links are not created"
    ]
    assert skipped_effects("x", {"preinst": "rm -f /etc/thing\n", "postinst": "touch /a\n"}) == [
        "x: maintainer scripts are not run: effects of its preinst and postinst are not reproduced"
    ]
    assert skipped_effects("x", {}) == []


@needs("openssl")
def test_the_ca_bundle_is_reproduced_and_openssl_verifies_with_it(tmp_path):
    deb = downloaded_debs(("ca-certificates",))["ca-certificates"]
    warnings: list = []
    entries = plan_deb_layer([_deb_file("ca-certificates", deb)], str(tmp_path / "w"), warnings)
    assert warnings == []  # its postinst's effects are the bundle, made here
    (bundle,) = [e for e in entries if e.path == "etc/ssl/certs/ca-certificates.crt"]
    assert (bundle.kind, bundle.mode, bundle.uid, bundle.gid) == ("file", 0o644, 0, 0)
    data = Path(bundle.source).read_bytes()
    shipped = [e for e in entries if e.path.startswith("usr/share/ca-certificates/") and e.path.endswith(".crt")]
    assert data.count(b"-----BEGIN CERTIFICATE-----") == len(shipped) > 100
    # The bundle verifies a certificate it holds, as OpenSSL reads it (`-CAfile`).
    first = sorted(shipped, key=lambda e: e.path)[0].source
    verified = subprocess.run(["openssl", "verify", "-CAfile", bundle.source, first], capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stdout.endswith(": OK\n"), verified.stderr
