"""A registry that refuses the signature tag (`sha256-<hex>.sig`): the signed push fails with
one line naming the registry, the tag and the refusal, and the image's own tag is never
written (signatures go before tags, so nothing half-pushed looks published)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fault_proxy import Fault, SeenRequest
from registry_fixtures import skopeo
from registry_images import write_image

from ocikit.errors import OcikitError
from ocikit.registry.push import PushSession
from ocikit.registry.sign import Signer
from ocikit.signing.cosign import signature_tag
from ocikit.signing.keys import SigningKey

DENIED = json.dumps({"errors": [{"code": "DENIED", "message": "tags matching sha256-* are immutable here"}]})


def test_a_refused_signature_tag_fails_the_push_naming_it_and_tags_nothing(plain_registry, proxy_for, repo, tmp_path):
    image = write_image(tmp_path / "layout", label=repo, runnable=False)
    sig_tag = signature_tag(image.digest)

    def decide(request: SeenRequest):
        if request.method == "PUT" and request.bare_path.endswith(f"/manifests/{sig_tag}"):
            return Fault(status=403, body=DENIED.encode())
        return None

    proxy = proxy_for(plain_registry, decide)
    signer = Signer(SigningKey(ec.generate_private_key(ec.SECP256R1())))
    with PushSession(signer=signer) as session, pytest.raises(OcikitError) as raised:
        session.push(str(tmp_path / "layout"), [f"{proxy.host}/{repo}:v1"])
    message = str(raised.value)
    assert sig_tag in message and "DENIED" in message and "\n" not in message, message
    assert f"{proxy.host}/{repo}" in message, message
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{plain_registry.host}/{repo}", check=False)
    assert "404 (Not Found)" in listed.stderr or "v1" not in (json.loads(listed.stdout)["Tags"] or []), listed
