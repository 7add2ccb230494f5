"""Attach signed attestations (in-toto statements in DSSE envelopes) to pushed images, as
`cosign attest` does: under the tag `sha256-HEX.att` in the image's repository, one layer per
attestation, annotated with its predicate type (what `cosign verify-attestation --type` picks).

An attestation already there with the same statement, signed by our key, is kept as it is: an
unchanged re-publish attests nothing again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ocikit.digest import sha256_digest
from ocikit.registry.client import RepositoryClient
from ocikit.registry.sign import attachment_manifest
from ocikit.signing.cosign import OCI_MANIFEST, SIGNATURE_ANNOTATION, attachment_image, signature_tag
from ocikit.signing.dsse import DSSE_ENVELOPE, envelope, open_envelope, statement
from ocikit.signing.keys import SigningKey, VerifyKey

log = logging.getLogger(__name__)
PREDICATE_ANNOTATION = "predicateType"


@dataclass(frozen=True)
class Predicate:
    type: str
    body: Any  # JSON value


def attestation_layers(client: RepositoryClient, digest: str) -> list[dict[str, Any]]:
    """The DSSE layers of the `.att` manifest of `digest` (others are left out)."""
    layers = json.loads(attachment_manifest(client, digest, "att") or b"{}").get("layers") or []
    return [layer for layer in layers if layer.get("mediaType") == DSSE_ENVELOPE]


def verified_statements(
    client: RepositoryClient, digest: str, keys: Sequence[VerifyKey], layers: Optional[list[dict[str, Any]]] = None
) -> list[tuple[str, bytes]]:
    """(predicate type, statement bytes) of every attestation of `digest` one of `keys` signed
    (`layers`: its `.att` layers, when the caller has read them already)."""
    found = []
    for layer in attestation_layers(client, digest) if layers is None else layers:
        data = client.fetch_blob_bytes(layer["digest"], max_size=64 << 20)
        for key in keys:
            body = open_envelope(data, key.verify)
            if body is not None:
                found.append(((layer.get("annotations") or {}).get(PREDICATE_ANNOTATION, ""), body))
                break
    return found


def attest_digest(
    client: RepositoryClient, reference: str, digest: str, predicates: Sequence[Predicate], key: SigningKey
) -> tuple[int, int]:
    """Attach each predicate about `reference@digest`; (attached, already there)."""
    layers = attestation_layers(client, digest)
    present = {body for _, body in verified_statements(client, digest, [key.public_key()], layers)}
    added = 0
    for predicate in predicates:
        body = statement(reference, digest, predicate.type, predicate.body)
        if body in present:
            continue
        data = envelope(body, key.sign)
        client.put_small_blob(data)
        layers.append(
            {
                "mediaType": DSSE_ENVELOPE,
                "digest": sha256_digest(data),
                "size": len(data),
                "annotations": {SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate.type},
            }
        )
        added += 1
    if added:
        manifest, config = attachment_image(layers)
        client.put_small_blob(config)
        client.put_manifest(signature_tag(digest, "att"), manifest, OCI_MANIFEST)
        log.info("attested %s@%s (%d)", reference, digest, added)
    return added, len(predicates) - added
