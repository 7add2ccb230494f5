"""Checking cosign signatures in a registry with tools we did not write.

`openssl_verified` fetches the `.sig` manifest and each payload with skopeo and checks each
signature with `openssl dgst -verify`: the signature is a valid ECDSA P-256 signature of the
payload by that key, and the payload (cosign's simple-signing JSON) names the digest.

`policy_admits` is the check a cluster running podman or CRI-O makes (a `sigstoreSigned`
policy with `use-sigstore-attachments`), made by containers/image itself through skopeo.
Debian bookworm builds containers/image with sigstore disabled (skopeo, podman and buildah
answer "Debian-local change: sigstore disabled"), so these checks run Debian trixie's skopeo,
which .ci/sigstore-skopeo.sh unpacks beside the machine's own (`sigstore_skopeo`).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Sequence

from real_parts import sigstore_skopeo
from registry_fixtures import skopeo

SIG_ANNOTATION = "dev.cosignproject.cosign/signature"


def _raw(reference: str, *extra: str) -> bytes:
    return skopeo("inspect", "--tls-verify=false", *extra, "--raw", f"docker://{reference}", text=False).stdout


def openssl_verified(directory: Path, registry_host: str, repository: str, digest: str, public_key: Path) -> list[dict]:
    """The payloads (parsed) of the signatures of `repository@digest` that openssl verifies with
    `public_key` and that name `digest`."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = digest.replace(":", "-") + ".sig"
    listed = skopeo(
        "inspect",
        "--tls-verify=false",
        "--raw",
        f"docker://{registry_host}/{repository}:{tag}",
        check=False,
        text=False,
    )
    if listed.returncode != 0:
        return []
    verified = []
    for n, layer in enumerate(json.loads(listed.stdout)["layers"]):
        payload = _blob(directory, registry_host, repository, layer["digest"])
        signature = directory / f"sig{n}.der"
        signature.write_bytes(base64.b64decode(layer["annotations"][SIG_ANNOTATION]))
        data = directory / f"payload{n}"
        data.write_bytes(payload)
        check = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(public_key), "-signature", str(signature), str(data)],
            capture_output=True,
            text=True,
        )
        claims = json.loads(payload)
        if check.returncode == 0 and claims["critical"]["image"]["docker-manifest-digest"] == digest:
            verified.append(claims)
    return verified


def _blob(directory: Path, registry_host: str, repository: str, digest: str) -> bytes:
    """A blob, fetched by skopeo (a copy of the blob-only image is not possible: plain HTTP)."""
    import urllib.request

    with urllib.request.urlopen(f"http://{registry_host}/v2/{repository}/blobs/{digest}", timeout=30) as r:
        return r.read()


def write_policy(directory: Path, registry_host: str, public_keys: Sequence[Path]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    requirements = [
        {"type": "sigstoreSigned", "keyPath": str(key), "signedIdentity": {"type": "matchRepository"}}
        for key in public_keys
    ]
    policy = directory / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {registry_host: requirements},
                    "dir": {"": [{"type": "insecureAcceptAnything"}]},
                    "oci": {"": [{"type": "insecureAcceptAnything"}]},
                },
            }
        )
    )
    return policy, attachments_config(directory, registry_host)


def attachments_config(directory: Path, registry_host: str) -> Path:
    """A registries.d directory telling containers/image to use cosign's `.sig` tags there."""
    registries_d = directory / "registries.d"
    registries_d.mkdir(parents=True, exist_ok=True)
    (registries_d / "loopback.yaml").write_text(f"docker:\n  {registry_host}:\n    use-sigstore-attachments: true\n")
    return registries_d


def _sigstore_skopeo(policy: Path, registries_d: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sigstore_skopeo(), "--policy", str(policy), "--registries.d", str(registries_d), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def policy_admits(directory: Path, registry_host: str, public_key: Path, reference: str) -> subprocess.CompletedProcess:
    """containers/image's verdict on `reference` under a policy admitting only images signed
    by `public_key` (skopeo copies it out only if the policy admits it)."""
    policy, registries_d = write_policy(directory, registry_host, [public_key])
    copied = f"dir:{directory / 'copied'}"
    return _sigstore_skopeo(policy, registries_d, "copy", "--src-tls-verify=false", f"docker://{reference}", copied)


def sigstore_sign(
    directory: Path, registry_host: str, key: Path, passphrase: Path, source: str, reference: str, *options: str
) -> subprocess.CompletedProcess:
    """skopeo copies `source` to `reference`, signing it the sigstore way with a cosign key."""
    policy = directory / "accept-anything.json"
    directory.mkdir(parents=True, exist_ok=True)
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    signing = ["--sign-by-sigstore-private-key", str(key), "--sign-passphrase-file", str(passphrase)]
    return _sigstore_skopeo(
        policy,
        attachments_config(directory, registry_host),
        "copy",
        "--dest-tls-verify=false",
        *signing,
        *options,
        source,
        f"docker://{reference}",
    )


def openssl_verified_attestations(
    directory: Path, registry_host: str, repository: str, digest: str, public_key: Path
) -> list[dict]:
    """The in-toto statements attached to `repository@digest` (the `.att` tag) whose DSSE
    signature openssl verifies over the envelope's PAE bytes, and whose subject is `digest`."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = digest.replace(":", "-") + ".att"
    listed = skopeo(
        "inspect",
        "--tls-verify=false",
        "--raw",
        f"docker://{registry_host}/{repository}:{tag}",
        check=False,
        text=False,
    )
    if listed.returncode != 0:
        return []
    statements = []
    for n, layer in enumerate(json.loads(listed.stdout)["layers"]):
        envelope = json.loads(_blob(directory, registry_host, repository, layer["digest"]))
        body = base64.b64decode(envelope["payload"])
        kind = envelope["payloadType"].encode()
        (directory / f"pae{n}").write_bytes(b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body))
        for m, signature in enumerate(envelope["signatures"]):
            (directory / f"sig{n}-{m}.der").write_bytes(base64.b64decode(signature["sig"]))
            check = subprocess.run(
                [
                    "openssl",
                    "dgst",
                    "-sha256",
                    "-verify",
                    str(public_key),
                    "-signature",
                    str(directory / f"sig{n}-{m}.der"),
                    str(directory / f"pae{n}"),
                ],
                capture_output=True,
                text=True,
            )
            statement = json.loads(body)
            if check.returncode == 0 and statement["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}:
                statement["_annotations"] = layer.get("annotations", {})
                statements.append(statement)
                break
    return statements
