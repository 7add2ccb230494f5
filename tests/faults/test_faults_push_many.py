"""Many images in one push run when things go wrong: the registry going away midway, and
Ctrl-C. Through a fault proxy in front of the real registry, checked with skopeo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fault_proxy import Fault
from many_images import shared_layer, write_publish_batch, write_small_images
from registry_fixtures import skopeo, unique_repository

from ocikit.registry.push import PushSession
from ocikit.registry.push_many import FAILED, PUSHED, ImagePush, push_images
from ocikit.registry.transport import RetryPolicy

SRC = Path(__file__).resolve().parents[2] / "src" / "python"


def _is_tag_put(request) -> bool:
    return request.method == "PUT" and "/manifests/" in request.path and "/manifests/sha256:" not in request.path


def _tags(registry, repository: str) -> list:
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/{repository}", check=False)
    return sorted(json.loads(listed.stdout)["Tags"] or []) if listed.returncode == 0 else []


def _push_run(tmp_path: Path, batch: str, image: str) -> subprocess.Popen:
    """`ocikit push-run` of batch `batch` answering for `image`, started as a terminal's
    foreground job gets SIGINT: a test run as a background job inherits it ignored, and Python
    then installs no KeyboardInterrupt handler."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    argv = ["-m", "ocikit", "push-run", "--plan", f"plan-{batch}.json", "--state", "state", "--image", image]
    return subprocess.Popen(
        [sys.executable, *argv, "--quiet"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_a_registry_going_away_midway_fails_the_rest_at_once_and_keeps_what_was_pushed(
    plain_registry, proxy_for, tmp_path, request, monkeypatch
):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    repo = unique_repository(request.node.name, "faults", 40)
    tag_puts = []

    def decide(seen):
        if _is_tag_put(seen):
            tag_puts.append(seen)
            if len(tag_puts) == 3:  # this one still goes through; then the registry is gone
                threading.Thread(target=proxy.stop, daemon=True).start()
        return None

    proxy = proxy_for(plain_registry, decide)
    shared = shared_layer(tmp_path / "shared", 100_000)
    images = write_small_images(tmp_path / "layouts", 8, shared, own_layer=True, label=repo)
    jobs = [ImagePush(f"k{i}", str(im.layout), (f"{proxy.host}/{repo}/i{i}:v",)) for i, im in enumerate(images)]
    started = time.monotonic()
    with PushSession(jobs=1, retry=RetryPolicy(attempts=2, base_delay=0.05)) as session:
        result = push_images(jobs, session)
    assert time.monotonic() - started < 60
    statuses = [o.status for o in result.outcomes]
    assert statuses == [PUSHED] * 3 + [FAILED] * 5, [(o.status, o.error) for o in result.outcomes]
    assert "cannot reach" in result.outcomes[3].error
    for outcome in result.outcomes[4:]:
        assert "could not be reached earlier in this run" in outcome.error, outcome.error
    for i in range(8):
        assert _tags(plain_registry, f"{repo}/i{i}") == (["v"] if i < 3 else [])


def test_ctrl_c_records_what_was_pushed_and_leaves_no_image_half_tagged(plain_registry, proxy_for, tmp_path, request):
    repo = unique_repository(request.node.name, "faults", 40)
    stalled = {f"/v2/{repo}/i{i}/" for i in range(2, 6)}

    def decide(seen):
        # The uploads of images 2-5 start slowly: Ctrl-C comes while they wait.
        if seen.method == "POST" and any(seen.path.startswith(p) for p in stalled):
            return Fault(delay=2.0)
        return None

    proxy = proxy_for(plain_registry, decide)
    shared = shared_layer(tmp_path / "shared", 50_000)
    images = write_small_images(tmp_path / "layouts", 6, shared, tags=("one", "two"), own_layer=True, label=repo)
    write_publish_batch(
        tmp_path,
        images,
        [(f"{proxy.host}/{repo}/i{i}:one", f"{proxy.host}/{repo}/i{i}:two") for i in range(6)],
        batch_id="ctrl-c",
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    proc = _push_run(tmp_path, "ctrl-c", "t:0")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tagged = {r.path for r in proxy.seen() if _is_tag_put(r) and r.status is not None}
        if len(tagged) >= 4 and any(r.fault for r in proxy.seen()):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)  # t:0 was pushed before Ctrl-C: its process succeeded
    state = json.loads((tmp_path / "state" / "ctrl-c.json").read_text())
    assert state["interrupted"] is True
    statuses = {k: v["status"] for k, v in state["outcomes"].items()}
    assert statuses["t:0"] == statuses["t:1"] == "pushed", statuses
    assert {statuses[f"t:{i}"] for i in range(2, 6)} == {"interrupted"}, statuses
    run = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert run["interrupted"] is True and [e["status"] for e in run["images"]][:2] == ["pushed", "pushed"]
    for i in range(6):
        tags = _tags(plain_registry, f"{repo}/i{i}")
        assert tags == (["one", "two"] if i < 2 else []), (i, tags)
        assert (tmp_path / "dist" / f"{i}.publish.json").exists() == (i < 2)
    later = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocikit",
            "push-run",
            "--plan",
            "plan-ctrl-c.json",
            "--state",
            "state",
            "--image",
            "t:3",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert later.returncode == 130 and "t:3: interrupted" in later.stderr


def test_ctrl_c_before_any_push_starts_records_every_image_interrupted(plain_registry, proxy_for, tmp_path, request):
    """SIGINT as soon as the push process holds its batch's lock (before any request, or with
    the first requests stalled): the run record says interrupted, no image stays "to push",
    an earlier run's image records are gone, and the image's process exits 130."""
    repo = unique_repository(request.node.name, "faults", 40)
    proxy = proxy_for(plain_registry, lambda seen: Fault(delay=2.0))
    images = write_small_images(tmp_path / "layouts", 3, shared_layer(tmp_path / "shared", 1000), label=repo)
    (tmp_path / "dist").mkdir()
    for i in range(3):
        (tmp_path / "dist" / f"{i}.publish.json").write_text('{"digest": "an earlier run, elsewhere"}')
    write_publish_batch(tmp_path, images, [(f"{proxy.host}/{repo}/i{i}:v",) for i in range(3)], batch_id="early")
    assert not list((tmp_path / "dist").glob("*.publish.json")), "registered to push: the old records went"
    env = {**os.environ, "PYTHONPATH": str(SRC), "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    proc = _push_run(tmp_path, "early", "t:1")
    deadline = time.monotonic() + 60
    while not (tmp_path / "state" / "early.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    run = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert run["interrupted"] is True, run
    assert [e["status"] for e in run["images"]] == ["interrupted"] * 3, run
    assert not list((tmp_path / "dist").glob("*.publish.json"))
    later = subprocess.run(
        [sys.executable, "-m", "ocikit", "push-run", "--plan", "plan-early.json", "--state", "state", "--image", "t:2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert later.returncode == 130 and "t:2: interrupted" in later.stderr, later.stderr
    for i in range(3):
        assert _tags(plain_registry, f"{repo}/i{i}") == []


def test_killed_after_ctrl_c_the_record_already_says_what_was_pushed(plain_registry, proxy_for, tmp_path, request):
    """Pants kills an interrupted process after its grace period (3 s by default), maybe while
    a request still waits for its answer: the record must already be true by then. Each image
    is recorded as it finishes, and at the first Ctrl-C the rest are recorded interrupted."""
    repo = unique_repository(request.node.name, "faults", 40)
    stalled = {f"/v2/{repo}/i{i}/" for i in range(2, 4)}

    def decide(seen):  # the uploads of images 2-3 hang far longer than any grace period
        if seen.method == "POST" and any(seen.path.startswith(p) for p in stalled):
            return Fault(delay=30.0)
        return None

    proxy = proxy_for(plain_registry, decide)
    images = write_small_images(tmp_path / "layouts", 4, shared_layer(tmp_path / "shared", 1000), label=repo)
    write_publish_batch(tmp_path, images, [(f"{proxy.host}/{repo}/i{i}:v",) for i in range(4)], batch_id="kill")
    proc = _push_run(tmp_path, "kill", "t:0")
    record = tmp_path / "dist" / "oci-publish.json"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = [e["status"] for e in json.loads(record.read_text())["images"]]
            if statuses[:2] == ["pushed", "pushed"] and any(r.fault for r in proxy.seen()):
                break
            time.sleep(0.02)
        assert statuses[:2] == ["pushed", "pushed"], statuses  # recorded before the run ends
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 2  # well inside Pants' grace period
        while not json.loads(record.read_text())["interrupted"] and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    run = json.loads(record.read_text())
    assert run["interrupted"] is True, run
    assert [e["status"] for e in run["images"]] == ["pushed", "pushed", "interrupted", "interrupted"], run
    for i in range(4):
        assert _tags(plain_registry, f"{repo}/i{i}") == (["v"] if i < 2 else [])
        assert (tmp_path / "dist" / f"{i}.publish.json").exists() == (i < 2)
