"""The pure parts of promotion (ocikit.registry.promote): what a source must be, and which blobs
a manifest brings (foreign layers stay behind, as a pull leaves them)."""

from __future__ import annotations

import json

import pytest

from ocikit import media_types
from ocikit.registry.client import ManifestInfo
from ocikit.registry.promote import PromotionError, _blobs_of, pinned_source

DIGEST = "sha256:" + "ab" * 32


def _manifest(value: dict, media_type: str = media_types.OCI_MANIFEST) -> ManifestInfo:
    data = json.dumps(value).encode()
    return ManifestInfo(media_type, DIGEST, len(data), data)


def test_a_source_must_be_pinned_by_digest():
    assert pinned_source(f"r.example.com/staging/web:1@{DIGEST}").digest == DIGEST
    with pytest.raises(
        PromotionError,
        match=r"^the source r.example.com/staging/web:1 is not pinned by digest: "
        r"promote r.example.com/staging/web@sha256:<64 hex digits>",
    ):
        pinned_source("r.example.com/staging/web:1")


def test_a_manifest_brings_its_config_and_layers_but_not_foreign_layers():
    config = {"mediaType": media_types.OCI_CONFIG, "digest": "sha256:" + "01" * 32, "size": 7}
    layer = {"mediaType": media_types.OCI_LAYER_GZIP, "digest": "sha256:" + "02" * 32, "size": 9}
    foreign = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": "sha256:" + "03" * 32,
        "size": 11,
        "urls": ["https://example.com/layer"],
    }
    blobs = _blobs_of(_manifest({"config": config, "layers": [layer, foreign]}))
    assert blobs == {config["digest"]: 7, layer["digest"]: 9}
    assert _blobs_of(_manifest({"manifests": []}, media_types.OCI_INDEX)) == {}
