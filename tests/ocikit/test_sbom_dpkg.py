"""Debian packages read from layer blobs (gzip, zstd, plain tar) as a runtime stacks them:
dpkg's status file, distroless status.d files, os-release, and whiteouts; and the worker
commands Pants runs (`python -m ocikit sbom-dpkg|sbom-sha1`)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Mapping, Optional

import pytest
import zstandard

from ocikit import media_types
from ocikit.cli import main as cli_main
from ocikit.contracts.sbom import DebPackage, DpkgLayerScan, DpkgScanRequest, FileSha1s
from ocikit.sbom.dpkg import installed_packages, merge_layers, sbom_packages, scan_layer

STATUS = """Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs.

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: python3.11
Status: install ok installed
Architecture: amd64
Source: python3.11 (3.11.2-6)
Version: 3.11.2-6
"""
DISTROLESS_BASE_FILES = "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"
DEBIAN_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def layer(files: Mapping[str, Optional[bytes]], compression: str = "gzip") -> bytes:
    """A layer tar: None makes a directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


MEDIA = {"gzip": media_types.OCI_LAYER_GZIP, "zstd": media_types.OCI_LAYER_ZSTD, "none": media_types.OCI_LAYER_TAR}


def scan(tmp_path: Path, files: Mapping[str, Optional[bytes]], compression: str = "gzip") -> DpkgLayerScan:
    blob = layer(files, compression)
    path = tmp_path / hashlib.sha256(blob).hexdigest()
    path.write_bytes(blob)
    return scan_layer(DpkgScanRequest(str(path), MEDIA[compression]))


def test_status_keeps_installed_packages_only() -> None:
    assert installed_packages(STATUS) == (
        DebPackage("libc6", "2.36-9+deb12u4", "amd64", "glibc"),
        DebPackage("python3.11", "3.11.2-6", "amd64", "python3.11"),
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_debian_layer(tmp_path: Path, compression: str) -> None:
    found = scan(
        tmp_path,
        {"./var/lib/dpkg/status": STATUS.encode(), "etc/os-release": DEBIAN_RELEASE.encode(), "usr/bin/x": b"x"},
        compression,
    )
    assert list(found.packages) == ["var/lib/dpkg/status"]
    view = merge_layers([found])
    assert [p.name for p in view.packages] == ["libc6", "python3.11"] and view.distribution == "debian"
    (libc6, _) = sbom_packages(view, "the base")
    assert libc6.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
    assert libc6.comment == "Architecture amd64, source package glibc; recorded in the base."


def test_distroless_status_d_files_and_whiteouts_across_layers(tmp_path: Path) -> None:
    lower = scan(
        tmp_path,
        {
            "var/lib/dpkg/status.d/base-files": DISTROLESS_BASE_FILES.encode(),
            "var/lib/dpkg/status.d/base-files.md5sums": b"0123  etc/issue\n",
            "var/lib/dpkg/status.d/libssl3": b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
            "usr/lib/os-release": b"ID=ubuntu\n",
        },
    )
    upper = scan(
        tmp_path,
        {
            "var/lib/dpkg/status.d/.wh.libssl3": b"",
            "var/lib/dpkg/status.d/tzdata": b"Package: tzdata\nVersion: 2024a\nArchitecture: all\n",
        },
    )
    view = merge_layers([lower, upper])
    assert [(p.name, p.architecture) for p in view.packages] == [("base-files", "amd64"), ("tzdata", "all")]
    assert sbom_packages(view, "x")[0].purl == "pkg:deb/ubuntu/base-files@12.4%2Bdeb12u5?arch=amd64"
    # An opaque directory hides everything below it in lower layers; the layer's own files stay.
    opaque = scan(tmp_path, {"var/lib/dpkg/.wh..wh..opq": b"", "var/lib/dpkg/status": STATUS.encode()})
    assert [p.name for p in merge_layers([lower, upper, opaque]).packages] == ["libc6", "python3.11"]
    # A deleted parent directory removes the status file below it.
    gone = scan(tmp_path, {"var/lib/.wh.dpkg": b""})
    assert merge_layers([lower, opaque, gone]).packages == ()


def test_a_layer_without_packages(tmp_path: Path) -> None:
    assert merge_layers([scan(tmp_path, {"app/run.sh": b"#!/bin/sh\n", "var": None})]).packages == ()


def test_the_worker_commands(tmp_path: Path) -> None:
    blob = layer({"var/lib/dpkg/status": STATUS.encode()})
    (tmp_path / "blob").write_bytes(blob)
    (tmp_path / "req.json").write_bytes(DpkgScanRequest(str(tmp_path / "blob"), MEDIA["gzip"]).dumps())
    assert cli_main(["sbom-dpkg", "--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json")]) == 0
    scanned = DpkgLayerScan.read(str(tmp_path / "out.json"))
    assert [p.name for p in scanned.packages["var/lib/dpkg/status"]] == ["libc6", "python3.11"]

    tree = tmp_path / "tree"
    (tree / "a b" / "é").mkdir(parents=True)
    (tree / "a b" / "é" / "f.txt").write_bytes(b"hello")
    (tree / "link").symlink_to("a b/é/f.txt")
    assert cli_main(["sbom-sha1", "--root", str(tree), "--out", str(tmp_path / "sha1.json")]) == 0
    sha1 = FileSha1s.read(str(tmp_path / "sha1.json")).sha1
    assert sha1 == {"a b/é/f.txt": hashlib.sha1(b"hello").hexdigest()}
    assert json.loads((tmp_path / "sha1.json").read_bytes())["kind"] == "sbom-file-sha1s"
