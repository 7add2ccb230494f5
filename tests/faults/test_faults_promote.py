"""A promotion whose destination refuses a referrer (attachment) tag fails with one line naming
the registry, the tag and the refusal, and tags nothing: the image's own tags go last."""

from __future__ import annotations

import json

import pytest
from fault_proxy import Fault, SeenRequest
from registry_fixtures import launch_registry, skopeo
from registry_images import attach, write_image

from ocikit.registry import push_layout
from ocikit.registry.promote import PromotionError, promote_image
from ocikit.registry.push import PushSession
from ocikit.signing.cosign import signature_tag

DENIED = json.dumps({"errors": [{"code": "DENIED", "message": "tags matching sha256-* are immutable here"}]})


def test_a_destination_refusing_an_attachment_tag_fails_naming_it_and_tags_nothing(
    plain_registry, proxy_for, repo, tmp_path
):
    image = write_image(tmp_path / "layout", label=repo, runnable=False)
    push_layout(str(image.layout), [f"{plain_registry.host}/{repo}/src:staging"])
    attach(plain_registry.host, f"{repo}/src", image.digest, "sig")
    sig_tag = signature_tag(image.digest, "sig")
    destination = launch_registry(tmp_path / "destination")
    try:

        def decide(request: SeenRequest):
            if request.method == "PUT" and request.bare_path.endswith(f"/manifests/{sig_tag}"):
                return Fault(status=403, body=DENIED.encode())
            return None

        proxy = proxy_for(destination, decide)
        with PushSession() as session, pytest.raises(PromotionError) as raised:
            promote_image(
                session, f"{plain_registry.host}/{repo}/src@{image.digest}", [f"{proxy.host}/{repo}/prod:1.0"]
            )
        message = str(raised.value)
        assert message.startswith(
            f"{proxy.host}/{repo}/prod refused the attachment tag {sig_tag} of {plain_registry.host}/{repo}/src: "
        )
        assert "DENIED" in message and "\n" not in message
        listed = skopeo("list-tags", "--tls-verify=false", f"docker://{destination.host}/{repo}/prod", check=False)
        # Neither 1.0 nor the signature: Distribution answers 404 for a repository without tags.
        assert "404 (Not Found)" in listed.stderr or json.loads(listed.stdout)["Tags"] in (None, [])
    finally:
        destination.stop()
