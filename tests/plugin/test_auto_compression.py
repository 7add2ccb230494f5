"""`[oci].compression = auto`: uncompressed layers exactly when every push destination is loopback.

The choice is made at package time from the image's registries, so what `package` prints is what
`publish` pushes; these tests read the packaged manifests.
"""

from __future__ import annotations

import json

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.testutil.rule_runner import RuleRunner

from ocikit import media_types
from pants_oci.goals.package import OciImageFieldSet

REGISTRIES = (
    "{'local': {'address': '127.0.0.1:5000', 'default': True},"
    " 'v6': {'address': '[::1]:5001'},"
    " 'named': {'address': 'localhost:5002'},"
    " 'remote': {'address': 'registry.example.com'},"
    " 'mirror': {'address': 'mirror.example.com', 'skip_push': True}}"
)

BUILD = """
files(name="f", sources=["a.txt"])
oci_layer(name="l", dependencies=[":f"])
oci_image(name="default_only", layers=[":l"])
oci_image(name="all_local", layers=[":l"], registries=["@local", "@v6", "@named", "127.0.0.2:6000"])
oci_image(name="one_remote", layers=[":l"], registries=["@local", "@remote"])
oci_image(name="none", layers=[":l"], registries=[])
oci_image(name="skipped", layers=[":l"], registries=["@local"], skip_push=True)
oci_image(name="remote_skipped", layers=[":l"], registries=["@local", "@mirror"])
"""


def layer_media_types(rule_runner: RuleRunner, name: str) -> tuple[str, str]:
    target = rule_runner.get_target(Address("img", target_name=name))
    built = rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}
    prefix = built.artifacts[0].relpath
    index = json.loads(files[f"{prefix}/index.json"])
    manifest_digest = index["manifests"][0]["digest"]
    assert built.artifacts[0].digest == manifest_digest  # the digest package prints
    manifest = json.loads(files[f"{prefix}/blobs/sha256/{manifest_digest[7:]}"])
    (layer,) = manifest["layers"]
    return layer["mediaType"], layer["digest"]


@pytest.mark.parametrize(
    "name, compressed",
    [
        ("default_only", False),  # the default registry is 127.0.0.1
        ("all_local", False),  # 127.0.0.0/8, [::1] and localhost are all loopback
        ("one_remote", True),  # one remote destination: gzip for all
        ("none", True),  # no registries: packaged for someone else to push
        ("skipped", True),  # never pushed
        ("remote_skipped", False),  # a skip_push registry is not a destination
    ],
)
def test_auto_compresses_unless_every_destination_is_loopback(
    rule_runner: RuleRunner, name: str, compressed: bool
) -> None:
    rule_runner.write_files({"img/a.txt": "a" * 1000, "img/BUILD": BUILD})
    rule_runner.set_options(["--oci-compression=auto", f"--oci-registries={REGISTRIES}"])
    media_type, _ = layer_media_types(rule_runner, name)
    assert media_type == (media_types.OCI_LAYER_GZIP if compressed else media_types.OCI_LAYER_TAR)


def test_auto_gzip_equals_plain_gzip_and_auto_local_equals_none(rule_runner: RuleRunner) -> None:
    """`auto` never invents a third encoding: its two outcomes are byte-identical to `gzip`
    (same level) and `none`."""
    rule_runner.write_files({"img/a.txt": "a" * 1000, "img/BUILD": BUILD})
    digests = {}
    for mode in ("auto", "gzip", "none"):
        rule_runner.set_options([f"--oci-compression={mode}", f"--oci-registries={REGISTRIES}"])
        digests[mode] = (
            layer_media_types(rule_runner, "one_remote")[1],
            layer_media_types(rule_runner, "all_local")[1],
        )
    assert digests["auto"] == (digests["gzip"][0], digests["none"][1])
    assert digests["gzip"][0] != digests["none"][0]
