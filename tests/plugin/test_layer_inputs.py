"""What goes into a layer: `file`/`resource` leaves (read with one PathGlobs) and everything
else (a transitive walk + SourceFiles) must give the same files at the same paths."""

from __future__ import annotations

import pytest
from pants_oci.layer_fields import OciLayerDependenciesField
from pants_oci.subsystem import Compression
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import LayerCompression
from pants.core.target_types import ResourcesGeneratorTarget, ResourceTarget
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import QueryRule, RuleRunner


@pytest.fixture
def inputs_runner(rule_runner: RuleRunner) -> RuleRunner:
    return RuleRunner(
        rules=[*rule_runner.rules, QueryRule(LayerInputs, [OciLayerRequest])],
        target_types=[*rule_runner.target_types, ResourceTarget, ResourcesGeneratorTarget],
    )


def layer_files(rule_runner: RuleRunner, spec_path: str, name: str) -> dict[str, bytes]:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    request = OciLayerRequest(
        address=target.address,
        dependencies=target[OciLayerDependenciesField],
        destination="/",
        uid=0,
        gid=0,
        what=f"oci_layer {target.address}",
        compression=LayerCompression(Compression.none, None),
    )
    inputs = rule_runner.request(LayerInputs, [request])
    contents = rule_runner.request(DigestContents, [inputs.digest])
    assert inputs.size == sum(len(fc.content) for fc in contents)
    return {fc.path: fc.content for fc in contents}


def test_leaves_and_walked_targets_give_the_same_files(inputs_runner: RuleRunner) -> None:
    inputs_runner.write_files(
        {
            "src/python/pkg/data.json": "{}",
            "l/a.txt": "a",
            "l/sub/b.txt": "bb",
            "l/with_dep.txt": "c",
            "l/BUILD": """
files(name="many", sources=["a.txt", "sub/*.txt"])
file(name="with_dep", source="with_dep.txt", dependencies=["//src/python/pkg:res"])
relocated_files(name="moved", files_targets=[":many"], src="l", dest="moved")
oci_layer(name="leaves", dependencies=[":many", "//src/python/pkg:res"])
oci_layer(name="walked", dependencies=[":with_dep", ":moved"])
oci_layer(name="both", dependencies=[":many", ":with_dep"])
""",
            "src/python/pkg/BUILD": 'resources(name="res", sources=["data.json"])',
        }
    )
    # Resources keep their path from the build root (no source-root stripping), like files.
    assert layer_files(inputs_runner, "l", "leaves") == {
        "l/a.txt": b"a",
        "l/sub/b.txt": b"bb",
        "src/python/pkg/data.json": b"{}",
    }
    # A file with dependencies is walked: its dependency's file comes along.
    assert layer_files(inputs_runner, "l", "walked") == {
        "l/with_dep.txt": b"c",
        "src/python/pkg/data.json": b"{}",
        "moved/a.txt": b"a",
        "moved/sub/b.txt": b"bb",
    }
    assert layer_files(inputs_runner, "l", "both") == {
        "l/a.txt": b"a",
        "l/sub/b.txt": b"bb",
        "l/with_dep.txt": b"c",
        "src/python/pkg/data.json": b"{}",
    }


def test_two_leaf_targets_on_one_file_is_a_conflict(inputs_runner: RuleRunner) -> None:
    inputs_runner.write_files(
        {
            "c/a.txt": "a",
            "c/BUILD": """
files(name="one", sources=["a.txt"])
file(name="two", source="a.txt")
oci_layer(name="l", dependencies=[":one", ":two"])
""",
        }
    )
    with pytest.raises(
        ExecutionError,
        match=r"Two inputs of oci_layer c:l land on the same path /c/a.txt: c:two and c/a.txt:one",
    ):
        layer_files(inputs_runner, "c", "l")


def test_a_file_target_whose_source_is_missing_names_the_layer_and_path(
    inputs_runner: RuleRunner,
) -> None:
    inputs_runner.write_files(
        {
            "m/BUILD": """
file(name="gone", source="gone.txt")
oci_layer(name="l", dependencies=[":gone"])
""",
        }
    )
    with pytest.raises(ExecutionError, match=r"m/gone.txt"):
        layer_files(inputs_runner, "m", "l")
