"""Uploads that resume across runs (issue 24 item 4), with the real Distribution registry
killed (SIGKILL) mid-upload and restarted on the same storage and port.

The first push breaks off with part of the big blob confirmed and records the session in its
journal; the second push (a new session, as the next `pants publish` is a new process) asks the
registry how far it got and sends only the rest. skopeo then copies the image out of the
registry, and the big blob's bytes hash to its digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fault_proxy import Fault, SeenRequest
from faults_helpers import FAST, served_digest
from registry_fixtures import launch_registry, skopeo
from registry_images import write_image

from ocikit.registry import push_layout
from ocikit.registry.errors import RegistryError
from ocikit.registry.upload_journal import UploadJournal

SRC = Path(__file__).resolve().parents[2] / "src" / "python"
MiB = 1 << 20
CHUNK = 2 * MiB


@pytest.fixture
def own_registry(tmp_path):
    """A registry of this test's own: it is killed and restarted."""
    registry = launch_registry(tmp_path / "registry")
    yield registry
    registry.stop()


def _big(image):
    return max(image.blobs, key=lambda b: image.sizes[b])


def _config(image) -> bytes:
    """The config blob's bytes (image.blobs lists the layers; the config is uploaded too)."""
    index = json.loads((image.layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((image.layout / "blobs" / "sha256" / manifest_digest).read_text())
    return (image.layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes()


def _journal_files(journal_dir: Path) -> list:
    return sorted(p for p in journal_dir.glob("*.json")) if journal_dir.exists() else []


def _copied_blob_digest(registry, ref: str, out: Path, digest: str) -> str:
    """Copy the image out of the registry with skopeo; the sha256 of the blob it wrote."""
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{registry.host}/{ref}", f"oci:{out}:x")
    return "sha256:" + hashlib.sha256((out / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()).hexdigest()


def test_registry_killed_mid_upload_the_next_push_sends_the_rest(own_registry, proxy_for, repo, tmp_path):
    image = write_image(tmp_path / "layout", extra_layer_size=12 * MiB, seed=24, runnable=False)
    big, journal_dir = _big(image), tmp_path / "uploads"
    size = image.sizes[big]
    stalled, go, cut = threading.Event(), threading.Event(), threading.Event()
    patches = []

    def decide(request: SeenRequest):
        if cut.is_set():
            return Fault(status=503)  # the registry is gone for the rest of the first run
        if request.method == "PATCH":
            patches.append(request)
            if len(patches) == 3:  # two chunks are in; hold the third before any of its bytes go
                stalled.set()
                go.wait(30)
                return Fault(status=503)
        return None

    proxy = proxy_for(own_registry, decide)
    destination = f"{proxy.host}/{repo}:resumed"
    failure = []

    def first_run():
        try:
            push_layout(
                str(image.layout),
                [destination],
                jobs=1,
                chunk_size=CHUNK,
                retry=FAST,
                journal=UploadJournal(str(journal_dir)),
            )
        except RegistryError as e:
            failure.append(e)

    pusher = threading.Thread(target=first_run)
    pusher.start()
    assert stalled.wait(60), "the third PATCH never came"
    own_registry.kill()  # mid-upload: two chunks confirmed, the session's bytes on disk
    cut.set()
    go.set()
    pusher.join(60)
    assert failure, "the first push should have failed with the registry gone"
    [record_path] = _journal_files(journal_dir)
    record = json.loads(record_path.read_text())
    assert (record["digest"], record["confirmed"], record["size"]) == (big, 2 * CHUNK, size)
    assert "Authorization" not in record_path.read_text()

    own_registry.restart()
    cut.clear()
    summary = push_layout(
        str(image.layout), [destination], jobs=1, chunk_size=CHUNK, retry=FAST, journal=UploadJournal(str(journal_dir))
    )

    # The rest of the big blob, and at most the small blobs the first run had not sent yet.
    small = sum(image.sizes[b] for b in image.blobs if b != big) + len(_config(image))
    assert size - 2 * CHUNK <= summary.stats.bytes_uploaded <= size - 2 * CHUNK + small
    assert summary.stats.bytes_uploaded < size
    assert _journal_files(journal_dir) == []  # committed: the record is gone
    assert served_digest(own_registry, f"{repo}:resumed") == image.digest
    assert _copied_blob_digest(own_registry, f"{repo}:resumed", tmp_path / "copy", big) == big


def test_a_session_the_registry_lost_restarts_from_zero(own_registry, proxy_for, repo, tmp_path):
    """Cut in the middle of a PATCH body, then killed: Distribution 2.8 no longer serves the
    recorded session (a stored size that moved under the state token's offset cancels it). The
    next push asks once, starts over, sends the whole blob, and drops the stale record."""
    image = write_image(tmp_path / "layout", extra_layer_size=12 * MiB, seed=25, runnable=False)
    big, journal_dir = _big(image), tmp_path / "uploads"
    size = image.sizes[big]
    cut = threading.Event()
    patches = []

    def decide(request: SeenRequest):
        if cut.is_set():
            return Fault(status=503)  # the registry is gone for the rest of the first run
        if request.method == "PATCH":
            patches.append(request)
            if len(patches) == 2:  # one chunk in; the second cut after 3 MiB of its body
                cut.set()
                return Fault(cut_request=3 * MiB)
        return None

    proxy = proxy_for(own_registry, decide)
    destination = f"{proxy.host}/{repo}:lost"
    with pytest.raises(RegistryError):
        push_layout(
            str(image.layout),
            [destination],
            jobs=1,
            chunk_size=4 * MiB,
            retry=FAST,
            journal=UploadJournal(str(journal_dir)),
        )
    [record_path] = _journal_files(journal_dir)
    assert json.loads(record_path.read_text())["confirmed"] == 4 * MiB
    own_registry.kill()
    own_registry.restart()
    cut.clear()
    mark = len(proxy.seen())
    summary = push_layout(
        str(image.layout),
        [destination],
        jobs=1,
        chunk_size=4 * MiB,
        retry=FAST,
        journal=UploadJournal(str(journal_dir)),
    )
    asked = [r for r in proxy.seen()[mark:] if r.method == "GET" and "/blobs/uploads/" in r.path]
    # Asked once, refused (404 BLOB_UPLOAD_UNKNOWN, or 400 BLOB_UPLOAD_INVALID for a session
    # whose size moved): then a new session, from zero.
    assert len(asked) == 1 and asked[0].status in (400, 404)
    small = sum(image.sizes[b] for b in image.blobs if b != big) + len(_config(image))
    assert size <= summary.stats.bytes_uploaded <= size + small
    assert _journal_files(journal_dir) == []
    assert served_digest(own_registry, f"{repo}:lost") == image.digest
    assert _copied_blob_digest(own_registry, f"{repo}:lost", tmp_path / "copy", big) == big


def test_client_killed_mid_upload_the_next_process_sends_the_rest(plain_registry, proxy_for, repo, tmp_path):
    """`python -m ocikit push --resume-dir` killed (SIGKILL) while the registry holds two chunks:
    the next process goes on from there."""
    image = write_image(tmp_path / "layout", extra_layer_size=12 * MiB, seed=26, runnable=False)
    big, journal_dir = _big(image), tmp_path / "uploads"
    stalled, go = threading.Event(), threading.Event()
    patches = []

    def decide(request: SeenRequest):
        if request.method == "PATCH" and not go.is_set():
            patches.append(request)
            if len(patches) == 3:  # held before any of its bytes reach the registry
                stalled.set()
                go.wait(30)
                return Fault(status=503)
        return None

    proxy = proxy_for(plain_registry, decide)
    env = {**os.environ, "PYTHONPATH": str(SRC), "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    argv = [
        sys.executable,
        "-m",
        "ocikit",
        "push",
        str(image.layout),
        "--dest",
        f"{proxy.host}/{repo}:killed",
        "--insecure-registry",
        proxy.host,
        "--jobs",
        "1",
        "--chunk-size",
        str(CHUNK),
        "--quiet",
        "--resume-dir",
        str(journal_dir),
        "--record",
        str(tmp_path / "pushed.json"),
    ]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert stalled.wait(60), "the third PATCH never came"
        first.kill()
        first.wait(30)
    finally:
        go.set()
    assert [json.loads(p.read_text())["confirmed"] for p in _journal_files(journal_dir)] == [2 * CHUNK]

    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    stats = json.loads((tmp_path / "pushed.json").read_text())["stats"]
    size = image.sizes[big]
    small = sum(image.sizes[b] for b in image.blobs if b != big) + len(_config(image))
    assert size - 2 * CHUNK <= stats["bytes_uploaded"] <= size - 2 * CHUNK + small
    assert _journal_files(journal_dir) == []
    assert _copied_blob_digest(plain_registry, f"{repo}:killed", tmp_path / "copy", big) == big
