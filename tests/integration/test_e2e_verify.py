"""`pants oci-verify` through the real ./pants against the real registry: an image published
with a signing key is "matches, signed" with its public key and "matches, unsigned" (failing)
with another; an image skopeo signed with a cosign key (containers/image's own sigstore code)
is "matches, signed" too; after an edit of one of its files, or after its tag is moved to another image in
the registry, it "differs", naming the layer and the path; a tag that was never pushed is
"missing". The table goes to stdout, the whole result to dist/oci-verify.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_support import BuildRoot, PantsRun, scratch_dir
from real_parts import needs
from registry_fixtures import skopeo, start_registry
from sigstore_policy import sigstore_sign

from ocikit.signing.keys import SigningKey, encrypt_cosign_key

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo")]

HELLO = "examples/hello:hello"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    """A signing key (PKCS#8 PEM, outside the build root) and two public keys: its own and another's."""
    directory = tmp_path_factory.mktemp("verify-keys")
    ours = ec.generate_private_key(ec.SECP256R1())
    (directory / "signing.pem").write_bytes(
        ours.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return {
        "signing": directory / "signing.pem",
        "cosign.pub": SigningKey(ours).public_key().pem(),
        "other.pub": SigningKey(ec.generate_private_key(ec.SECP256R1())).public_key().pem(),
    }


def registries(registry) -> str:
    return f"--oci-registries={{'r': {{'address': '{registry.host}', 'default': True}}}}"


def verify(root: BuildRoot, registry, *args: str) -> PantsRun:
    return root.run("oci-verify", registries(registry), *args)


def report(root: BuildRoot) -> dict:
    return json.loads(root.dist("oci-verify.json").read_text())


def row(run: PantsRun, target: str, reference: str) -> str:
    """The table's row of `reference`: its result and detail."""
    for line in run.stdout.splitlines():
        if line.startswith(target + " ") and f" {reference} " in line:
            return " ".join(line.split(f" {reference} ", 1)[1].split())
    raise AssertionError(f"no row for {reference}\n{run.describe()}")


def test_a_signed_publish_verifies_with_its_public_key_only(build_root: BuildRoot, keys: dict, tmp_path: Path):
    with (
        start_registry(tmp_path / "registry", "none") as registry,
        scratch_dir(build_root, "verify_keys", {"cosign.pub": keys["cosign.pub"], "other.pub": keys["other.pub"]}),
    ):
        published = build_root.run("publish", registries(registry), f"--oci-signing-key={keys['signing']}", HELLO)
        assert published.returncode == 0, published.describe()
        reference = f"{registry.host}/examples/hello:latest"
        mark = registry.mark()

        signed = verify(build_root, registry, "--oci-verify-keys=['verify_keys/cosign.pub']", HELLO)
        assert signed.returncode == 0, signed.describe()
        assert row(signed, HELLO, reference).startswith("matches, signed signed with verify_keys/cosign.pub")
        (verdict,) = report(build_root)["verdicts"]
        assert (verdict["status"], verdict["registry_digest"]) == ("matches, signed", verdict["digest"])
        assert report(build_root)["ok"] is True

        other = verify(build_root, registry, "--oci-verify-keys=['verify_keys/other.pub']", HELLO)
        assert other.returncode != 0, other.describe()
        assert row(other, HELLO, reference) == (
            f"matches, unsigned 1 signature in {registry.host}/examples/hello, none verifies with a key of "
            "[oci-verify].keys"
        )
        assert report(build_root)["ok"] is False

        unchecked = verify(build_root, registry, HELLO)
        assert unchecked.returncode == 0, unchecked.describe()
        assert row(unchecked, HELLO, reference).startswith("matches (no verify keys configured)")
        asked = registry.requests_since(mark)
        assert asked and all(r.method in ("GET", "HEAD") for r in asked), "verifying reads only"


def test_a_signature_skopeo_made_with_a_cosign_key_verifies(build_root: BuildRoot, tmp_path: Path):
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "cosign.key").write_bytes(encrypt_cosign_key(key, b"skopeo pass"))
    (tmp_path / "passphrase").write_text("skopeo pass")
    with (
        start_registry(tmp_path / "registry", "none") as registry,
        scratch_dir(build_root, "skopeo_keys", {"cosign.pub": key.public_key().pem()}),
    ):
        published = build_root.run("publish", registries(registry), HELLO)
        assert published.returncode == 0, published.describe()
        reference = f"{registry.host}/examples/hello:latest"
        signed = sigstore_sign(
            tmp_path / "skopeo",
            registry.host,
            tmp_path / "cosign.key",
            tmp_path / "passphrase",
            f"docker://{reference}",
            reference,
            "--src-tls-verify=false",
            "--preserve-digests",
        )
        assert signed.returncode == 0, signed.stderr

        verified = verify(build_root, registry, "--oci-verify-keys=['skopeo_keys/cosign.pub']", HELLO)
        assert verified.returncode == 0, verified.describe()
        assert row(verified, HELLO, reference).startswith("matches, signed signed with skopeo_keys/cosign.pub")


APP_BUILD = """\
files(name="files", sources=["app/*"])
oci_image(name="app", dependencies=[":files"], repository="verify-e2e/app", image_tags=["1.0"])
"""


def test_an_edit_and_a_moved_tag_differ_naming_the_layer_and_the_path(build_root: BuildRoot, tmp_path: Path):
    files = {"BUILD": APP_BUILD, "app/greeting.txt": "hello\n", "app/other.txt": "unchanged\n"}
    target = "verify_scratch:app"
    with start_registry(tmp_path / "registry", "none") as registry, scratch_dir(build_root, "verify_scratch", files):
        published = build_root.run("publish", registries(registry), target)
        assert published.returncode == 0, published.describe()
        reference = f"{registry.host}/verify-e2e/app:1.0"
        assert verify(build_root, registry, target).returncode == 0

        build_root.write("verify_scratch/app/greeting.txt", "hello, edited\n")
        edited = verify(build_root, registry, target)
        assert edited.returncode != 0, edited.describe()
        assert row(edited, target, reference) == "differs the tag names another image (1 layer differs)"
        assert "linux/amd64 layer 0: 1 path differs" in edited.stdout
        assert "changed  /verify_scratch/app/greeting.txt: content (6 -> 14 bytes)" in edited.stdout
        (verdict,) = report(build_root)["verdicts"]
        (layer,) = verdict["layers"]
        assert [p["path"] for p in layer["paths"]] == ["/verify_scratch/app/greeting.txt"]

        build_root.write("verify_scratch/app/greeting.txt", "hello\n")
        assert verify(build_root, registry, target).returncode == 0, "the edit undone: it matches again"
        hello = build_root.run("publish", registries(registry), HELLO)
        assert hello.returncode == 0, hello.describe()
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{registry.host}/examples/hello:latest",
            f"docker://{reference}",
        )
        moved = verify(build_root, registry, target)
        assert moved.returncode != 0, moved.describe()
        assert row(moved, target, reference).startswith("differs the tag names another image")
        assert "removed  /examples/hello/hello.txt" in moved.stdout
        assert "added    /verify_scratch/app/greeting.txt" in moved.stdout
        assert "config differs" in moved.stdout


def test_tags_never_pushed_are_missing(build_root: BuildRoot, tmp_path: Path):
    with start_registry(tmp_path / "registry", "none") as registry:
        hello = build_root.run("publish", registries(registry), HELLO)
        assert hello.returncode == 0, hello.describe()
        run = verify(build_root, registry, HELLO, "examples/layered:layered")
        assert run.returncode != 0, run.describe()
        for tag in ("1.0", "latest"):
            assert row(run, "examples/layered:layered", f"{registry.host}/examples/layered:{tag}") == (
                f"missing no repository {registry.host}/examples/layered"
            )
        assert row(run, HELLO, f"{registry.host}/examples/hello:latest").startswith("matches")
        assert [v["status"] for v in report(build_root)["verdicts"]] == [
            "matches (no verify keys configured)",
            "missing",
            "missing",
        ]
        assert run.stdout.splitlines()[-1] == (
            "3 destinations: 1 matches (no verify keys configured); 2 missing (2 not verified)"
        )
