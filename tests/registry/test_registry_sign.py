"""Signing on push (ocikit.registry.sign) against the real Distribution registry. What the
registry holds is fetched with skopeo and each signature checked with openssl, and skopeo under
a `sigstoreSigned` policy (containers/image's check, what podman and CRI-O enforce) admits and
refuses the same images (tests/registry/sigstore_policy.py says which skopeo)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from real_parts import needs
from registry_fixtures import skopeo
from registry_images import write_image
from sigstore_policy import openssl_verified, policy_admits, sigstore_sign

from ocikit.registry.client import RepositoryClient
from ocikit.registry.push import PushSession
from ocikit.registry.sign import Signer, existing_signatures, is_signed
from ocikit.registry.transport import Transport
from ocikit.signing.cosign import signature_image, signature_layers, signature_tag
from ocikit.signing.keys import SigningKey, encrypt_cosign_key

pytestmark = needs("docker-registry", "skopeo", "openssl")


def new_key(tmp_path: Path, name: str) -> tuple[SigningKey, Path]:
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    public = tmp_path / f"{name}.pub"
    public.write_bytes(key.public_key().pem())
    return key, public


def push(layout: Path, destinations, signer=None):
    with PushSession(signer=signer) as session:
        return session.push(str(layout), destinations)


def client(registry, repository: str) -> RepositoryClient:
    return RepositoryClient(Transport(registry.host), repository, push=True)


def test_a_signed_push_is_admitted_and_a_repush_signs_nothing(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    ours, ours_pub = new_key(tmp_path, "ours")
    image = write_image(tmp_path / "layout", label=repo)
    summary = push(tmp_path / "layout", [f"{registry.host}/{repo}:v1"], Signer(ours))
    assert summary.stats.signatures_pushed == 1
    (claims,) = openssl_verified(tmp_path / "check", registry.host, repo, image.digest, ours_pub)
    assert claims["critical"]["identity"]["docker-reference"] == f"{registry.host}/{repo}"
    assert claims["critical"]["type"] == "cosign container image signature"
    assert is_signed(client(registry, repo), image.digest, [ours.public_key()]) == ours.public_key()
    admitted = policy_admits(tmp_path / "policy", registry.host, ours_pub, f"{registry.host}/{repo}:v1")
    assert admitted.returncode == 0, admitted.stderr

    mark = registry.mark()
    again = push(tmp_path / "layout", [f"{registry.host}/{repo}:v1"], Signer(ours))
    assert (again.stats.signatures_pushed, again.stats.signatures_present) == (0, 1)
    assert again.stats.bytes_uploaded == 0
    sig_writes = [r for r in registry.requests_since(mark) if r.method in ("PUT", "POST", "PATCH") and ".sig" in r.uri]
    assert sig_writes == [], "an unchanged re-push signs nothing again"


def test_unsigned_other_key_and_tampered_signatures_are_refused(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    ours, ours_pub = new_key(tmp_path, "ours")
    theirs, _ = new_key(tmp_path, "theirs")
    unsigned = write_image(tmp_path / "unsigned", label=repo + "u")
    push(tmp_path / "unsigned", [f"{registry.host}/{repo}/unsigned:v1"])
    assert openssl_verified(tmp_path / "p1", registry.host, f"{repo}/unsigned", unsigned.digest, ours_pub) == []
    assert is_signed(client(registry, f"{repo}/unsigned"), unsigned.digest, [ours.public_key()]) is None
    assert_refused(tmp_path / "policy-unsigned", registry.host, ours_pub, f"{registry.host}/{repo}/unsigned:v1")

    other = write_image(tmp_path / "other", label=repo + "o")
    push(tmp_path / "other", [f"{registry.host}/{repo}/other:v1"], Signer(theirs))
    assert openssl_verified(tmp_path / "p2", registry.host, f"{repo}/other", other.digest, ours_pub) == []
    assert is_signed(client(registry, f"{repo}/other"), other.digest, [ours.public_key()]) is None
    assert_refused(tmp_path / "policy-other", registry.host, ours_pub, f"{registry.host}/{repo}/other:v1")

    image = write_image(tmp_path / "tampered", label=repo + "t")
    push(tmp_path / "tampered", [f"{registry.host}/{repo}/tampered:v1"], Signer(ours))
    repository = client(registry, f"{repo}/tampered")
    (layer,) = existing_signatures(repository, image.digest)
    flipped = bytearray(layer.signature_bytes())
    flipped[-1] ^= 1
    import base64
    from dataclasses import replace

    bad = replace(layer, signature=base64.b64encode(bytes(flipped)).decode())
    manifest, _ = signature_image([bad])
    repository.put_manifest(signature_tag(image.digest), manifest, "application/vnd.oci.image.manifest.v1+json")
    assert openssl_verified(tmp_path / "p3", registry.host, f"{repo}/tampered", image.digest, ours_pub) == []
    assert is_signed(repository, image.digest, [ours.public_key()]) is None
    assert_refused(tmp_path / "policy-tampered", registry.host, ours_pub, f"{registry.host}/{repo}/tampered:v1")


def assert_refused(directory: Path, host: str, public_key: Path, reference: str) -> None:
    refused = policy_admits(directory, host, public_key, reference)
    assert refused.returncode != 0, f"the policy admitted {reference}"
    assert "signature" in refused.stderr.lower(), refused.stderr


def test_an_index_is_signed_and_its_platform_manifests_by_option(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    ours, ours_pub = new_key(tmp_path, "ours")
    image = write_image(tmp_path / "multi", platforms=("linux/amd64", "linux/arm64"), label=repo)
    summary = push(tmp_path / "multi", [f"{registry.host}/{repo}:v1"], Signer(ours, platform_manifests=True))
    assert summary.stats.signatures_pushed == 3
    index = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/{repo}:v1").stdout)
    repository = client(registry, repo)
    for n, digest in enumerate([image.digest, *(m["digest"] for m in index["manifests"])]):
        assert is_signed(repository, digest, [ours.public_key()]) is not None, digest
        assert len(openssl_verified(tmp_path / f"check{n}", registry.host, repo, digest, ours_pub)) == 1


def test_skopeo_signatures_made_with_a_cosign_key_are_ones_we_accept(plain_registry, auth_env, repo, tmp_path):
    registry = plain_registry
    key, public = new_key(tmp_path, "cosign")
    (tmp_path / "cosign.key").write_bytes(encrypt_cosign_key(key, b"pass phrase"))
    (tmp_path / "passphrase").write_text("pass phrase")
    image = write_image(tmp_path / "layout", label=repo)
    signed = sigstore_sign(
        tmp_path / "skopeo",
        registry.host,
        tmp_path / "cosign.key",
        tmp_path / "passphrase",
        f"oci:{tmp_path / 'layout'}:latest",
        f"{registry.host}/{repo}:v1",
    )
    assert signed.returncode == 0, signed.stderr
    repository = client(registry, repo)
    digest = image.digest
    assert len(existing_signatures(repository, digest)) == 1, "skopeo stored one cosign signature"
    assert is_signed(repository, digest, [key.public_key()]) == key.public_key()
    # Ours added beside skopeo's keeps skopeo's.
    push(
        tmp_path / "layout", [f"{registry.host}/{repo}:v1"], Signer(SigningKey(ec.generate_private_key(ec.SECP256R1())))
    )
    assert len(signature_layers(repository.get_manifest(signature_tag(digest)).data)) == 2
    assert is_signed(repository, digest, [key.public_key()]) == key.public_key()


def test_the_publish_check_counts_an_image_published_only_when_our_key_signed_it(
    plain_registry, auth_env, repo, tmp_path
):
    """`ocikit published` with signing: a signature another key made (of the very payload we
    would sign: after a key rotation), an unsigned platform manifest, a missing attestation, or
    no public key to check with: each leaves the image to the push."""
    from ocikit.registry.attest import Predicate
    from ocikit.registry.published import SignatureCheck, check_destinations

    registry = plain_registry
    ours, _ = new_key(tmp_path, "ours")
    old, _ = new_key(tmp_path, "old")
    destination = f"{registry.host}/{repo}:v1"
    image = write_image(tmp_path / "multi", platforms=("linux/amd64", "linux/arm64"), label=repo)
    push(tmp_path / "multi", [destination], Signer(old, platform_manifests=True))

    def check(key, platform_manifests=False, predicates=()):
        state = check_destinations(
            [(destination, image.digest)],
            signature=SignatureCheck(key, platform_manifests),
            predicates={destination: predicates},
        )[destination]
        return state.published, state.detail

    assert check(old.public_key(), True) == (True, image.digest)
    assert check(ours.public_key()) == (False, f"{image.digest}, unsigned")
    assert check(None)[0] is False and "signature not checked" in check(None)[1]

    push(tmp_path / "multi", [destination], Signer(ours))
    assert check(ours.public_key()) == (True, image.digest)
    published, detail = check(ours.public_key(), platform_manifests=True)
    assert not published and detail.startswith(f"{image.digest}, platform manifest sha256:")
    push(tmp_path / "multi", [destination], Signer(ours, platform_manifests=True))
    assert check(ours.public_key(), platform_manifests=True) == (True, image.digest)

    provenance = (Predicate("https://slsa.dev/provenance/v1", {"builder": "test"}),)
    assert check(ours.public_key(), predicates=provenance) == (False, f"{image.digest}, not attested")
    with PushSession(signer=Signer(old)) as session:  # attested, but by the old key
        session.push(str(tmp_path / "multi"), [destination], predicates=provenance)
    assert check(ours.public_key(), predicates=provenance) == (False, f"{image.digest}, not attested")
    with PushSession(signer=Signer(ours)) as session:
        session.push(str(tmp_path / "multi"), [destination], predicates=provenance)
    assert check(ours.public_key(), predicates=provenance) == (True, image.digest)


def test_the_publish_check_verifies_an_images_signature_once_for_all_its_tags(plain_registry, auth_env, repo, tmp_path):
    from ocikit.registry.published import SignatureCheck, check_destinations

    registry = plain_registry
    ours, _ = new_key(tmp_path, "ours")
    image = write_image(tmp_path / "layout", label=repo)
    tags = [f"{registry.host}/{repo}:{tag}" for tag in ("v1", "v1.0", "latest")]
    push(tmp_path / "layout", tags, Signer(ours))
    mark = registry.mark()
    states = check_destinations([(t, image.digest) for t in tags], signature=SignatureCheck(ours.public_key()))
    assert all(state.published for state in states.values()), states
    sig_reads = [r for r in registry.requests_since(mark) if r.method == "GET" and r.uri.endswith(".sig")]
    assert len(sig_reads) == 1, sig_reads
