"""cosign's signature format, as values: the simple-signing payload and the signature image.

A signature of the image `REPO@sha256:HEX` is stored in REPO under the tag `sha256-HEX.sig`: an
OCI manifest whose every layer is one signature, the layer's blob the payload (media type
`application/vnd.dev.cosign.simplesigning.v1+json`) and its annotation
`dev.cosignproject.cosign/signature` the base64 ASN.1 signature of the payload's bytes.
containers/image (podman, skopeo) reads exactly this with `use-sigstore-attachments: true`,
and `cosign verify --key` checks it. Several signers add layers to the same manifest.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ocikit.canonical_json import canonical_json
from ocikit.digest import sha256_digest

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def signature_tag(digest: str, suffix: str = "sig") -> str:
    """`sha256-HEX.sig`: where cosign keeps the signatures of `digest` (`.att` attestations)."""
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}-{hex_}.{suffix}"


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The bytes cosign signs: the repository (no tag, as `cosign sign` writes it) and the
    manifest digest, in cosign's field order. The same inputs always give the same bytes, so a
    signature already made for them can be recognised by the payload's digest."""
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": digest},
                "type": PAYLOAD_TYPE,
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def payload_claims(payload: bytes) -> Optional[tuple[str, str]]:
    """(docker-reference, docker-manifest-digest) of a simple-signing payload; None when it is
    not one (another tool's layer, garbage)."""
    try:
        critical = json.loads(payload)["critical"]
        if critical["type"] != PAYLOAD_TYPE:
            return None
        return str(critical["identity"]["docker-reference"]), str(critical["image"]["docker-manifest-digest"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class SignatureLayer:
    payload_digest: str
    size: int
    signature: str  # base64, as in the annotation
    annotations: tuple[tuple[str, str], ...] = ()  # every annotation of the layer, kept as found

    def descriptor(self) -> dict[str, Any]:
        annotations = dict(self.annotations)
        annotations[SIGNATURE_ANNOTATION] = self.signature
        return {
            "mediaType": SIMPLE_SIGNING,
            "digest": self.payload_digest,
            "size": self.size,
            "annotations": annotations,
        }

    def signature_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.signature, validate=True)
        except ValueError:
            return b""


def new_signature_layer(payload: bytes, signature: bytes) -> SignatureLayer:
    return SignatureLayer(sha256_digest(payload), len(payload), base64.b64encode(signature).decode())


def signature_layers(manifest: bytes) -> list[SignatureLayer]:
    """The signature layers of a `.sig` manifest (other layers are left out)."""
    try:
        layers = json.loads(manifest).get("layers") or []
    except ValueError:
        return []
    found = []
    for layer in layers:
        annotations = layer.get("annotations") or {}
        if layer.get("mediaType") == SIMPLE_SIGNING and SIGNATURE_ANNOTATION in annotations:
            found.append(
                SignatureLayer(
                    layer["digest"],
                    int(layer["size"]),
                    annotations[SIGNATURE_ANNOTATION],
                    tuple(sorted(annotations.items())),
                )
            )
    return found


def signature_image(layers: Sequence[SignatureLayer]) -> tuple[bytes, bytes]:
    """(manifest, config) bytes of a signature image holding `layers`, in order."""
    return attachment_image([layer.descriptor() for layer in layers])


def attachment_image(layers: Sequence[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(manifest, config) bytes of a cosign attachment (`.sig`, `.att`) whose layers are these
    descriptors. The config is the empty image config cosign writes, its rootfs naming each
    layer's blob (they are not tars: nothing unpacks them)."""
    config = canonical_json(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            "config": {},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": list(layers),
        }
    )
    return manifest, config


def find_valid_signature(
    layers: Sequence[SignatureLayer], digest: str, verify: Callable[[bytes, bytes], bool], fetch: Callable[[str], bytes]
) -> Optional[SignatureLayer]:
    """The first layer whose payload names `digest` and whose signature `verify` accepts."""
    for layer in layers:
        payload = fetch(layer.payload_digest)
        claims = payload_claims(payload)
        if claims is not None and claims[1] == digest and verify(payload, layer.signature_bytes()):
            return layer
    return None
