"""`python -m ocikit push|pull|inspect` as Pants runs it: output formats, errors, secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
from registry_images import write_image


def ocikit(*args, env=None, check=None):
    result = subprocess.run(
        [sys.executable, "-m", "ocikit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_push_pull_inspect_outputs(registry, docker_config, repo, tmp_path):
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), label="cli " + registry.mode)
    host = registry.host
    record = tmp_path / "push.json"
    result = ocikit(
        "push",
        str(tmp_path / "layout"),
        "--dest",
        f"{host}/{repo}:1.0",
        "--dest",
        f"{host}/{repo}:latest",
        "--dest",
        f"{host}/{repo}/mirror",
        "--record",
        str(record),
        "--jobs",
        "2",
        check=0,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == f"pushed {host}/{repo}@{image.digest} (tags: 1.0, latest)"
    assert lines[1] == f"pushed {host}/{repo}/mirror@{image.digest}"
    assert lines[2].startswith(f"blobs: {len(image.blobs)} uploaded, {len(image.blobs)} mounted, 0 already present; ")
    pushed = json.loads(record.read_text())
    assert pushed["digest"] == image.digest
    assert pushed["pushed"] == [
        {"ref": f"{host}/{repo}@{image.digest}", "digest": image.digest, "tags": ["1.0", "latest"]},
        {"ref": f"{host}/{repo}/mirror@{image.digest}", "digest": image.digest, "tags": []},
    ]
    assert set(pushed["stats"]) == {
        "blobs_uploaded",
        "blobs_mounted",
        "blobs_present",
        "bytes_uploaded",
        "manifests_pushed",
        "manifests_present",
        "tags_pushed",
        "signatures_pushed",
        "signatures_present",
        "attestations_pushed",
        "attestations_present",
        "attachments_copied",
        "attachments_present",
        "seconds",
    }
    assert "Traceback" not in result.stderr

    raw = ocikit("inspect", f"{host}/{repo}:1.0", "--raw", check=0).stdout
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == image.digest
    described = json.loads(ocikit("inspect", f"{host}/{repo}:1.0", check=0).stdout)
    assert described["digest"] == image.digest and described["tag"] == "1.0"
    assert sorted(m["platform"] for m in described["manifests"]) == ["linux/amd64", "linux/arm64"]
    arm = json.loads(ocikit("inspect", f"{host}/{repo}@{image.digest}", "--platform", "linux/arm64", check=0).stdout)
    assert arm["manifest"] == image.manifests["linux/arm64"]
    assert arm["config"]["architecture"] == "arm64" and arm["config"]["Entrypoint"] == ["/bin/busybox"]

    out, pull_record = tmp_path / "pulled", tmp_path / "pull.json"
    result = ocikit(
        "pull",
        f"{host}/{repo}@{image.digest}",
        "--platform",
        "linux/arm64",
        "--out",
        str(out),
        "--record",
        str(pull_record),
        check=0,
    )
    assert result.stdout.splitlines()[0] == f"pulled {host}/{repo}@{image.digest} into {out}"
    pulled = json.loads(pull_record.read_text())
    assert pulled["digest"] == image.digest
    assert pulled["manifests"][0]["digest"] == image.manifests["linux/arm64"]
    assert pulled["manifests"][0]["platform"] == "linux/arm64"


def test_errors_are_one_line_without_traceback(plain_registry, repo, tmp_path, auth_env):
    image = write_image(tmp_path / "layout")
    host = plain_registry.host
    ocikit("push", str(tmp_path / "layout"), "--dest", f"{host}/{repo}:t", "--quiet", check=0)
    cases = [
        (
            ("push", str(tmp_path / "layout"), "--dest", f"{host}/Bad"),
            "ocikit push: error: invalid repository 'Bad' in image reference",
        ),
        (
            ("push", str(tmp_path / "nope"), "--dest", f"{host}/{repo}"),
            f"ocikit push: error: {tmp_path / 'nope'} is not a directory",
        ),
        (
            ("pull", f"{host}/{repo}:t", "--platform", "linux/amd64", "--out", str(tmp_path / "o")),
            f"ocikit pull: error: {host}/{repo}:t names a tag, which can move; pull by digest instead: "
            f"{host}/{repo}:t@{image.digest}",
        ),
        (("inspect", f"{host}/{repo}:missing"), "ocikit inspect: error: fetching manifest missing from"),
        (
            ("push", str(tmp_path / "layout"), "--dest", f"{host}/{repo}", "--insecure-registry", "https://x.io"),
            "ocikit push: error: invalid registry 'https://x.io': give HOST[:PORT] without a scheme",
        ),
    ]
    for args, expected in cases:
        result = ocikit(*args)
        assert result.returncode == 1, result
        assert result.stderr.startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    usage = ocikit("push", str(tmp_path / "layout"))
    assert usage.returncode == 2
    assert usage.stderr.strip() == "ocikit push: error: the following arguments are required: --dest (see --help)"


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_credentials_never_appear_in_output_or_debug_logs(registry_pool, mode, repo, tmp_path):
    registry = registry_pool(mode)
    config_dir = registry.docker_config(tmp_path / "cfg")
    env = {"DOCKER_CONFIG": str(config_dir), "OCIKIT_LOG_LEVEL": "debug"}
    write_image(tmp_path / "layout", extra_layer_size=2 << 20, label="secret " + mode)
    issued_before = len(registry.token_server.issued) if registry.token_server else 0
    log_file = tmp_path / "debug.log"
    runs = [
        ocikit(
            "push",
            str(tmp_path / "layout"),
            "--dest",
            f"{registry.host}/{repo}:s",
            "--dest",
            f"{registry.host}/{repo}/two:s",
            "--log-level",
            "debug",
            "--log-file",
            str(log_file),
            env=env,
            check=0,
        ),
        ocikit("push", str(tmp_path / "layout"), "--dest", f"{registry.host}/{repo}:s", env=env, check=0),
    ]
    wrong = "wrong-secret-Zq8x-7781"
    registry.docker_config(tmp_path / "bad", secret=wrong)
    runs.append(
        ocikit(
            "push",
            str(tmp_path / "layout"),
            "--dest",
            f"{registry.host}/{repo}:s",
            env={**env, "DOCKER_CONFIG": str(tmp_path / "bad")},
            check=1,
        )
    )
    secrets = [registry.password, wrong]
    secrets += [base64.b64encode(f"{registry.username}:{s}".encode()).decode() for s in secrets]
    if registry.token_server:
        tokens = registry.token_server.issued[issued_before:]
        assert tokens, "the token server issued no token"
        secrets += tokens + [t.split(".")[2] for t in tokens]
    texts = [log_file.read_text()] + [r.stdout for r in runs] + [r.stderr for r in runs]
    everything = "\n".join(texts)
    assert "DEBUG" in texts[0] and "PUT http://" in texts[0]  # the debug log did log requests
    assert "UNAUTHORIZED" in runs[2].stderr
    for secret in secrets:
        assert secret not in everything
    assert "Authorization" not in everything and "Basic " not in everything and "Bearer ey" not in everything


def test_mount_from_and_insecure_flags(plain_registry, repo, tmp_path, auth_env):
    host = plain_registry.host
    write_image(tmp_path / "base", label="cli base")
    ocikit("push", str(tmp_path / "base"), "--dest", f"{host}/{repo}/base:1", "--quiet", check=0)
    app = write_image(tmp_path / "app", label="cli app")
    record = tmp_path / "r.json"
    ocikit(
        "push",
        str(tmp_path / "app"),
        "--dest",
        f"{host}/{repo}/app:1",
        "--mount-from",
        f"{host}/{repo}/base",
        "--insecure-registry",
        host,
        "--record",
        str(record),
        check=0,
    )
    stats = json.loads(record.read_text())["stats"]
    assert (stats["blobs_mounted"], stats["blobs_uploaded"]) == (1, len(app.blobs) - 1)
