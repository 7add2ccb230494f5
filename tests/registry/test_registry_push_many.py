"""Pushing many images in one run (`ocikit.registry.push_many`, `python -m ocikit published` and
`push-run`) to the real Distribution registry, checked with its request log and skopeo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from many_images import shared_layer, write_publish_batch, write_small_images
from registry_fixtures import skopeo

from ocikit.contracts.publish import CheckResult
from ocikit.registry.push import PushSession
from ocikit.registry.push_many import FAILED, PUSHED, ImagePush, push_images
from ocikit.registry.run_cli import answer_paths

SRC = Path(__file__).resolve().parents[2] / "src" / "python"
MiB = 1 << 20


def _ocikit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "ocikit", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_layer_shared_by_50_images_in_50_repositories_is_uploaded_once_and_mounted_49_times(
    plain_registry, auth_env, repo, tmp_path, need_skopeo
):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 20 * MiB)
    images = write_small_images(tmp_path / "layouts", 50, shared, label=repo)
    jobs = [
        ImagePush(f"img{i}", str(image.layout), (f"{registry.host}/{repo}/r{i:02d}:v1",))
        for i, image in enumerate(images)
    ]
    mark = registry.mark()
    with PushSession(jobs=4) as session:
        result = push_images(jobs, session)
    assert [o.status for o in result.outcomes] == [PUSHED] * 50, [o.error for o in result.outcomes if not o.ok]
    seen = registry.requests_since(mark)
    shared_digest = images[0].shared
    commits = [r for r in seen if r.method == "PUT" and f"digest={shared_digest}" in r.uri]
    patches = [r for r in seen if r.method == "PATCH"]
    mounts = [r for r in seen if r.method == "POST" and f"mount={shared_digest}" in r.uri]
    assert len(commits) == 1 and commits[0].status == 201, commits
    assert len(patches) == 1, "the 20 MB layer was sent once, in one PATCH"
    assert len(mounts) == 49 and all(r.status == 201 for r in mounts), [(r.uri, r.status) for r in mounts]
    stats = [o.summary.stats for o in result.outcomes]
    assert sum(s.blobs_mounted for s in stats) == 49
    assert sum(s.bytes_uploaded for s in stats) < 21 * MiB
    for i in (0, 17, 49):
        raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/{repo}/r{i:02d}:v1").stdout
        assert json.loads(raw) == json.loads(
            (images[i].layout / "blobs" / "sha256" / images[i].digest.split(":")[1]).read_bytes()
        )


def test_images_sharing_a_layer_in_one_repository_upload_it_once(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 2 * MiB)
    images = write_small_images(tmp_path / "layouts", 6, shared, own_layer=True, label=repo)
    mark = registry.mark()
    with PushSession(jobs=4) as session:
        result = push_images(
            [ImagePush(f"k{i}", str(im.layout), (f"{registry.host}/{repo}:t{i}",)) for i, im in enumerate(images)],
            session,
        )
    assert all(o.ok for o in result.outcomes), [o.error for o in result.outcomes]
    commits = [r for r in registry.requests_since(mark) if r.method == "PUT" and images[0].shared in r.uri]
    assert len(commits) == 1
    assert sum(o.summary.stats.blobs_present for o in result.outcomes) == 5


def test_one_registry_refusing_credentials_fails_its_images_only(
    new_registry, plain_registry, auth_env, repo, tmp_path
):
    guarded = new_registry("basic")
    config = guarded.docker_config(tmp_path / "docker-config", secret="not-the-password")
    auth_env.setenv("DOCKER_CONFIG", str(config))
    shared = shared_layer(tmp_path / "shared", 64 * 1024)
    images = write_small_images(tmp_path / "layouts", 5, shared, label=repo)
    hosts = [plain_registry.host, guarded.host, plain_registry.host, guarded.host, plain_registry.host]
    jobs = [
        ImagePush(f"k{i}", str(im.layout), (f"{host}/{repo}/i{i}:v",))
        for i, (im, host) in enumerate(zip(images, hosts))
    ]
    with PushSession(jobs=2) as session:
        result = push_images(jobs, session)
    assert [o.status for o in result.outcomes] == [PUSHED, FAILED, PUSHED, FAILED, PUSHED]
    for outcome in result.outcomes[1::2]:
        assert "UNAUTHORIZED" in outcome.error and "rejected" in outcome.error, outcome.error
        assert "not-the-password" not in outcome.error
    for i in (0, 2, 4):
        out = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{plain_registry.host}/{repo}/i{i}:v").stdout
        assert json.loads(out)["config"]


def _plans(tmp_path: Path, images, destinations, *, register=None) -> tuple[Path, Path]:
    return write_publish_batch(tmp_path, images, [(d,) for d in destinations], register=register)


def test_published_then_push_run_then_published_again(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 256 * 1024)
    images = write_small_images(tmp_path / "layouts", 4, shared, tags=("a",), label=repo)
    destinations = [f"{registry.host}/{repo}/p{i}:a" for i in range(4)]
    check, plan = _plans(tmp_path, images, destinations)
    checked = _ocikit("published", "--plan", str(check), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert CheckResult.loads(checked.stdout).published == ()
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert {e["status"] for e in run_record["images"]} == {"to push"}

    state = tmp_path / "state"
    first = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:2", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 of 4 images pushed" in first.stdout and destinations[3] in first.stdout

    answers = [answer_paths(str(state / "run-1"), i) for i in range(4)]
    assert [Path(e).read_text() for e, _ in answers] == ["0\n"] * 4
    assert [Path(m).read_text() for _, m in answers] == [""] * 4
    mark = registry.mark()
    others = [
        _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", f"t:{i}", cwd=tmp_path)
        for i in (0, 1, 3)
    ]
    assert [p.returncode for p in others] == [0, 0, 0] and all(p.stdout == "" for p in others)
    assert registry.requests_since(mark) == [], "the later processes only read the run's outcome"
    for i in range(4):
        record = json.loads((tmp_path / "dist" / f"{i}.publish.json").read_text())
        assert record["digest"] == images[i].digest and record["pushed"][0]["tags"] == ["a"]
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert [e["status"] for e in run_record["images"]] == ["pushed"] * 4

    again = CheckResult.loads(_ocikit("published", "--plan", str(check), cwd=tmp_path).stdout)
    assert again.published == tuple(f"t:{i}" for i in range(4))
    record = again.records["t:1"]
    assert record["stats"]["bytes_uploaded"] == 0 and record["stats"]["manifests_present"] == 1


def test_push_run_pushes_only_the_images_the_run_registered(plain_registry, auth_env, repo, tmp_path):
    """A batch is a guess at the command line's images; the run's registrations are what was
    asked for. An image of the batch that is not registered is never sent anywhere."""
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 1024)
    images = write_small_images(tmp_path / "layouts", 3, shared, label=repo)
    destinations = [f"{registry.host}/{repo}/only{i}:v" for i in range(3)]
    _, plan = _plans(tmp_path, images, destinations, register={1})
    state = tmp_path / "state"
    run = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:1", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 of 1 images pushed" in run.stdout
    assert not [r for r in registry.requests() if f"/{repo}/only0/" in r.uri or f"/{repo}/only2/" in r.uri]
    manifest = json.loads(
        skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/{repo}/only1:v").stdout
    )
    assert manifest["config"]
    for i in (0, 2):
        listed = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}/only{i}", check=False)
        assert listed.returncode != 0, listed.stdout
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert [(e["key"], e["status"]) for e in run_record["images"]] == [("t:1", "pushed")]
    unasked = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:0", cwd=tmp_path)
    assert unasked.returncode == 1 and "t:0: not registered in this publish run" in unasked.stderr


def test_push_run_answers_for_a_failed_image_with_its_error(plain_registry, auth_env, repo, tmp_path):
    shared = shared_layer(tmp_path / "shared", 1024)
    images = write_small_images(tmp_path / "layouts", 2, shared, label=repo)
    # The second destination is a port nothing listens on.
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "1.publish.json").write_text('{"digest": "an earlier run"}')
    _, plan = _plans(tmp_path, images, [f"{plain_registry.host}/{repo}/ok:v", f"127.0.0.1:9/{repo}/down:v"])
    assert not (tmp_path / "dist" / "1.publish.json").exists(), "registered to be pushed: the old record goes"
    state = tmp_path / "state"
    bad = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:1", "--quiet", cwd=tmp_path)
    assert bad.returncode == 1
    assert "ocikit push-run: error: t:1: cannot reach 127.0.0.1:9" in bad.stderr
    good = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:0", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert [e["status"] for e in run_record["images"]] == ["pushed", "failed"]
    assert not (tmp_path / "dist" / "1.publish.json").exists()

    exit_path, err_path = answer_paths(str(state / "run-1"), 1)
    assert Path(exit_path).read_text() == "1\n" and Path(err_path).read_text() == bad.stderr
