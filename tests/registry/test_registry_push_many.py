"""Pushing many images in one run (`ocikit.registry.push_many`, `python -m ocikit published` and
`push-run`) to the real Distribution registry, checked with its request log and skopeo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from many_images import shared_layer, write_small_images
from registry_fixtures import skopeo

from ocikit.registry.push import PushSession
from ocikit.registry.push_many import FAILED, PUSHED, ImagePush, push_images

SRC = Path(__file__).resolve().parents[2] / "src" / "python"
MiB = 1 << 20


def _ocikit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "ocikit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_layer_shared_by_50_images_in_50_repositories_is_uploaded_once_and_mounted_49_times(
        plain_registry, auth_env, repo, tmp_path, need_skopeo):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 20 * MiB)
    images = write_small_images(tmp_path / "layouts", 50, shared, label=repo)
    jobs = [ImagePush(f"img{i}", str(image.layout), (f"{registry.host}/{repo}/r{i:02d}:v1",))
            for i, image in enumerate(images)]
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
        assert json.loads(raw) == json.loads((images[i].layout / "blobs" / "sha256" /
                                              images[i].digest.split(":")[1]).read_bytes())


def test_images_sharing_a_layer_in_one_repository_upload_it_once(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 2 * MiB)
    images = write_small_images(tmp_path / "layouts", 6, shared, own_layer=True, label=repo)
    mark = registry.mark()
    with PushSession(jobs=4) as session:
        result = push_images([ImagePush(f"k{i}", str(im.layout), (f"{registry.host}/{repo}:t{i}",))
                              for i, im in enumerate(images)], session)
    assert all(o.ok for o in result.outcomes), [o.error for o in result.outcomes]
    commits = [r for r in registry.requests_since(mark) if r.method == "PUT" and images[0].shared in r.uri]
    assert len(commits) == 1
    assert sum(o.summary.stats.blobs_present for o in result.outcomes) == 5


def test_one_registry_refusing_credentials_fails_its_images_only(new_registry, plain_registry, auth_env, repo,
                                                                  tmp_path):
    guarded = new_registry("basic")
    config = guarded.docker_config(tmp_path / "docker-config", secret="not-the-password")
    auth_env.setenv("DOCKER_CONFIG", str(config))
    shared = shared_layer(tmp_path / "shared", 64 * 1024)
    images = write_small_images(tmp_path / "layouts", 5, shared, label=repo)
    hosts = [plain_registry.host, guarded.host, plain_registry.host, guarded.host, plain_registry.host]
    jobs = [ImagePush(f"k{i}", str(im.layout), (f"{host}/{repo}/i{i}:v",))
            for i, (im, host) in enumerate(zip(images, hosts))]
    with PushSession(jobs=2) as session:
        result = push_images(jobs, session)
    assert [o.status for o in result.outcomes] == [PUSHED, FAILED, PUSHED, FAILED, PUSHED]
    for outcome in result.outcomes[1::2]:
        assert "UNAUTHORIZED" in outcome.error and "rejected" in outcome.error, outcome.error
        assert "not-the-password" not in outcome.error
    for i in (0, 2, 4):
        out = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{plain_registry.host}/{repo}/i{i}:v").stdout
        assert json.loads(out)["config"]


def _plan(tmp_path: Path, images, destinations, *, run_id: str = "run-1") -> Path:
    plan = {
        "run_id": run_id, "jobs": 4, "insecure_registries": [],
        "run_record": str(tmp_path / "dist" / "oci-publish.json"),
        "images": [{"key": f"t:{i}", "layout": os.path.relpath(im.layout, tmp_path), "digest": im.digest,
                    "destinations": [d], "mounts_from": [], "record": str(tmp_path / "dist" / f"{i}.publish.json")}
                   for i, (im, d) in enumerate(zip(images, destinations))],
        "published": [],
    }
    path = tmp_path / f"plan-{run_id}.json"
    path.write_text(json.dumps(plan))
    return path


def test_published_then_push_run_then_published_again(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    shared = shared_layer(tmp_path / "shared", 256 * 1024)
    images = write_small_images(tmp_path / "layouts", 4, shared, tags=("a",), label=repo)
    destinations = [f"{registry.host}/{repo}/p{i}:a" for i in range(4)]
    plan = _plan(tmp_path, images, destinations)
    checked = _ocikit("published", "--plan", str(plan), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["published"] == []
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert {e["status"] for e in run_record["images"]} == {"to push"}

    state = tmp_path / "state"
    first = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:2", "--quiet",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 of 4 images pushed" in first.stdout and destinations[3] in first.stdout
    from ocikit.registry.run_cli import answer_paths

    answers = [answer_paths(str(state / "run-1"), i) for i in range(4)]
    assert [Path(e).read_text() for e, _ in answers] == ["0\n"] * 4
    assert [Path(m).read_text() for _, m in answers] == [""] * 4
    mark = registry.mark()
    others = [_ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", f"t:{i}", cwd=tmp_path)
              for i in (0, 1, 3)]
    assert [p.returncode for p in others] == [0, 0, 0] and all(p.stdout == "" for p in others)
    assert registry.requests_since(mark) == [], "the later processes only read the run's outcome"
    for i in range(4):
        record = json.loads((tmp_path / "dist" / f"{i}.publish.json").read_text())
        assert record["digest"] == images[i].digest and record["pushed"][0]["tags"] == ["a"]
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert [e["status"] for e in run_record["images"]] == ["pushed"] * 4

    again = _ocikit("published", "--plan", str(plan), cwd=tmp_path)
    assert sorted(json.loads(again.stdout)["published"]) == [f"t:{i}" for i in range(4)]
    record = json.loads((tmp_path / "dist" / "1.publish.json").read_text())
    assert record["stats"]["bytes_uploaded"] == 0 and record["stats"]["manifests_present"] == 1


def test_push_run_answers_for_a_failed_image_with_its_error(plain_registry, auth_env, repo, tmp_path):
    shared = shared_layer(tmp_path / "shared", 1024)
    images = write_small_images(tmp_path / "layouts", 2, shared, label=repo)
    # The second destination is a port nothing listens on.
    plan = _plan(tmp_path, images, [f"{plain_registry.host}/{repo}/ok:v", f"127.0.0.1:9/{repo}/down:v"])
    state = tmp_path / "state"
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "1.publish.json").write_text('{"digest": "an earlier run"}')
    bad = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:1", "--quiet", cwd=tmp_path)
    assert bad.returncode == 1
    assert "ocikit push-run: error: t:1: cannot reach 127.0.0.1:9" in bad.stderr
    good = _ocikit("push-run", "--plan", str(plan), "--state", str(state), "--image", "t:0", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    run_record = json.loads((tmp_path / "dist" / "oci-publish.json").read_text())
    assert [e["status"] for e in run_record["images"]] == ["pushed", "failed"]
    assert not (tmp_path / "dist" / "1.publish.json").exists()
    from ocikit.registry.run_cli import answer_paths

    exit_path, err_path = answer_paths(str(state / "run-1"), 1)
    assert Path(exit_path).read_text() == "1\n" and Path(err_path).read_text() == bad.stderr
