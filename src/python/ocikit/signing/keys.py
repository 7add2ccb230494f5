"""Signing and verification keys, in the formats cosign and containers/image read.

Private keys: a PEM PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`) ECDSA P-256
key, or cosign's encrypted key (`BEGIN ENCRYPTED SIGSTORE PRIVATE KEY`, or the older
`ENCRYPTED COSIGN PRIVATE KEY`): JSON holding scrypt parameters and a NaCl secretbox that seals
the PKCS#8 DER key. Public keys: PEM `PUBLIC KEY` (PKIX), as `cosign generate-key-pair` writes.

Errors say what is wrong with which file (the caller names the option), never the key's bytes
or the password.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Sequence

from ocikit.errors import OcikitError

SIGSTORE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
_ENCRYPTED_TYPES = (SIGSTORE_PEM, COSIGN_PEM)


class SigningKeyError(OcikitError):
    """A key that cannot be read or used."""


@dataclass(frozen=True)
class SigningKey:
    """An ECDSA P-256 private key: signs SHA-256 digests of payloads, ASN.1 DER signatures."""

    _key: object  # cryptography's EllipticCurvePrivateKey

    def sign(self, payload: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key.sign(payload, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]

    def public_key(self) -> "VerifyKey":
        return VerifyKey(self._key.public_key())  # type: ignore[attr-defined]

    def __repr__(self) -> str:  # never the key
        return "SigningKey(<ECDSA P-256>)"


@dataclass(frozen=True)
class VerifyKey:
    _key: object  # cryptography's EllipticCurvePublicKey

    def verify(self, payload: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            self._key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]
        except (InvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """sha256 of the DER public key: names the key in reports without showing it."""
        from cryptography.hazmat.primitives import serialization

        der = self._key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()


def load_signing_key(data: bytes, password: Optional[bytes], where: str) -> SigningKey:
    """A private key from PEM bytes; `password` for cosign's encrypted format (and an
    encrypted PKCS#8 PEM). `where` names the key in errors (the option and its path)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem_type = _pem_type(data, where)
    if pem_type in _ENCRYPTED_TYPES:
        if not password:
            raise SigningKeyError(f"{where} is an encrypted cosign key and no password was given")
        der = _decrypt_cosign(_pem_body(data), password, where)
        try:
            key = serialization.load_der_private_key(der, password=None)
        except ValueError:
            raise SigningKeyError(f"{where}: the decrypted key is not a PKCS#8 private key") from None
    elif pem_type in ("PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        try:
            key = serialization.load_pem_private_key(
                data, password=password if pem_type.startswith("ENCRYPTED") else None
            )
        except (ValueError, TypeError) as e:
            wrong = "wrong password" if pem_type.startswith("ENCRYPTED") else "not a readable private key"
            raise SigningKeyError(f"{where}: {wrong} ({type(e).__name__})") from None
    else:
        raise SigningKeyError(
            f"{where} holds a {pem_type!r} PEM block; expected an ECDSA P-256 private key: "
            f"'PRIVATE KEY' (PKCS#8), 'EC PRIVATE KEY' or cosign's '{SIGSTORE_PEM}'"
        )
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        kind = getattr(getattr(key, "curve", None), "name", None) or type(key).__name__
        raise SigningKeyError(
            f"{where} is a {kind} key; only ECDSA P-256 (secp256r1) keys are supported, as cosign generates them"
        )
    return SigningKey(key)


def load_verify_keys(data: bytes, where: str) -> Sequence[VerifyKey]:
    """Every PEM `PUBLIC KEY` in `data` (a file may hold several)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    blocks = _pem_blocks(data)
    if not blocks:
        raise SigningKeyError(f"{where} holds no PEM block; expected one or more 'PUBLIC KEY' blocks")
    keys = []
    for pem_type, block in blocks:
        if pem_type != "PUBLIC KEY":
            raise SigningKeyError(f"{where} holds a {pem_type!r} PEM block; expected 'PUBLIC KEY'")
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError:
            raise SigningKeyError(f"{where}: a 'PUBLIC KEY' block is not a readable public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise SigningKeyError(f"{where}: only ECDSA P-256 public keys are supported")
        keys.append(VerifyKey(key))
    return keys


def encrypt_cosign_key(signing_key: SigningKey, password: bytes, *, n: int = 32768) -> bytes:
    """cosign's encrypted key format for `signing_key` (what `cosign generate-key-pair` writes)."""
    import os

    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    der = signing_key._key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(32), os.urandom(24)
    box = nacl.secret.SecretBox(hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**27))
    sealed = box.encrypt(der, nonce).ciphertext
    body = json.dumps(
        {
            "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
            "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
            "ciphertext": base64.b64encode(sealed).decode(),
        }
    ).encode()
    return _pem(SIGSTORE_PEM, body)


def _decrypt_cosign(body: bytes, password: bytes, where: str) -> bytes:
    import nacl.exceptions
    import nacl.secret

    try:
        envelope = json.loads(body)
        kdf, cipher = envelope["kdf"], envelope["cipher"]
        params = kdf["params"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise ValueError(f"kdf {kdf['name']!r} / cipher {cipher['name']!r}")
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        sealed = base64.b64decode(envelope["ciphertext"])
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
    except (ValueError, KeyError, TypeError) as e:
        raise SigningKeyError(f"{where} is not a cosign encrypted key ({e})") from None
    key = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=max(2**27, 256 * n * r))
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(sealed, nonce))
    except nacl.exceptions.CryptoError:
        raise SigningKeyError(f"{where}: wrong password (the key does not decrypt)") from None


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    blocks, current, kind = [], [], None
    for line in data.decode("ascii", "replace").splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            kind, current = line[len("-----BEGIN ") : -5], [line]
        elif kind is not None:
            current.append(line)
            if line == f"-----END {kind}-----":
                blocks.append((kind, ("\n".join(current) + "\n").encode()))
                kind = None
    return blocks


def _pem_type(data: bytes, where: str) -> str:
    blocks = _pem_blocks(data)
    if len(blocks) != 1:
        raise SigningKeyError(f"{where} holds {len(blocks)} PEM blocks; expected one private key")
    return blocks[0][0]


def _pem_body(data: bytes) -> bytes:
    ((_, block),) = _pem_blocks(data)
    inner = [line for line in block.decode().splitlines() if not line.startswith("-----")]
    try:
        return base64.b64decode("".join(inner), validate=True)
    except ValueError:
        raise SigningKeyError("the PEM block is not base64") from None


def _pem(kind: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()
