"""Attach cosign signatures to pushed images, and find them again.

`sign_digest` signs one manifest digest in one repository: it reads the `sha256-HEX.sig`
manifest there, keeps it as it is when it already holds a signature of ours for that digest
(an unchanged re-publish signs nothing and sends nothing), and otherwise adds our layer to the
other signers' and pushes the payload, the config and the manifest under the tag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from ocikit.contracts.publish import Signing
from ocikit.registry.client import RepositoryClient
from ocikit.signing.cosign import (
    OCI_MANIFEST,
    SignatureLayer,
    find_valid_signature,
    new_signature_layer,
    signature_image,
    signature_layers,
    signature_tag,
    simple_signing_payload,
)
from ocikit.signing.keys import SigningKey, VerifyKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signer:
    """What `publish` signs with: the key, and whether each platform's manifest of an index is
    signed too (the index always is)."""

    key: SigningKey
    platform_manifests: bool = False

    def digests(self, top: str, children: "list[str]") -> list[str]:
        return [*(children if self.platform_manifests else []), top]

    def __repr__(self) -> str:
        return f"Signer(platform_manifests={self.platform_manifests})"


def attachment_manifest(client: RepositoryClient, digest: str, suffix: str) -> bytes:
    """The bytes of the `sha256-HEX.<suffix>` manifest beside `digest` (`sig`, `att`); empty
    when there is none."""
    tag = signature_tag(digest, suffix)
    if client.head_manifest(tag) is None:
        return b""
    return client.get_manifest(tag).data or b""


def existing_signatures(client: RepositoryClient, digest: str) -> list[SignatureLayer]:
    return signature_layers(attachment_manifest(client, digest, "sig"))


def is_signed(client: RepositoryClient, digest: str, keys: "list[VerifyKey]") -> Optional[VerifyKey]:
    """The first of `keys` that signed `digest` in this repository, or None."""
    layers = existing_signatures(client, digest)
    for key in keys:
        if find_valid_signature(layers, digest, key.verify, client.fetch_blob_bytes) is not None:
            return key
    return None


def sign_digest(client: RepositoryClient, reference: str, digest: str, key: SigningKey) -> bool:
    """Sign `digest` in `client`'s repository, naming it `reference` (registry/repository, as
    the image is pulled); False when a signature of ours was already there (nothing sent)."""
    layers = existing_signatures(client, digest)
    public = key.public_key()
    if find_valid_signature(layers, digest, public.verify, client.fetch_blob_bytes) is not None:
        return False
    payload = simple_signing_payload(reference, digest)
    layers.append(new_signature_layer(payload, key.sign(payload)))
    manifest, config = signature_image(layers)
    for blob in (payload, config):
        client.put_small_blob(blob)
    client.put_manifest(signature_tag(digest), manifest, OCI_MANIFEST)
    log.info("signed %s@%s", client.name, digest)
    return True


def load_signer(signing: Signing) -> Signer:
    """The signer a push plan asks for: its key read from its path, decrypted with the password
    in the environment variable it names. Errors name the option, never the password."""
    import os

    from ocikit.signing.keys import SigningKeyError, load_signing_key

    where = f"[oci].signing_key ({signing.key})"
    try:
        with open(signing.key, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SigningKeyError(f"{where} cannot be read: {e.strerror}") from None
    password = os.environ.get(signing.password_env)
    try:
        key = load_signing_key(data, password.encode() if password else None, where)
    except SigningKeyError as e:
        if password is None and "no password was given" in str(e):
            raise SigningKeyError(f"{e}: set ${signing.password_env} ([oci].signing_key_password_env)") from None
        raise
    return Signer(key, signing.platform_manifests)
