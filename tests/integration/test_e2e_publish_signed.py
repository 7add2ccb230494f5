"""`pants publish` with `[oci].signing_key`, through the real ./pants against the real
registry: the signature each image gets verifies with openssl and is admitted by a
`sigstoreSigned` policy (containers/image, through skopeo), an unchanged re-publish signs
nothing and sends nothing, and neither the key nor its password appears anywhere Pants writes
(the output at -ldebug, .pants.d, the run record); bad keys fail before anything is pushed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_support import BuildRoot
from image_checks import Layout
from real_parts import needs
from registry_fixtures import start_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from sigstore_policy import openssl_verified, openssl_verified_attestations, policy_admits  # noqa: E402

from ocikit.signing.keys import SigningKey, encrypt_cosign_key  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo", "openssl")]

PASSWORD = "correct-horse-battery-staple-7f3a"
IMAGES = {
    "examples/hello:hello": ("examples.hello/hello", "examples/hello"),
    "examples/multiarch:multiarch": ("examples.multiarch/multiarch", "examples/multiarch"),
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("signing-keys")
    key = ec.generate_private_key(ec.SECP256R1())
    (directory / "cosign.key").write_bytes(encrypt_cosign_key(SigningKey(key), PASSWORD.encode()))
    (directory / "plain.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "cosign.pub").write_bytes(SigningKey(key).public_key().pem())
    rsa = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    (directory / "rsa.pem").write_bytes(rsa)
    return {
        "dir": directory,
        "secret_der": key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


def flags(registry, key: Path, *extra: str) -> list[str]:
    return [
        f"--oci-registries={{'r': {{'address': '{registry.host}', 'default': True}}}}",
        f"--oci-signing-key={key}",
        *extra,
    ]


def test_published_images_are_signed_and_nothing_secret_leaks(build_root: BuildRoot, keys: dict, tmp_path: Path):
    key = keys["dir"] / "cosign.key"
    public = keys["dir"] / "cosign.pub"
    build_root.package(*IMAGES)  # `publish` does not write dist/: the layouts to compare
    with start_registry(tmp_path / "registry", "none") as registry:
        first = build_root.run(
            "-ldebug",
            "publish",
            *flags(registry, key, "--oci-sign-platform-manifests", "--oci-sbom-formats=['spdx', 'cyclonedx']"),
            *IMAGES,
            env={"COSIGN_PASSWORD": PASSWORD},
        )
        assert first.returncode == 0, first.describe()
        for target, (relpath, repository) in IMAGES.items():
            layout = Layout(build_root.dist(relpath))
            digest = layout.top()["digest"]
            (claims,) = openssl_verified(tmp_path / relpath, registry.host, repository, digest, public)
            assert claims["critical"]["identity"]["docker-reference"] == f"{registry.host}/{repository}"
            admitted = policy_admits(
                tmp_path / f"{relpath}.policy", registry.host, public, f"{registry.host}/{repository}:latest"
            )
            assert admitted.returncode == 0, admitted.stderr
            record = json.loads(build_root.dist(f"{relpath}.publish.json").read_text())
            assert record["stats"]["signatures_pushed"] >= 1
            statements = openssl_verified_attestations(
                tmp_path / f"{relpath}.att", registry.host, repository, digest, public
            )
            by_type = {st["predicateType"]: st for st in statements}
            assert sorted(by_type) == [
                "https://cyclonedx.org/bom",
                "https://slsa.dev/provenance/v1",
                "https://spdx.dev/Document",
            ]
            assert by_type["https://cyclonedx.org/bom"]["predicate"]["metadata"]["component"]["version"] == digest
            sbom = json.loads(build_root.dist(f"{relpath}.spdx.json").read_text())
            attested = by_type["https://spdx.dev/Document"]["predicate"]
            # The SBOM of the publish's own package (its registries are in the image's purl).
            assert attested["spdxVersion"] == "SPDX-2.3" and attested["name"] == sbom["name"]
            assert attested.get("files") == sbom.get("files"), "the same first-party files as package wrote"
            provenance = by_type["https://slsa.dev/provenance/v1"]
            assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
            assert provenance["_annotations"]["predicateType"] == "https://slsa.dev/provenance/v1"
            assert provenance["subject"][0]["name"] == f"{registry.host}/{repository}"
            build = provenance["predicate"]["buildDefinition"]
            assert build["externalParameters"]["target"] == target
            diff_ids = {
                d["digest"]["sha256"] for d in build["resolvedDependencies"] if d.get("name", "").startswith("layer")
            }
            config_diff_ids = {
                d.split(":")[1] for _, m in layout.manifests() for d in layout.config(m)["rootfs"]["diff_ids"]
            }
            assert diff_ids == config_diff_ids, "the provenance names exactly the image's layers"
        index = Layout(build_root.dist("examples.multiarch/multiarch"))
        for child in json.loads(index.blob(index.top()["digest"]))["manifests"]:
            assert (
                len(openssl_verified(tmp_path / "child", registry.host, "examples/multiarch", child["digest"], public))
                == 1
            )
        _assert_no_secret(first.output, keys, build_root)

        mark = registry.mark()
        again = build_root.run(
            "publish",
            *flags(registry, key, "--oci-sign-platform-manifests", "--oci-sbom-formats=['spdx', 'cyclonedx']"),
            *IMAGES,
            env={"COSIGN_PASSWORD": PASSWORD},
        )
        assert again.returncode == 0, again.describe()
        assert again.output.count("skipped (already published") == 2, again.describe()
        writes = [r for r in registry.requests_since(mark) if r.method in ("PUT", "POST", "PATCH")]
        assert writes == [], "an unchanged re-publish of a signed image signs and sends nothing"


def test_an_unsigned_image_is_signed_on_the_next_publish_with_a_key(build_root: BuildRoot, keys: dict, tmp_path: Path):
    build_root.package("examples/hello:hello")
    with start_registry(tmp_path / "registry", "none") as registry:
        plain = build_root.run("publish", flags(registry, keys["dir"] / "plain.pem")[0], "examples/hello:hello")
        assert plain.returncode == 0, plain.describe()
        digest = Layout(build_root.dist("examples.hello/hello")).top()["digest"]
        assert (
            openssl_verified(tmp_path / "a", registry.host, "examples/hello", digest, keys["dir"] / "cosign.pub") == []
        )
        signed = build_root.run("publish", *flags(registry, keys["dir"] / "plain.pem"), "examples/hello:hello")
        assert signed.returncode == 0, signed.describe()
        assert "already published" not in signed.output, "the missing signature makes it a push"
        assert (
            len(openssl_verified(tmp_path / "b", registry.host, "examples/hello", digest, keys["dir"] / "cosign.pub"))
            == 1
        )


def test_after_a_key_rotation_the_next_publish_signs_with_the_new_key(
    build_root: BuildRoot, keys: dict, tmp_path: Path
):
    build_root.package("examples/hello:hello")
    new = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "new.pem").write_bytes(
        new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "new.pub").write_bytes(SigningKey(new).public_key().pem())
    digest = Layout(build_root.dist("examples.hello/hello")).top()["digest"]
    with start_registry(tmp_path / "registry", "none") as registry:
        old = build_root.run("publish", *flags(registry, keys["dir"] / "plain.pem"), "examples/hello:hello")
        assert old.returncode == 0, old.describe()
        rotated = build_root.run("publish", *flags(registry, tmp_path / "new.pem"), "examples/hello:hello")
        assert rotated.returncode == 0, rotated.describe()
        assert "already published" not in rotated.output, "the old key's signature is not ours any more"
        for n, public in enumerate([tmp_path / "new.pub", keys["dir"] / "cosign.pub"]):
            assert len(openssl_verified(tmp_path / f"v{n}", registry.host, "examples/hello", digest, public)) == 1
        mark = registry.mark()
        again = build_root.run("publish", *flags(registry, tmp_path / "new.pem"), "examples/hello:hello")
        assert again.returncode == 0, again.describe()
        assert "skipped (already published" in again.output, again.describe()
        assert not [r for r in registry.requests_since(mark) if r.method in ("PUT", "POST", "PATCH")]


@pytest.mark.parametrize(
    "case, key, env, message",
    [
        ("missing", "no-such.key", {}, "[oci].signing_key = '{key}': no such file"),
        ("no password", "cosign.key", {}, "is an encrypted cosign key and no password was given: set $COSIGN_PASSWORD"),
        ("wrong password", "cosign.key", {"COSIGN_PASSWORD": "not-it"}, "wrong password"),
        ("unsupported", "rsa.pem", {}, "only ECDSA P-256"),
    ],
)
def test_a_bad_key_fails_before_anything_is_pushed(
    build_root: BuildRoot, keys: dict, tmp_path: Path, case, key, env, message
):
    path = keys["dir"] / key
    with start_registry(tmp_path / "registry", "none") as registry:
        run = build_root.run("publish", *flags(registry, path), "examples/hello:hello", env=env)
        assert run.returncode != 0, run.describe()
        assert message.format(key=path) in run.output, run.describe()
        assert "Traceback" not in run.output
        assert not [r for r in registry.requests() if r.method in ("PUT", "POST", "PATCH")]
        _assert_no_secret(run.output, keys, build_root)
        if case != "missing":
            record = json.loads(build_root.dist("oci-publish.json").read_text())
            assert [e["status"] for e in record["images"]] == ["failed"], record


def _assert_no_secret(output: str, keys: dict, root: BuildRoot) -> None:
    import base64

    secrets = [
        PASSWORD,
        base64.b64encode(keys["secret_der"]).decode()[:40],
        (keys["dir"] / "cosign.key").read_text().splitlines()[1][:40],
    ]
    places = {"output": output}
    for path in [*(root.path / ".pants.d").rglob("*"), *root.dist().rglob("*.json")]:
        if path.is_file():
            places[str(path)] = path.read_text(errors="replace")
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {where}"
