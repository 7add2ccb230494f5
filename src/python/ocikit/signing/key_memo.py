"""The public half of the signing key, remembered where the publish check can read it.

`pants publish` checks, before pushing, whether every destination already serves each image
signed by us. Only the push process reads the private key (its password reaches that process
only), so the check cannot derive the public key itself. The push writes it here, in the named
cache every worker runs in, under a name made from the key file's path and stat (size, mtime,
inode): a key replaced in place, or another file, is a new name. Where the check finds no
public key for the configured file, it cannot tell our signature from another's and leaves the
image to the push, which verifies with the key, signs what it must and writes the memo: after
a key rotation, images signed with the old key are signed again.

Only a public key is written: nothing here is secret, and a memo of another file never matches.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Optional

from ocikit.signing.keys import SigningKeyError, VerifyKey, load_verify_keys

log = logging.getLogger(__name__)

# Below the named cache every ocikit worker runs in (pants_oci.util_rules.worker_runner.CACHE_DIR).
MEMO_DIR = os.path.join(".ocikit", "signing-keys")


def memo_name(key_path: str) -> Optional[str]:
    """The memo's file name for the key file as it is now; None when it cannot be read."""
    try:
        st = os.stat(key_path)
    except OSError:
        return None
    identity = "\0".join(map(str, (os.path.realpath(key_path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)))
    return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest() + ".pub"


def remembered_public_key(key_path: str, directory: str = MEMO_DIR) -> Optional[VerifyKey]:
    """The public key the push found in `key_path`, if that file is unchanged since."""
    name = memo_name(key_path)
    if name is None:
        return None
    try:
        with open(os.path.join(directory, name), "rb") as f:
            pem = f.read()
        (key,) = load_verify_keys(pem, "the remembered public key")
    except (OSError, ValueError, SigningKeyError) as e:
        log.debug("no usable public key memo for the signing key: %s", type(e).__name__)
        return None
    return key


def remember_public_key(key_path: str, public: VerifyKey, directory: str = MEMO_DIR) -> None:
    """Write the memo (whole, by rename); a failure only costs the next check its shortcut."""
    name = memo_name(key_path)
    if name is None:
        return
    try:
        os.makedirs(directory, exist_ok=True)
        partial = os.path.join(directory, f".{name}.{os.getpid()}")
        with open(partial, "wb") as f:
            f.write(public.pem())
        os.replace(partial, os.path.join(directory, name))
    except OSError as e:
        log.debug("could not remember the public key: %s", e.strerror)
