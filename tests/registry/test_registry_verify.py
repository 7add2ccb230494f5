"""`ocikit verify` (ocikit.registry.verify) against the real Distribution registry, in every auth
mode: each state a tag can be in (signed, unsigned, moved to another image, missing tag,
missing repository), and registry images we did not write: Docker media types (skopeo
--format v2s2) and zstd layers. Nothing is written to the registry by the verify itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from real_parts import needs
from registry_fixtures import skopeo
from registry_images import write_image

from ocikit.canonical_json import canonical_json
from ocikit.contracts.verify import (
    DIFFERS,
    MATCHES_NO_KEYS,
    MATCHES_SIGNED,
    MATCHES_UNSIGNED,
    MISSING,
    PublicKey,
    VerifyImage,
    VerifyPlan,
)
from ocikit.digest import sha256_digest
from ocikit.layer import build_layer, plan_layer
from ocikit.layout import OCI_LAYOUT_BYTES, blob_path
from ocikit.media_types import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, REF_NAME
from ocikit.registry.auth import DefaultKeychain
from ocikit.registry.client import RepositoryClient
from ocikit.registry.push import push_layout
from ocikit.registry.sign import sign_digest
from ocikit.registry.transport import Transport
from ocikit.registry.verify import verify_plan
from ocikit.signing.keys import SigningKey

pytestmark = needs("docker-registry")


def key_pair(name: str):
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    return key, PublicKey(f"keys/{name}.pub", key.public_key().pem().decode())


def writes(registry, mark: int) -> list:
    return [r for r in registry.requests_since(mark) if r.method in ("PUT", "POST", "PATCH", "DELETE")]


def test_each_state_of_a_tag_in_every_auth_mode(registry, docker_config, repo: str, tmp_path: Path):
    ours, ours_public = key_pair("ours")
    image = write_image(tmp_path / "image", label=repo, runnable=False)
    other = write_image(tmp_path / "other", label=repo + "-other", extra_layer_size=3000, runnable=False)
    host = registry.host
    push_layout(str(image.layout), [f"{host}/{repo}:v1"])
    sign_digest(
        RepositoryClient(Transport(host, keychain=DefaultKeychain()), repo, push=True),
        f"{host}/{repo}",
        image.digest,
        ours,
    )
    push_layout(str(other.layout), [f"{host}/{repo}:moved"])
    destinations = (f"{host}/{repo}:v1", f"{host}/{repo}:moved", f"{host}/{repo}:absent", f"{host}/{repo}-none:v1")
    mark = registry.mark()
    result = verify_plan(
        VerifyPlan(
            (VerifyImage("t:image", str(image.layout), image.digest, destinations),), (ours_public,), max_paths=5
        )
    )
    assert writes(registry, mark) == [], "verifying reads only"
    signed, moved, absent, no_repository = result.verdicts
    assert (signed.status, signed.detail[:29]) == (MATCHES_SIGNED, "signed with keys/ours.pub (sh")
    assert (moved.status, moved.registry_digest) == (DIFFERS, other.digest)
    assert moved.detail == "the tag names another image (1 layer differs)"
    assert moved.notes == ("linux/amd64: config differs: config.Labels",)
    (layer,) = moved.layers
    assert (layer.index, layer.summary, layer.here_digest) == (1, "only in the registry", None)
    assert [(p.path, p.change) for p in layer.paths] == [("/data", "removed"), ("/data/random.bin", "removed")]
    assert (absent.status, absent.detail) == (MISSING, f"no tag absent in {host}/{repo}")
    assert (no_repository.status, no_repository.detail) == (MISSING, f"no repository {host}/{repo}-none")
    assert not result.ok


def test_an_unsigned_match_says_what_it_found(plain_registry, auth_env, repo: str, tmp_path: Path):
    host = plain_registry.host
    ours, ours_public = key_pair("ours")
    theirs, _ = key_pair("theirs")
    unsigned = write_image(tmp_path / "unsigned", label=repo + "u", runnable=False)
    by_them = write_image(tmp_path / "theirs", label=repo + "t", runnable=False)
    push_layout(str(unsigned.layout), [f"{host}/{repo}/unsigned:v1"])
    push_layout(str(by_them.layout), [f"{host}/{repo}/theirs:v1"])
    sign_digest(
        RepositoryClient(Transport(host), f"{repo}/theirs", push=True), f"{host}/{repo}/theirs", by_them.digest, theirs
    )
    images = (
        VerifyImage("t:u", str(unsigned.layout), unsigned.digest, (f"{host}/{repo}/unsigned:v1",)),
        VerifyImage("t:t", str(by_them.layout), by_them.digest, (f"{host}/{repo}/theirs:v1",)),
    )
    first, second = verify_plan(VerifyPlan(images, (ours_public,))).verdicts
    assert (first.status, first.detail) == (
        MATCHES_UNSIGNED,
        f"no signature: no {unsigned.digest.replace(':', '-')}.sig in {host}/{repo}/unsigned",
    )
    assert (second.status, second.detail) == (
        MATCHES_UNSIGNED,
        f"1 signature in {host}/{repo}/theirs, none verifies with a key of [oci-verify].keys",
    )
    without_keys = verify_plan(VerifyPlan(images))
    assert [v.status for v in without_keys.verdicts] == [MATCHES_NO_KEYS, MATCHES_NO_KEYS]
    assert without_keys.ok


def _tree_layout(path: Path, files: Dict[str, bytes], compression: str) -> str:
    """A layout of one layer built by ocikit from `files`, tagged `latest`; its digest."""
    tree = path.with_name(path.name + "-tree")
    for name, content in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(content)
    (path / "blobs" / "sha256").mkdir(parents=True)
    layer_path = path / "layer.tmp"
    with open(layer_path, "wb") as out:
        layer = build_layer(plan_layer(str(tree), "/srv"), out, compression=compression)
    layer_path.rename(path / blob_path(layer.digest))

    def put(data: bytes) -> str:
        (path / blob_path(sha256_digest(data))).write_bytes(data)
        return sha256_digest(data)

    config = canonical_json(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
            "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
        }
    )
    digest = put(manifest)
    (path / "oci-layout").write_bytes(OCI_LAYOUT_BYTES)
    (path / "index.json").write_bytes(
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": digest,
                        "size": len(manifest),
                        "annotations": {REF_NAME: "latest"},
                    }
                ],
            }
        )
    )
    return digest


@pytest.mark.usefixtures("need_skopeo")
def test_docker_media_types_and_zstd_layers_are_read(plain_registry, auth_env, repo: str, tmp_path: Path):
    host = plain_registry.host
    files = {"app/main.py": b"print('hello')\n", "app/data.bin": bytes(range(256)) * 64}
    here = _tree_layout(tmp_path / "here", files, "gzip")
    edited = _tree_layout(tmp_path / "edited", {**files, "app/main.py": b"print('hello, world')\n"}, "gzip")
    zstd = _tree_layout(tmp_path / "zstd", files, "zstd")
    for layout, tag in (("here", "docker"), ("edited", "edited")):
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            f"oci:{tmp_path / layout}:latest",
            f"docker://{host}/{repo}:{tag}",
        )
    push_layout(str(tmp_path / "zstd"), [f"{host}/{repo}:zstd"])
    destinations = tuple(f"{host}/{repo}:{tag}" for tag in ("docker", "edited", "zstd"))
    converted, moved, recompressed = verify_plan(
        VerifyPlan((VerifyImage("t:here", str(tmp_path / "here"), here, destinations),))
    ).verdicts
    served = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/{repo}:edited").stdout)
    assert served["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert converted.status == DIFFERS and converted.layers == ()
    assert converted.notes == (
        "layers and config are the same: the manifests differ (annotations, media types or encoding)",
    )
    (layer,) = moved.layers
    assert [(p.path, p.change, p.detail) for p in layer.paths] == [
        ("/srv/app/main.py", "changed", "content (22 -> 15 bytes)")
    ]
    assert moved.registry_digest != edited, "skopeo wrote Docker media types: another digest"
    (layer,) = recompressed.layers
    assert (recompressed.registry_digest, layer.summary) == (
        zstd,
        "same diff_id, compressed differently (zstd in the registry, gzip here)",
    )
