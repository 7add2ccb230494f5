"""Promotion by digest (issue 24 item 2): an image a registry holds, copied unchanged with its
cosign attachments, mounted on its own registry and streamed to another; checked with skopeo."""

from __future__ import annotations

import hashlib
import json

import pytest
from registry_fixtures import served_manifest, skopeo
from registry_images import attach, write_image

from ocikit.registry import push_layout
from ocikit.registry.promote import PromotionError, promote_image
from ocikit.registry.push import PushSession
from ocikit.signing.cosign import signature_tag


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(plain_registry, repo, tmp_path, auth_env):
    """A two-platform image pushed to `repo/src` with a .sig on its index and an .att on one
    platform's manifest."""
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), label=repo, runnable=False)
    push_layout(str(image.layout), [f"{plain_registry.host}/{repo}/src:staging"])
    attachments = {
        signature_tag(image.digest, "sig"): attach(plain_registry.host, f"{repo}/src", image.digest, "sig"),
        signature_tag(image.manifests["linux/arm64"], "att"): attach(
            plain_registry.host, f"{repo}/src", image.manifests["linux/arm64"], "att"
        ),
    }
    return image, attachments


def test_promotion_copies_the_index_its_manifests_and_attachments_unchanged(plain_registry, new_registry, source, repo):
    image, attachments = source
    other = new_registry("none")
    src = f"{plain_registry.host}/{repo}/src@{image.digest}"
    with PushSession() as session:
        summary = promote_image(
            session, src, [f"{plain_registry.host}/{repo}/prod:1.0", f"{other.host}/{repo}/prod:1.0"]
        )
    assert summary.digest == image.digest
    same, streamed = summary.pushed
    assert (same.ref, streamed.ref) == (
        f"{plain_registry.host}/{repo}/prod@{image.digest}",
        f"{other.host}/{repo}/prod@{image.digest}",
    )
    stats = summary.stats
    blobs = len(set(image.blobs)) + len(attachments) + 1  # a payload each, and the config they share
    assert stats.blobs_mounted + stats.blobs_present + stats.blobs_uploaded == 2 * blobs
    assert stats.blobs_uploaded >= len(set(image.blobs))  # the other registry gets every image blob
    assert stats.blobs_mounted >= len(set(image.blobs))  # its own registry mounts them
    assert stats.attachments_copied == 2 * len(attachments)
    for registry in (plain_registry, other):
        for reference in (f"{repo}/prod:1.0", f"{repo}/prod@{image.digest}"):
            assert _sha(served_manifest(registry, reference)) == image.digest
        for child in image.manifests.values():
            assert _sha(served_manifest(registry, f"{repo}/prod@{child}")) == child
        for tag, manifest in attachments.items():
            assert served_manifest(registry, f"{repo}/prod:{tag}") == manifest
    # skopeo reads every platform's image, blobs included, from the streamed copy.
    for arch in ("amd64", "arm64"):
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--override-arch",
            arch,
            "--preserve-digests",
            f"docker://{other.host}/{repo}/prod:1.0",
            f"dir:{other.root / arch}",
        )


def test_promoting_again_sends_nothing(plain_registry, source, repo):
    image, _ = source
    src = f"{plain_registry.host}/{repo}/src@{image.digest}"
    with PushSession() as session:
        promote_image(session, src, [f"{plain_registry.host}/{repo}/again:1"])
        again = promote_image(session, src, [f"{plain_registry.host}/{repo}/again:1"])
    assert (again.stats.blobs_uploaded, again.stats.blobs_mounted, again.stats.bytes_uploaded) == (0, 0, 0)
    assert again.stats.manifests_pushed == 0 and again.stats.attachments_copied == 0


def test_a_digest_the_source_lacks_is_refused_naming_it(plain_registry, source, repo):
    missing = "sha256:" + "0" * 64
    with PushSession() as session, pytest.raises(PromotionError) as raised:
        promote_image(session, f"{plain_registry.host}/{repo}/src@{missing}", [f"{plain_registry.host}/{repo}/x:1"])
    assert str(raised.value) == (
        f"{plain_registry.host}/{repo}/src has no manifest {missing}: the digest to "
        "promote must be one the source serves"
    )
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{plain_registry.host}/{repo}/x", check=False)
    assert listed.returncode != 0 or json.loads(listed.stdout)["Tags"] in (None, [])  # nothing was written


def test_a_source_not_pinned_by_digest_is_refused(plain_registry, source, repo):
    with PushSession() as session, pytest.raises(PromotionError) as raised:
        promote_image(session, f"{plain_registry.host}/{repo}/src:staging", [f"{plain_registry.host}/{repo}/x:1"])
    assert "is not pinned by digest" in str(raised.value)
    assert f"{plain_registry.host}/{repo}/src@sha256:<64 hex digits>" in str(raised.value)


def test_a_signing_promotion_keeps_the_sources_signature_and_adds_ours(
    plain_registry, new_registry, repo, tmp_path, auth_env
):
    """The source's cosign signature (another key's) travels with the image; a session with our
    signer adds our signature beside it; openssl verifies both at the destination."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore_policy import openssl_verified

    from ocikit.registry.sign import Signer
    from ocikit.signing.keys import SigningKey

    keys = {}
    for name in ("theirs", "ours"):
        keys[name] = SigningKey(ec.generate_private_key(ec.SECP256R1()))
        (tmp_path / f"{name}.pub").write_bytes(keys[name].public_key().pem())
    image = write_image(tmp_path / "layout", label=repo, runnable=False)
    with PushSession(signer=Signer(keys["theirs"])) as session:
        session.push(str(image.layout), [f"{plain_registry.host}/{repo}/src:staging"])
    other = new_registry("none")
    with PushSession(signer=Signer(keys["ours"])) as session:
        summary = promote_image(
            session, f"{plain_registry.host}/{repo}/src@{image.digest}", [f"{other.host}/{repo}/prod:1.0"]
        )
    assert (summary.stats.attachments_copied, summary.stats.signatures_pushed) == (1, 1)
    for name in ("theirs", "ours"):
        assert (
            len(openssl_verified(tmp_path / name, other.host, f"{repo}/prod", image.digest, tmp_path / f"{name}.pub"))
            == 1
        ), name


def test_the_promote_command_copies_and_reports_and_a_bad_source_is_one_line(
    plain_registry, new_registry, source, repo, tmp_path
):
    import os
    import subprocess
    import sys

    image, _ = source
    other = new_registry("none")

    def ocikit(*args):
        return subprocess.run(
            [sys.executable, "-m", "ocikit", "promote", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "no-config")},
            timeout=120,
        )

    done = ocikit(
        f"{plain_registry.host}/{repo}/src@{image.digest}",
        "--dest",
        f"{other.host}/{repo}/cli:1",
        "--record",
        str(tmp_path / "promoted.json"),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert f"pushed {other.host}/{repo}/cli@{image.digest} (tags: 1)" in done.stdout
    assert json.loads((tmp_path / "promoted.json").read_text())["digest"] == image.digest
    assert _sha(served_manifest(other, f"{repo}/cli:1")) == image.digest

    bad = ocikit(f"{plain_registry.host}/{repo}/src:staging", "--dest", f"{other.host}/{repo}/cli:2", "--quiet")
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        f"ocikit promote: error: the source {plain_registry.host}/{repo}/src:staging is not pinned by digest"
    )
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
