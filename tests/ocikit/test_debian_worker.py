"""`ocikit deb-lock | deb-fetch | deb-layer` against a local archive made by dpkg-scanpackages
and served on loopback; and one resolution against the Debian archive apt uses here."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from debian_archive import downloaded_debs, make_archive, served
from python_tools import _debian_mirror
from real_parts import needs

from ocikit.cli import main
from ocikit.contracts.debian import DebInput, DebLayerSpec, DebLockRequest, DebTargetRequest
from ocikit.contracts.layer import LayerDescriptor
from ocikit.debian.archive import lock_targets
from ocikit.debian.lockfile import parse_lockfile

PACKAGES = ("bzip2", "libbz2-1.0", "libc6", "libgcc-s1", "gcc-12-base")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = make_archive(tmp_path_factory.mktemp("archive"), downloaded_debs(PACKAGES))
    with served(root) as url:
        yield url


def _lock(tmp_path, url, packages=("bzip2",), architectures=("amd64",), name="lock.yaml"):
    request = DebLockRequest(url, (DebTargetRequest("src:deps", "bookworm", tuple(packages), tuple(architectures)),))
    (tmp_path / "request.json").write_bytes(request.dumps())
    out = tmp_path / name
    code = main(
        [
            "deb-lock",
            "--request",
            str(tmp_path / "request.json"),
            "--out",
            str(out),
            "--regenerate-command",
            "pants generate-lockfiles --resolve=oci-debian-packages",
        ]
    )
    return code, out


@needs("dpkg-scanpackages")
def test_lock_is_stable_and_pins_the_closure(tmp_path, archive, capsys):
    code, out = _lock(tmp_path, archive)
    assert code == 0, capsys.readouterr().err
    _, again = _lock(tmp_path, archive, name="again.yaml")
    assert out.read_bytes() == again.read_bytes()
    lock = parse_lockfile(out.read_bytes(), str(out))
    debs = {d.name: d for d in lock.get("src:deps").packages("amd64")}
    assert set(debs) == set(PACKAGES)
    local = downloaded_debs(["bzip2"])["bzip2"]
    assert debs["bzip2"].sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert debs["bzip2"].path == f"pool/main/{local.name}"
    assert "# Regenerate: pants generate-lockfiles --resolve=oci-debian-packages" in out.read_text()
    assert "src:deps: amd64: 5 packages" in capsys.readouterr().out


@needs("dpkg-scanpackages")
def test_lock_of_an_unknown_package_writes_nothing(tmp_path, archive, capsys):
    code, out = _lock(tmp_path, archive, packages=("bzip2", "nosuch"))
    assert code == 1 and not out.exists()
    assert capsys.readouterr().err == (
        "ocikit deb-lock: error: src:deps (bookworm, amd64): unknown package 'nosuch': the amd64 index has no "
        "package of that name\n"
    )


@needs("dpkg-scanpackages")
def test_lock_of_an_architecture_the_archive_lacks(tmp_path, archive, capsys):
    code, out = _lock(tmp_path, archive, architectures=("amd64", "arm64"))
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert re.match(
        r"ocikit deb-lock: error: the archive http://127.0.0.1:\d+ has no arm64 index for bookworm "
        r"\(http://127.0.0.1:\d+/dists/bookworm/main/binary-arm64/\{Packages.xz,Packages.gz,Packages\} "
        r"not found\): check the suite and the architecture\n$",
        err,
    ), err


def test_lock_while_the_archive_is_down_writes_nothing(tmp_path, capsys):
    with served(tmp_path) as url:
        pass  # the server is gone: its port refuses connections
    code, out = _lock(tmp_path, url)
    assert code == 1 and not out.exists()
    assert capsys.readouterr().err.startswith(
        f"ocikit deb-lock: error: the Debian archive is unreachable: {url}/dists/"
    )


@needs("dpkg-scanpackages")
def test_fetch_checks_the_sha256(tmp_path, archive, capsys):
    deb = downloaded_debs(["bzip2"])["bzip2"]
    data = deb.read_bytes()
    args = ["deb-fetch", "--url", f"{archive}/pool/main/{deb.name}", "--size", str(len(data)), "--package", "bzip2"]
    assert main(args + ["--sha256", hashlib.sha256(data).hexdigest(), "--out", str(tmp_path / "ok.deb")]) == 0
    assert (tmp_path / "ok.deb").read_bytes() == data
    assert main(args + ["--sha256", "0" * 64, "--out", str(tmp_path / "bad.deb")]) == 1
    assert not (tmp_path / "bad.deb").exists() and [p.name for p in tmp_path.iterdir()] == ["ok.deb"]
    err = capsys.readouterr().err
    assert err.startswith(
        f"ocikit deb-fetch: error: bzip2: SHA-256 mismatch for {archive}/pool/main/{deb.name}: "
        f"the lockfile says {'0' * 64} ({len(data)} bytes), the archive served "
        f"{hashlib.sha256(data).hexdigest()}"
    )


def test_layer_writes_blob_and_descriptor(tmp_path, capsys):
    deb = downloaded_debs(["bzip2"])["bzip2"]
    data = deb.read_bytes()
    spec = DebLayerSpec((DebInput("bzip2", str(deb), hashlib.sha256(data).hexdigest(), len(data)),), mtime=7)
    (tmp_path / "spec.json").write_bytes(spec.dumps())
    assert (
        main(
            [
                "deb-layer",
                "--spec",
                str(tmp_path / "spec.json"),
                "--out",
                str(tmp_path / "blob"),
                "--descriptor",
                str(tmp_path / "desc.json"),
            ]
        )
        == 0
    )
    desc = LayerDescriptor.from_json(json.loads((tmp_path / "desc.json").read_text()))
    assert desc.digest == "sha256:" + hashlib.sha256((tmp_path / "blob").read_bytes()).hexdigest()
    bad = DebLayerSpec((DebInput("bzip2", str(deb), "1" * 64, len(data)),))
    (tmp_path / "bad.json").write_bytes(bad.dumps())
    assert (
        main(
            [
                "deb-layer",
                "--spec",
                str(tmp_path / "bad.json"),
                "--out",
                str(tmp_path / "b2"),
                "--descriptor",
                str(tmp_path / "d2"),
            ]
        )
        == 1
    )
    assert not (tmp_path / "b2").exists() and not (tmp_path / "d2").exists()
    assert "SHA-256 mismatch" in capsys.readouterr().err


@pytest.mark.slow
def test_resolves_the_python_runtime_against_the_debian_archive():
    """The one test that reads the Debian archive apt uses on this machine (not loopback)."""
    lock = lock_targets(_debian_mirror(), [("t", "bookworm", ("python3", "ca-certificates", "tzdata"), ("amd64",))])
    names = {d.name for d in lock.targets[0].packages("amd64")}
    assert {"python3", "python3.11-minimal", "libc6", "ca-certificates", "tzdata", "libssl3"} <= names
    assert "bash" not in names  # essential, not depended on: not added
