"""`ocikit run`'s pure parts: which image of a layout the runtime gets, the archive it reads,
and the `run` command line. Loading into and running under podman and docker is tested end to
end (tests/integration/test_e2e_run.py)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ocikit.run import RunError, one_image_index, run_argv, runtime_kind, write_layout_tar

ENTRY = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "a" * 64, "size": 1}


def tagged(tag: str) -> dict:
    return {**ENTRY, "annotations": {"org.opencontainers.image.ref.name": tag}}


def test_the_archive_names_one_image_the_one_tagged() -> None:
    index = {"schemaVersion": 2, "manifests": [tagged("1.0"), tagged("latest")]}
    assert one_image_index(index, "latest")["manifests"] == [tagged("latest")]
    assert one_image_index(index, None)["manifests"] == [tagged("1.0")]
    assert one_image_index({"schemaVersion": 2, "manifests": [ENTRY]}, "x")["manifests"] == [ENTRY]


def test_the_layout_tar_is_the_same_bytes_each_time(tmp_path: Path) -> None:
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "blobs" / "sha256" / ("a" * 64)).write_bytes(b"{}")
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [tagged("1"), tagged("2")]}))
    first, second = io.BytesIO(), io.BytesIO()
    write_layout_tar(str(tmp_path), first, "2")
    write_layout_tar(str(tmp_path), second, "2")
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        assert tar.getnames() == ["index.json", "oci-layout", f"blobs/sha256/{'a' * 64}"]
        assert json.load(tar.extractfile("index.json"))["manifests"] == [tagged("2")]


def test_run_argv_and_runtime_kind() -> None:
    assert run_argv("/usr/bin/podman", "sha256:1", ["-p", "80:80"], ["--x"], tty=False) == [
        "/usr/bin/podman",
        "run",
        "--rm",
        "-i",
        "-p",
        "80:80",
        "sha256:1",
        "--x",
    ]
    assert run_argv("docker", "img", [], [], tty=True) == ["docker", "run", "--rm", "-i", "-t", "img"]
    assert runtime_kind("/opt/bin/podman-remote") == "podman"
    with pytest.raises(RunError, match="unknown container runtime '/bin/nerdctl': expected podman or docker"):
        runtime_kind("/bin/nerdctl")
