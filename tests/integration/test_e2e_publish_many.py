"""`pants publish` of many images in one run, through the real ./pants against the real
Distribution registry on loopback, checked with skopeo and the registry's request log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from e2e_support import BuildRoot
from image_checks import Layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_fixtures import have_registry, skopeo, start_registry  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.registry,
    pytest.mark.skipif(not have_registry(), reason="needs docker-registry"),
]

MANY = "e2e_many"
COUNT = 6


def many_build(extra: str = "") -> str:
    images = "\n".join(
        f'oci_image(name="img{i}", layers=[":shared", ":own{i}"], repository="many/img{i}", '
        'image_tags=["v1", "latest"])\n'
        f'files(name="own{i}_files", sources=["own{i}.txt"])\n'
        f'oci_layer(name="own{i}", dependencies=[":own{i}_files"], destination="/own")'
        for i in range(COUNT)
    )
    return (
        'files(name="shared_files", sources=["shared.bin"])\n'
        'oci_layer(name="shared", dependencies=[":shared_files"], destination="/shared")\n'
        f"{images}\n{extra}"
    )


@pytest.fixture
def many(build_root: BuildRoot):
    build_root.write(f"{MANY}/shared.bin", bytes(range(256)) * 4096)  # 1 MiB, shared by every image
    for i in range(COUNT):
        build_root.write(f"{MANY}/own{i}.txt", f"image {i}\n")
    build_root.write(f"{MANY}/BUILD", many_build())
    yield build_root
    import shutil

    shutil.rmtree(build_root.path / MANY, ignore_errors=True)


def flag(*registries) -> str:
    entries = ", ".join(f"'r{i}': {{'address': '{r.host}', 'default': {i == 0}}}" for i, r in enumerate(registries))
    return f"--oci-registries={{{entries}}}"


def run_env(root: BuildRoot, **extra: str) -> dict:
    # The run is planned as a whole only for commands run from the build root, as users do.
    return {"PWD": str(root.path), **extra}


def test_many_images_are_pushed_by_one_process_then_unchanged_runs_push_nothing(many: BuildRoot, tmp_path: Path):
    root = many
    root.package(f"{MANY}::")  # `publish` packages but does not write dist/: the layouts to compare
    with start_registry(tmp_path / "registry", "none") as registry:
        first = root.run("publish", flag(registry), f"{MANY}::", env=run_env(root))
        assert first.returncode == 0, first.describe()
        assert f"{COUNT} of {COUNT} images pushed" in first.output
        assert first.output.count("published to many/img") == 2 * COUNT
        requests = registry.requests()
        shared = Layout(root.dist(f"{MANY}/img0")).layer_digests()[0]
        commits = [r for r in requests if r.method == "PUT" and f"digest={shared}" in r.uri]
        mounts = [r for r in requests if r.method == "POST" and f"mount={shared}" in r.uri and r.status == 201]
        assert (len(commits), len(mounts)) == (1, COUNT - 1), "the shared layer went up once, mounted elsewhere"
        for i in range(COUNT):
            digest = Layout(root.dist(f"{MANY}/img{i}")).top()["digest"]
            for tag in ("v1", "latest"):
                raw = skopeo(
                    "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/many/img{i}:{tag}"
                ).stdout
                assert Layout(root.dist(f"{MANY}/img{i}")).blob(digest) == raw.encode()
        record = json.loads(root.dist("oci-publish.json").read_text())
        assert [e["status"] for e in record["images"]] == ["pushed"] * COUNT

        mark = registry.mark()
        again = root.run("publish", flag(registry), f"{MANY}::", env=run_env(root))
        assert again.returncode == 0, again.describe()
        assert again.output.count("skipped (already published") == 2 * COUNT
        assert "images pushed" not in again.output, "no push process ran"
        seen = registry.requests_since(mark)
        assert {r.method for r in seen} <= {"GET", "HEAD"}, seen
        record = json.loads(root.dist(f"{MANY}/img3.publish.json").read_text())
        assert (
            record["stats"]["bytes_uploaded"] == 0
            and record["digest"] == Layout(root.dist(f"{MANY}/img3")).top()["digest"]
        )

        root.write(f"{MANY}/own3.txt", "image 3, edited\n")
        edited = root.run("publish", flag(registry), f"{MANY}::", env=run_env(root))
        assert edited.returncode == 0, edited.describe()
        assert "1 of 1 images pushed" in edited.output
        assert edited.output.count("skipped (already published") == 2 * (COUNT - 1)


def test_two_images_publishing_one_repository_tag_are_refused_before_any_push(many: BuildRoot, tmp_path: Path):
    root = many
    root.write(
        f"{MANY}/BUILD",
        many_build('oci_image(name="clash", layers=[":shared"], repository="many/img2", image_tags=["latest"])\n'),
    )
    with start_registry(tmp_path / "registry", "none") as registry:
        run = root.run("publish", flag(registry), f"{MANY}::", env=run_env(root))
        assert run.returncode != 0
        assert (
            f"{MANY}:clash and {MANY}:img2 would both be pushed to {registry.host}/many/img2:latest." in run.output
        ), run.describe()
        assert "Traceback" not in run.output
        assert not [r for r in registry.requests() if r.method in ("PUT", "POST", "PATCH")]


def test_one_registry_refusing_credentials_fails_its_images_and_the_others_are_published(
    many: BuildRoot, tmp_path: Path
):
    root = many
    root.write(
        f"{MANY}/BUILD",
        many_build()
        .replace('name="img4", layers', 'name="img4", registries=["@r1"], layers')
        .replace('name="img5", layers', 'name="img5", registries=["@r1"], layers'),
    )
    with (
        start_registry(tmp_path / "open", "none") as open_registry,
        start_registry(tmp_path / "guarded", "basic") as guarded,
    ):
        config = guarded.docker_config(tmp_path / "docker-config", secret="wrong-password")
        run = root.run(
            "publish", flag(open_registry, guarded), f"{MANY}::", env=run_env(root, DOCKER_CONFIG=str(config))
        )
        assert run.returncode != 0, run.describe()
        for i in range(4):
            assert f"✓ {open_registry.host}/many/img{i}:v1 published" in run.output, run.describe()
        for i in (4, 5):
            assert f"✕ {guarded.host}/many/img{i}:v1 failed" in run.output, run.describe()
            assert f"ocikit push-run: error: {MANY}:img{i}:" in run.output
        assert "UNAUTHORIZED" in run.output and "wrong-password" not in run.output
        statuses = {e["key"]: e["status"] for e in json.loads(root.dist("oci-publish.json").read_text())["images"]}
        assert statuses == {
            **{f"{MANY}:img{i}": "pushed" for i in range(4)},
            **{f"{MANY}:img{i}": "failed" for i in (4, 5)},
        }


@pytest.mark.parametrize("pantsd", [False, True], ids=["no-pantsd", "pantsd"])
def test_ctrl_c_during_a_publish_records_what_was_pushed_and_leaves_nothing_half_tagged(
    many: BuildRoot, tmp_path: Path, pantsd: bool
):
    import os
    import signal
    import subprocess
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
    from e2e_support import pants_env
    from fault_proxy import Fault, FaultProxy

    root = many
    root.package(f"{MANY}::")
    stalled = tuple(f"/v2/many/img{i}/" for i in range(2, COUNT))

    def decide(seen):  # uploads into images 2-5 start slowly: Ctrl-C comes while they wait
        if seen.method == "POST" and seen.path.startswith(stalled):
            return Fault(delay=3.0)
        return None

    def tag_puts(proxy):
        return {
            r.path
            for r in proxy.seen()
            if r.method == "PUT"
            and "/manifests/sha256:" not in r.path
            and "/manifests/" in r.path
            and r.status is not None
        }

    with start_registry(tmp_path / "registry", "none") as registry, FaultProxy(registry.host, decide) as proxy:
        argv = [
            "./pants",
            "--pantsd" if pantsd else "--no-pantsd",
            f"--local-store-dir={root.store}",
            f"--named-caches-dir={root.named_caches}",
            "publish",
            flag(proxy),
            f"{MANY}::",
        ]
        out_path = tmp_path / "output.txt"
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=root.path,
                env={**pants_env(), "PWD": str(root.path)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 240
            while proc.poll() is None and time.monotonic() < deadline:
                if len(tag_puts(proxy)) >= 4 and any(r.fault for r in proxy.seen()):
                    break
                time.sleep(0.02)
            assert proc.poll() is None, out_path.read_text()
            os.killpg(proc.pid, signal.SIGINT)
            returncode = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        output = out_path.read_text(errors="replace")
        # The push process exits 130; Pants 2.17 itself ends every Ctrl-C'd run with 1
        # ("Interrupted by user.", pants/bin/local_pants_runner.py).
        assert returncode in (1, 130), (returncode, output[-3000:])
        record = json.loads(root.dist("oci-publish.json").read_text())
        assert record["interrupted"] is True, record
        statuses = {e["key"]: e["status"] for e in record["images"]}
        assert set(statuses.values()) == {"pushed", "interrupted"}, statuses  # which ones: thread timing
        for i in range(COUNT):
            listed = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/many/img{i}", check=False)
            tags = sorted(json.loads(listed.stdout)["Tags"] or []) if listed.returncode == 0 else []
            expected = ["latest", "v1"] if statuses[f"{MANY}:img{i}"] == "pushed" else []
            assert tags == expected, (i, statuses, tags, output[-3000:])
            assert root.dist(f"{MANY}/img{i}.publish.json").exists() == (statuses[f"{MANY}:img{i}"] == "pushed")
