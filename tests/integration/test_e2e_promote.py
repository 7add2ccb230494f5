"""`pants publish` of an `oci_promotion` (issue 24 item 2), through the real ./pants, with an
`oci_image` in the same run: the promoted image lands at the destination with the source's
digest (skopeo reads both), with every platform's manifest and its cosign attachments, and is
reported like any image; a second publish finds it published."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from real_parts import needs
from registry_fixtures import served_manifest, start_registry
from registry_images import attach, write_image

from ocikit.registry import push_layout
from ocikit.signing.cosign import signature_tag

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo")]

BUILD = """\
oci_pull(name="staging", image="{host}/staging/web:1.4@{digest}")
oci_promotion(name="prod", source=":staging", repository="prod/web", image_tags=["1.4"])
oci_promotion(name="mirror", source="{host}/staging/web@{digest}", registries=["@mirror"],
              repository="mirror/web", image_tags=["1.4"])
"""


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_publish_promotes_by_digest_with_attachments_alongside_an_image(build_root: BuildRoot, tmp_path: Path) -> None:
    with start_registry(tmp_path / "staging", "none") as staging, start_registry(tmp_path / "mirror", "none") as mirror:
        image = write_image(
            tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), runnable=False, label="e2e promote"
        )
        push_layout(str(image.layout), [f"{staging.host}/staging/web:1.4"])
        sig = attach(staging.host, "staging/web", image.digest, "sig")
        flag = (
            f"--oci-registries={{'staging': {{'address': '{staging.host}', 'default': True}}, "
            f"'mirror': {{'address': '{mirror.host}'}}}}"
        )
        targets = ("e2e_promote:prod", "e2e_promote:mirror", "examples/hello:hello")
        with scratch_dir(build_root, "e2e_promote", {"BUILD": BUILD.format(host=staging.host, digest=image.digest)}):
            first = build_root.run("publish", flag, *targets)
            assert first.returncode == 0, first.describe()
            mounted, copied = (
                json.loads(build_root.dist(f"e2e_promote/{n}.publish.json").read_text())["stats"]
                for n in ("prod", "mirror")
            )
            second = build_root.run("publish", flag, *targets)
            assert second.returncode == 0, second.describe()

        for registry, repository in ((staging, "prod/web"), (mirror, "mirror/web")):
            assert _sha(served_manifest(registry, f"{repository}:1.4")) == image.digest
            for child in image.manifests.values():
                assert _sha(served_manifest(registry, f"{repository}@{child}")) == child
            assert served_manifest(registry, f"{repository}:{signature_tag(image.digest, 'sig')}") == sig
        same = json.loads(build_root.dist("e2e_promote/prod.publish.json").read_text())
        assert same["digest"] == image.digest
        record = {e["key"]: e for e in json.loads(build_root.dist("oci-publish.json").read_text())["images"]}
        assert record["e2e_promote:prod"]["status"] == "already published"  # the second run
        assert record["e2e_promote:mirror"]["destinations"] == [f"{mirror.host}/mirror/web:1.4"]
        assert record["examples/hello:hello"]["status"] == "already published"
        assert f"already published: prod/web@{image.digest}" in second.output
        # The first run: mounted on the source's registry, copied to the other one.
        blobs = len(set(image.blobs)) + 2  # the signature's payload and config
        assert (mounted["blobs_mounted"], mounted["blobs_uploaded"], mounted["attachments_copied"]) == (blobs, 0, 1)
        assert (copied["blobs_mounted"], copied["blobs_uploaded"], copied["attachments_copied"]) == (0, blobs, 1)


def test_publish_of_a_digest_the_source_lacks_fails_with_one_line_naming_it(
    build_root: BuildRoot, tmp_path: Path
) -> None:
    missing = "sha256:" + "0" * 64
    with start_registry(tmp_path / "staging", "none") as staging:
        build = f'oci_promotion(name="gone", source="{staging.host}/staging/web@{missing}", image_tags=["1"])\n'
        flag = f"--oci-registries={{'staging': {{'address': '{staging.host}', 'default': True}}}}"
        with scratch_dir(build_root, "e2e_promote_gone", {"BUILD": build}):
            run = build_root.run("publish", flag, "e2e_promote_gone:gone")
    assert run.returncode != 0
    assert (
        f"ocikit push-run: error: e2e_promote_gone:gone: {staging.host}/staging/web has no manifest {missing}: "
        "the digest to promote must be one the source serves"
    ) in run.output, run.describe()
    record = {e["key"]: e for e in json.loads(build_root.dist("oci-publish.json").read_text())["images"]}
    assert record["e2e_promote_gone:gone"]["status"] == "failed"
    assert not build_root.dist("e2e_promote_gone/gone.publish.json").exists()
