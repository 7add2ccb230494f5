"""The small API steps against a real registry: mounts refused, tags, manifests, blobs."""

from __future__ import annotations

import json

import pytest
from registry_images import OCI_MANIFEST, sha256, write_image

from ocikit.registry import DigestMismatchError, NotFoundError, RegistryError, push_layout
from ocikit.registry.client import RepositoryClient
from ocikit.registry.transport import Transport
from ocikit.registry.upload import upload_blob


@pytest.fixture
def client(plain_registry, repo, auth_env):
    transport = Transport(plain_registry.host)
    yield RepositoryClient(transport, repo, push=True)
    transport.close()


def test_a_refused_mount_becomes_the_upload(client, tmp_path):
    data = b"blob that no other repository holds"
    path = tmp_path / "blob"
    path.write_bytes(data)
    location = client.mount_blob(sha256(data), "nowhere/else")
    assert location is not None and "/blobs/uploads/" in location
    assert upload_blob(client, str(path), sha256(data), len(data), location=location) == len(data)
    assert client.blob_size(sha256(data)) == len(data)


def test_tags_manifests_and_blob_checks(client, plain_registry, repo, tmp_path):
    image = write_image(tmp_path / "layout", label="client")
    push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/{repo}:a", f"{plain_registry.host}/{repo}:b"])
    head = client.head_manifest("a")
    assert (head.digest, head.media_type) == (image.digest, OCI_MANIFEST)
    assert client.head_manifest("b").digest == image.digest
    assert client.head_manifest("nope") is None
    manifest = client.get_manifest(image.digest)
    assert sha256(manifest.data) == image.digest
    config_digest = json.loads(manifest.data)["config"]["digest"]
    assert sha256(client.fetch_blob_bytes(config_digest)) == config_digest
    with pytest.raises(NotFoundError) as info:
        client.get_manifest("missing")
    assert info.value.code == "MANIFEST_UNKNOWN" and "no manifest with that tag or digest" in str(info.value)
    # A manifest whose blobs the registry does not hold is refused with the spec's code.
    bogus = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "1" * 64,
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    with pytest.raises(RegistryError) as info:
        client.put_manifest("bogus", bogus, OCI_MANIFEST)
    assert info.value.code == "MANIFEST_BLOB_UNKNOWN" and info.value.status == 400


def test_fetch_blob_verifies_size_and_keeps_nothing_on_mismatch(client, plain_registry, repo, tmp_path):
    image = write_image(tmp_path / "layout", label="fetch")
    push_layout(str(tmp_path / "layout"), [f"{plain_registry.host}/{repo}:f"])
    layer = image.blobs[0]
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(DigestMismatchError, match="larger than the 10 bytes expected"):
        client.fetch_blob(layer, str(dest / "blob"), expected_size=10)
    assert list(dest.iterdir()) == []
    assert client.fetch_blob(layer, str(dest / "blob"), expected_size=image.sizes[layer]) == image.sizes[layer]
    assert sha256((dest / "blob").read_bytes()) == layer
