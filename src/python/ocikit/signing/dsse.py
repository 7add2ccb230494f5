"""in-toto statements in signed DSSE envelopes: the attestations cosign attaches (`.att`).

The signature covers the envelope's pre-authentication encoding (PAE) of the payload type and
body, `DSSEv1 <len> <type> <len> <body>`, never the JSON around it: `openssl dgst -verify` over
those bytes checks it.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Optional

from ocikit.canonical_json import canonical_json

IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"


def pae(payload_type: str, body: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def statement(subject_name: str, digest: str, predicate_type: str, predicate: Any) -> bytes:
    """An in-toto v1 statement about the image `subject_name@digest`, as canonical JSON: the
    same inputs give the same bytes, so an attestation already there is recognised."""
    algorithm, _, hex_ = digest.partition(":")
    return canonical_json(
        {
            "_type": STATEMENT_V1,
            "subject": [{"name": subject_name, "digest": {algorithm: hex_}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def envelope(body: bytes, sign: Callable[[bytes], bytes], payload_type: str = IN_TOTO) -> bytes:
    """A DSSE envelope of `body`, signed by `sign` (over the PAE bytes), as cosign writes it."""
    signature = sign(pae(payload_type, body))
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
        },
        separators=(",", ":"),
    ).encode()


def _read(data: bytes) -> Optional[tuple[str, bytes, list]]:
    """(payload type, body, signatures as found) of an envelope; None when it is not one."""
    try:
        value = json.loads(data)
        return str(value["payloadType"]), base64.b64decode(value["payload"], validate=True), value["signatures"]
    except (ValueError, KeyError, TypeError):
        return None


def envelope_body(data: bytes) -> Optional[bytes]:
    """The body of an envelope, unverified (to find a statement; see `open_envelope`)."""
    read = _read(data)
    return read[1] if read else None


def open_envelope(data: bytes, verify: Callable[[bytes, bytes], bool]) -> Optional[bytes]:
    """The body of an envelope one of whose signatures `verify` accepts; None otherwise."""
    read = _read(data)
    if read is None:
        return None
    payload_type, body, found = read
    try:
        signatures = [base64.b64decode(s["sig"], validate=True) for s in found]
    except (ValueError, KeyError, TypeError):
        return None
    message = pae(payload_type, body)
    return body if any(verify(message, signature) for signature in signatures) else None
