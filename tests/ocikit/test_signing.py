"""Signing keys and cosign's signature format (ocikit.signing), checked against openssl."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from real_parts import needs

from ocikit.digest import sha256_digest
from ocikit.signing.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    find_valid_signature,
    new_signature_layer,
    payload_claims,
    signature_image,
    signature_layers,
    signature_tag,
    simple_signing_payload,
)
from ocikit.signing.keys import (
    SigningKey,
    SigningKeyError,
    encrypt_cosign_key,
    load_signing_key,
    load_verify_keys,
)

DIGEST = "sha256:" + "ab" * 32


def pkcs8(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_pkcs8_key_signs_and_its_public_key_verifies() -> None:
    key = load_signing_key(pkcs8(p256()), None, "test key")
    signature = key.sign(b"payload")
    public = key.public_key()
    assert public.verify(b"payload", signature)
    assert not public.verify(b"payload!", signature)
    assert not public.verify(b"payload", b"garbage")
    (again,) = load_verify_keys(public.pem(), "pub")
    assert again.key_id == public.key_id and again.verify(b"payload", signature)
    assert "BEGIN" not in repr(key)


def test_cosign_encrypted_keys_round_trip_and_refuse_a_wrong_password() -> None:
    original = SigningKey(p256())
    pem = encrypt_cosign_key(original, b"s3cret", n=1024)
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body = json.loads(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    assert (body["kdf"]["name"], body["cipher"]["name"]) == ("scrypt", "nacl/secretbox")
    loaded = load_signing_key(pem, b"s3cret", "[oci].signing_key (k)")
    assert loaded.public_key().key_id == original.public_key().key_id
    with pytest.raises(SigningKeyError, match=r"^\[oci\].signing_key \(k\): wrong password") as e:
        load_signing_key(pem, b"wrong", "[oci].signing_key (k)")
    assert "s3cret" not in str(e.value) and "wrong" in str(e.value)
    with pytest.raises(SigningKeyError, match="is an encrypted cosign key and no password was given"):
        load_signing_key(pem, None, "[oci].signing_key (k)")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not a key", "holds 0 PEM blocks"),
        (pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "only ECDSA P-256"),
        (pkcs8(ec.generate_private_key(ec.SECP384R1())), "is a secp384r1 key; only ECDSA P-256"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "holds a 'CERTIFICATE' PEM block"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable private key"),
        (
            b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            "is not a cosign encrypted key",
        ),
    ],
)
def test_unusable_keys_are_named_errors(data: bytes, message: str) -> None:
    with pytest.raises(SigningKeyError, match="^the key") as e:
        load_signing_key(data, b"pw", "the key")
    assert message in str(e.value)


def test_the_payload_is_cosigns_and_names_repository_and_digest() -> None:
    payload = simple_signing_payload("127.0.0.1:5000/team/web", DIGEST)
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/web"},'
        b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert payload_claims(payload) == ("127.0.0.1:5000/team/web", DIGEST)
    assert payload_claims(b"{}") is None and payload_claims(b"\xff") is None
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    assert signature_tag(DIGEST, "att") == "sha256-" + "ab" * 32 + ".att"


def test_the_signature_image_keeps_other_signers_and_finds_ours() -> None:
    ours, theirs = SigningKey(p256()), SigningKey(p256())
    payload = simple_signing_payload("r/web", DIGEST)
    blobs = {sha256_digest(payload): payload}
    layers = [new_signature_layer(payload, theirs.sign(payload))]
    manifest, config = signature_image(layers)
    assert find_valid_signature(signature_layers(manifest), DIGEST, ours.public_key().verify, blobs.__getitem__) is None
    layers.append(new_signature_layer(payload, ours.sign(payload)))
    manifest, config = signature_image(layers)
    parsed = json.loads(manifest)
    assert [layer["mediaType"] for layer in parsed["layers"]] == [SIMPLE_SIGNING] * 2
    assert parsed["config"]["digest"] == sha256_digest(config)
    assert json.loads(config)["rootfs"]["diff_ids"] == [sha256_digest(payload)] * 2
    found = find_valid_signature(signature_layers(manifest), DIGEST, ours.public_key().verify, blobs.__getitem__)
    assert found is not None and found.signature == layers[1].signature
    other_digest = "sha256:" + "cd" * 32
    assert (
        find_valid_signature(signature_layers(manifest), other_digest, ours.public_key().verify, blobs.__getitem__)
        is None
    )


@needs("openssl")
def test_openssl_verifies_our_signatures(tmp_path: Path) -> None:
    key = SigningKey(p256())
    payload = simple_signing_payload("r/web", DIGEST)
    layer = new_signature_layer(payload, key.sign(payload))
    (tmp_path / "pub.pem").write_bytes(key.public_key().pem())
    (tmp_path / "payload").write_bytes(payload)
    (tmp_path / "sig.der").write_bytes(
        base64.b64decode(json.loads(signature_image([layer])[0])["layers"][0]["annotations"][SIGNATURE_ANNOTATION])
    )
    verified = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "payload"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and "Verified OK" in verified.stdout, verified.stderr


@needs("openssl")
def test_dsse_envelopes_verify_with_openssl_over_the_pae_bytes(tmp_path: Path) -> None:
    from ocikit.signing.dsse import IN_TOTO, envelope, open_envelope, pae, statement

    key = SigningKey(p256())
    body = statement("r/web", DIGEST, "https://slsa.dev/provenance/v1", {"b": [2, 1], "a": "x"})
    assert body == statement("r/web", DIGEST, "https://slsa.dev/provenance/v1", {"a": "x", "b": [2, 1]})
    assert json.loads(body)["subject"] == [{"name": "r/web", "digest": {"sha256": "ab" * 32}}]
    data = envelope(body, key.sign)
    assert open_envelope(data, key.public_key().verify) == body
    assert open_envelope(data, SigningKey(p256()).public_key().verify) is None
    value = json.loads(data)
    assert value["payloadType"] == IN_TOTO and base64.b64decode(value["payload"]) == body
    (tmp_path / "pae").write_bytes(pae(IN_TOTO, body))
    assert (tmp_path / "pae").read_bytes().startswith(b"DSSEv1 28 application/vnd.in-toto+json ")
    (tmp_path / "sig.der").write_bytes(base64.b64decode(value["signatures"][0]["sig"]))
    (tmp_path / "pub.pem").write_bytes(key.public_key().pem())
    verified = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "pae"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
