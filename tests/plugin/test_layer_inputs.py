"""What goes into a layer: `file`/`resource` leaves (read with one PathGlobs) and everything
else (a transitive walk + hydrated sources) must give the same files at the same paths: files
at their build-root path, resources and Python sources below their source root."""

from __future__ import annotations

import pytest
from pants.backend.python.dependency_inference.subsystem import PythonInferSubsystem
from pants.backend.python.target_types import (
    PythonFilesGeneratorSettingsRequest,
    PythonRequirementTarget,
    PythonSourcesGeneratorTarget,
    PythonSourceTarget,
)
from pants.backend.python.target_types_rules import python_files_generator_settings
from pants.core.target_types import GenericTarget, ResourcesGeneratorTarget, ResourceTarget
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import TargetFilesGeneratorSettingsRequest
from pants.engine.unions import UnionRule
from pants.testutil.rule_runner import QueryRule, RuleRunner

from pants_oci.layer_fields import OciLayerDependenciesField
from pants_oci.subsystem import Compression
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.settings import LayerCompression


@pytest.fixture
def inputs_runner(rule_runner: RuleRunner) -> RuleRunner:
    return RuleRunner(
        rules=[
            *rule_runner.rules,
            # python_sources generators, without the Python backend's inference rules.
            python_files_generator_settings,
            *PythonInferSubsystem.rules(),
            UnionRule(TargetFilesGeneratorSettingsRequest, PythonFilesGeneratorSettingsRequest),
            QueryRule(LayerInputs, [OciLayerRequest]),
        ],
        target_types=[
            *rule_runner.target_types,
            ResourceTarget,
            ResourcesGeneratorTarget,
            PythonSourceTarget,
            PythonSourcesGeneratorTarget,
            PythonRequirementTarget,
            GenericTarget,
        ],
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
    # Files keep their path from the build root; resources lose their source root (src/python
    # is one of Pants' default root patterns), as in a pex.
    assert layer_files(inputs_runner, "l", "leaves") == {
        "l/a.txt": b"a",
        "l/sub/b.txt": b"bb",
        "pkg/data.json": b"{}",
    }
    # A file with dependencies is walked: its dependency's file comes along.
    assert layer_files(inputs_runner, "l", "walked") == {
        "l/with_dep.txt": b"c",
        "pkg/data.json": b"{}",
        "moved/a.txt": b"a",
        "moved/sub/b.txt": b"bb",
    }
    assert layer_files(inputs_runner, "l", "both") == {
        "l/a.txt": b"a",
        "l/sub/b.txt": b"bb",
        "l/with_dep.txt": b"c",
        "pkg/data.json": b"{}",
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


GREETER = {
    "src/python/greeter/__init__.py": "",
    "src/python/greeter/main.py": "from greeter import util\n",
    "src/python/greeter/util.py": "X = 1\n",
    "src/python/greeter/data.json": "{}",
    "src/python/greeter/BUILD": """
python_sources(name="lib", sources=["*.py", "!main.py"], dependencies=[":data"])
python_source(name="main", source="main.py", dependencies=[":lib"])
resources(name="data", sources=["data.json"])
files(name="raw", sources=["data.json"])
""",
}


def test_python_sources_and_their_dependencies_land_below_their_source_root(
    inputs_runner: RuleRunner,
) -> None:
    inputs_runner.write_files(
        {
            **GREETER,
            "img/BUILD": """
oci_layer(name="code", dependencies=["src/python/greeter:main"], destination="/app")
oci_layer(name="both", dependencies=["src/python/greeter:data", "src/python/greeter:raw"])
""",
        }
    )
    assert layer_files(inputs_runner, "img", "code") == {
        "greeter/__init__.py": b"",
        "greeter/main.py": b"from greeter import util\n",
        "greeter/util.py": b"X = 1\n",
        "greeter/data.json": b"{}",
    }
    # One file owned by a `resources` and a `files` target: stripped and kept, both present.
    assert layer_files(inputs_runner, "img", "both") == {
        "greeter/data.json": b"{}",
        "src/python/greeter/data.json": b"{}",
    }


_THIRD_PARTY = """
python_requirement(name="requests", requirements=["requests==2.32.5"])
target(name="nothing")
"""

BAD_INPUTS = {
    "python_sources under no source root": (
        ["--source-root-patterns=['/src/python']"],
        {"img/x.py": "", "img/BUILD": 'python_sources(name="lib")\noci_layer(name="l", dependencies=[":lib"])'},
        r"oci_layer img:l cannot place img/x.py:lib: its files \(img/x.py\) are under "
        r"no source root.*`\[source\].root_patterns`",
    ),
    "two sources stripped onto one path": (
        ["--source-root-patterns=['/src/python', '/vendor']"],
        {
            "src/python/app/util.py": "a",
            "src/python/app/BUILD": "python_sources(name='lib')",
            "vendor/app/util.py": "b",
            "vendor/app/BUILD": "python_sources(name='lib')",
            "img/BUILD": 'oci_layer(name="l", dependencies=["src/python/app:lib", "vendor/app:lib"])',
        },
        r"Two inputs of oci_layer img:l land on the same path /app/util.py: "
        r"src/python/app/util.py:lib \(from src/python/app/util.py, source root src/python\) and "
        r"vendor/app/util.py:lib \(from vendor/app/util.py, source root vendor\)",
    ),
    **{
        f"a {alias} dependency puts no file in the layer": (
            [],
            {
                "3rdparty/BUILD": _THIRD_PARTY,
                "img/a.txt": "a",
                "img/BUILD": f'files(name="f", sources=["a.txt"])\n'
                f'oci_layer(name="l", dependencies=[":f", "//3rdparty:{name}"])',
            },
            rf"oci_layer img:l lists 3rdparty:{name} \(a `{alias}` target\) in its `dependencies`, "
            r"but it puts no file in the layer.*`oci_python_app`",
        )
        for name, alias in (("requests", "python_requirement"), ("nothing", "target"))
    },
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_name_the_layer_the_target_and_what_would_work(inputs_runner: RuleRunner, case: str) -> None:
    options, files, expected = BAD_INPUTS[case]
    inputs_runner.set_options(options)
    inputs_runner.write_files(files)
    with pytest.raises(ExecutionError, match=expected):
        layer_files(inputs_runner, "img", "l")


def test_requirements_reached_through_python_sources_are_named_in_a_warning(
    inputs_runner: RuleRunner, caplog: pytest.LogCaptureFixture
) -> None:
    inputs_runner.write_files(
        {
            "3rdparty/BUILD": _THIRD_PARTY,
            "src/python/app/main.py": "import requests\n",
            "src/python/app/BUILD": 'python_sources(name="lib", dependencies=["3rdparty:requests"])',
            "img/BUILD": 'oci_layer(name="l", dependencies=["src/python/app:lib"])',
        }
    )
    assert layer_files(inputs_runner, "img", "l") == {"app/main.py": b"import requests\n"}
    assert "oci_layer img:l reaches third-party requirements" in caplog.text
    assert "3rdparty:requests are not in it" in caplog.text


def test_generated_files_are_read_through_their_generator_whole_or_in_part(inputs_runner: RuleRunner) -> None:
    """A layer taking all of a generator's files, some of them, or a lone `file` gets exactly
    those files: the generator's snapshot is cut to what the layer asked for."""
    inputs_runner.write_files(
        {
            "g/a.txt": "a",
            "g/b.txt": "b",
            "g/sub/c.txt": "c",
            "g/lone.txt": "lone",
            "g/res/r.txt": "r",
            "g/BUILD": """
files(name="all", sources=["*.txt", "sub/*.txt", "!lone.txt"])
file(name="lone", source="lone.txt")
resources(name="res", sources=["res/*.txt"])
oci_layer(name="whole", dependencies=[":all", ":lone", ":res"])
oci_layer(name="part", dependencies=["g/a.txt:all", "g/b.txt:all"])
""",
            "BUILD": "",
        }
    )
    inputs_runner.set_options(["--source-root-patterns=['/', 'g']"], env_inherit={"PATH", "HOME"})
    assert layer_files(inputs_runner, "g", "whole") == {
        "g/a.txt": b"a",
        "g/b.txt": b"b",
        "g/sub/c.txt": b"c",
        "g/lone.txt": b"lone",
        "res/r.txt": b"r",
    }
    assert layer_files(inputs_runner, "g", "part") == {"g/a.txt": b"a", "g/b.txt": b"b"}
