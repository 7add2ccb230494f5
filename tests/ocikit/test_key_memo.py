"""The public-key memo the publish check reads (ocikit.signing.key_memo): found only for the
key file as the push saw it, and holding nothing secret."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ocikit.signing.key_memo import memo_name, remember_public_key, remembered_public_key
from ocikit.signing.keys import SigningKey


def write_key(path: Path) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return SigningKey(private)


def test_the_memo_is_found_for_the_same_file_only(tmp_path: Path) -> None:
    memos = str(tmp_path / "memos")
    key = write_key(tmp_path / "cosign.pem")
    assert remembered_public_key(str(tmp_path / "cosign.pem"), memos) is None
    remember_public_key(str(tmp_path / "cosign.pem"), key.public_key(), memos)
    found = remembered_public_key(str(tmp_path / "cosign.pem"), memos)
    assert found is not None and found.pem() == key.public_key().pem()
    (memo,) = os.listdir(memos)
    assert memo == memo_name(str(tmp_path / "cosign.pem"))
    assert (Path(memos) / memo).read_bytes() == key.public_key().pem(), "only the public key is written"
    assert str(tmp_path) not in memo

    other = write_key(tmp_path / "other.pem")
    assert remembered_public_key(str(tmp_path / "other.pem"), memos) is None
    rotated = write_key(tmp_path / "cosign.pem")  # replaced in place: a new key under the old name
    os.utime(tmp_path / "cosign.pem", ns=(1, 1))
    assert rotated.public_key().pem() != other.public_key().pem()
    assert remembered_public_key(str(tmp_path / "cosign.pem"), memos) is None
    assert remembered_public_key(str(tmp_path / "missing.pem"), memos) is None


def test_a_damaged_memo_is_no_memo(tmp_path: Path) -> None:
    memos = tmp_path / "memos"
    write_key(tmp_path / "k.pem")
    memos.mkdir()
    (memos / memo_name(str(tmp_path / "k.pem"))).write_bytes(b"-----BEGIN PUBLIC KEY-----\ngarbage\n")
    assert remembered_public_key(str(tmp_path / "k.pem"), str(memos)) is None
