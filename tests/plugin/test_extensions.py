"""The two extension points other backends use, exercised by small test backends: a target type
accepted in `layers` (OciLayersRequest) and an extension adding a layer and an annotation to
every image (OciImageExtensionRequest)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import FileTarget
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import Get, rule
from pants.engine.target import Target
from pants.engine.unions import UnionRule
from pants.testutil.rule_runner import RuleRunner
from pants.util.frozendict import FrozenDict

from pants_oci.extensions import OciImageExtension, OciImageExtensionRequest, OciLayers, OciLayersRequest
from pants_oci.goals.package import OciImageFieldSet
from pants_oci.layer_fields import OciLayerDependenciesField
from pants_oci.util_rules.layer_inputs import OciLayerRequest
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart


class FilesAsLayer(OciLayersRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return isinstance(target, FileTarget)  # what `files(...)` generates, one per file


@rule
async def files_as_layer(request: FilesAsLayer) -> OciLayers:
    dependencies = OciLayerDependenciesField([f"{request.target.address}"], request.target.address)
    layer = await Get(
        BuiltOciLayer,
        OciLayerRequest(
            request.target.address,
            dependencies,
            "/from-files",
            0,
            0,
            f"files {request.target.address}",
            request.compression,
        ),
    )
    assert request.base_images == ()  # these images are on scratch
    return OciLayers((layer,), entrypoint=("/from-files/run",), env=FrozenDict({"FROM": "files"}))


class Stamp(OciImageExtensionRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return target.address.target_name != "plain"


@rule
async def stamp(request: Stamp) -> OciImageExtension:
    # A file made here, as an SBOM would be: a LayerPart of files already placed goes through
    # the same cached layer process as an oci_layer.
    placed = await Get(Digest, CreateDigest([FileContent("ext/stamp.txt", b"stamp")]))
    layer = await Get(
        BuiltOciLayer,
        LayerPart(placed, "/stamp", 0, 0, f"stamp of {request.target.address}", request.compression),
    )
    return OciImageExtension(layers=(layer,), annotations=FrozenDict({"example.stamp": "1"}))


@pytest.fixture
def ext_runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *rule_runner.rules,
            files_as_layer,
            stamp,
            UnionRule(OciLayersRequest, FilesAsLayer),
            UnionRule(OciImageExtensionRequest, Stamp),
        ],
        target_types=rule_runner.target_types,
    )
    runner.set_options([], env_inherit={"PATH", "HOME"})
    runner.write_files(
        {
            "ext/a.txt": "a",
            "ext/stamp.txt": "stamp",
            "ext/BUILD": """
files(name="f", sources=["a.txt"])
oci_image(name="img", layers=[":f"], annotations={"own": "x"})
oci_image(name="plain", layers=[":f"], entrypoint=["/mine"], env={"FROM": "image"})
oci_image(name="clash", layers=[":f"], annotations={"example.stamp": "mine"})
files(name="stamp_file", sources=["stamp.txt"])
oci_layer(name="stamp_layer", dependencies=[":stamp_file"], destination="/stamp")
oci_image(name="same", layers=[":stamp_layer"])
""",
        }
    )
    return runner


def manifest_of(runner: RuleRunner, name: str) -> tuple[dict, dict[str, bytes]]:
    target = runner.get_target(Address("ext", target_name=name))
    built = runner.request(BuiltPackage, [OciImageFieldSet.create(target)])
    files = {fc.path: fc.content for fc in runner.request(DigestContents, [built.digest])}
    digest = built.artifacts[0].digest
    return json.loads(files[f"ext/{name}/blobs/sha256/{digest[7:]}"]), files


def test_a_registered_target_type_is_accepted_in_layers_and_an_extension_adds_to_the_image(
    ext_runner: RuleRunner,
) -> None:
    manifest, files = manifest_of(ext_runner, "img")
    assert manifest["annotations"] == {"own": "x", "example.stamp": "1"}
    assert len(manifest["layers"]) == 2  # the files target's layer, then the extension's
    config = json.loads(files[f"ext/img/blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert [h["created_by"] for h in config["history"]] == [
        "pants: files ext/a.txt:f",
        "pants: stamp of ext:img",
    ]
    stamp_layer = files[f"ext/img/blobs/sha256/{manifest['layers'][1]['digest'][7:]}"]
    with tarfile.open(fileobj=io.BytesIO(stamp_layer)) as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()] == [
            ("stamp/ext/stamp.txt", b"stamp")
        ]
    # The layer set's config defaults apply where the image sets nothing itself.
    assert config["config"]["Entrypoint"] == ["/from-files/run"]
    assert config["config"]["Env"] == ["FROM=files"]
    plain, files = manifest_of(ext_runner, "plain")
    assert "annotations" not in plain and len(plain["layers"]) == 1
    config = json.loads(files[f"ext/plain/blobs/sha256/{plain['config']['digest'][7:]}"])
    assert config["config"]["Entrypoint"] == ["/mine"]
    assert config["config"]["Env"] == ["FROM=image"]


def test_an_extension_may_not_override_the_targets_annotation(ext_runner: RuleRunner) -> None:
    with pytest.raises(
        ExecutionError, match="'example.stamp' is set by the `annotations` field and by the extension Stamp"
    ):
        manifest_of(ext_runner, "clash")


def test_a_layer_part_of_placed_files_is_the_layer_an_oci_layer_of_those_files_makes(ext_runner: RuleRunner) -> None:
    """One layer process for both: the extension's LayerPart and an oci_layer of the same file,
    destination and owner give the same blob (only the history line names who made it)."""
    manifest, files = manifest_of(ext_runner, "same")
    from_oci_layer, from_extension = manifest["layers"]
    assert from_oci_layer == from_extension
    config = json.loads(files[f"ext/same/blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert [h["created_by"] for h in config["history"]] == [
        "pants: oci_layer ext:stamp_layer",
        "pants: stamp of ext:same",
    ]
