"""Bad BUILD input through the real CLI: a non-zero exit, a message naming the target, the field,
the value and what is accepted, and nothing written to dist/.

Each case lives in its own directory of the shared build root (written for the test, removed
after it), so the cases fail independently of each other and of the examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import pytest
from e2e_support import BuildRoot, scratch_dir

pytestmark = pytest.mark.integration

TOP = "e2e_errors"


@dataclass(frozen=True)
class Case:
    build: str
    target: str
    fragments: Tuple[str, ...]
    files: Dict[str, str] = field(default_factory=dict)
    hide: Tuple[str, ...] = ()  # what the message must not show (e.g. an engine internal)


def _d(case: str) -> str:
    return f"{TOP}/{case}"


CASES = {
    "workdir_relative": Case(
        'oci_image(name="img", workdir="app")\n',
        "img",
        (
            f"{_d('workdir_relative')}/BUILD:1",
            f"The `workdir` field in target {_d('workdir_relative')}:img has an invalid value 'app'",
            "expected an absolute, normalised path inside the image such as '/app'",
        ),
    ),
    "destination_dotdot": Case(
        'files(name="f", sources=["a.txt"])\n'
        'oci_layer(name="layer", dependencies=[":f"], destination="/app/../etc")\n'
        'oci_image(name="img", layers=[":layer"])\n',
        "img",
        (
            f"The `destination` field in target {_d('destination_dotdot')}:layer has an invalid value '/app/../etc'",
            "(no '..', '.', '//' or trailing '/')",
        ),
        files={"a.txt": "a\n"},
    ),
    "port_malformed": Case(
        'oci_image(name="img", exposed_ports=["8080", "80/http"])\n',
        "img",
        (
            f"The `exposed_ports` field in target {_d('port_malformed')}:img has an invalid value '80/http'",
            "expected PORT or PORT/PROTOCOL with PORT in 1-65535 and PROTOCOL one of tcp, udp, sctp",
        ),
    ),
    "port_out_of_range": Case(
        'oci_image(name="img", exposed_ports=["70000"])\n',
        "img",
        (
            f"The `exposed_ports` field in target {_d('port_out_of_range')}:img has an invalid value '70000'",
            "PORT in 1-65535",
        ),
    ),
    "platform_malformed": Case(
        'oci_image(name="img", platforms=["linux/amd64", "linux"])\n',
        "img",
        (
            f"The `platforms` field in target {_d('platform_malformed')}:img has an invalid value 'linux'",
            "expected 'os/arch' or 'os/arch/variant' in lowercase, e.g. 'linux/amd64'",
        ),
    ),
    "env_name_with_equals": Case(
        'oci_image(name="img", env={"OK": "1", "A=B": "c"})\n',
        "img",
        (
            f"The `env` field in target {_d('env_name_with_equals')}:img has an invalid value 'A=B'",
            "environment variable names must be non-empty and must not contain '='",
        ),
    ),
    "base_not_an_image": Case(
        'files(name="f", sources=["a.txt"])\noci_image(name="img", base=":f")\n',
        "img",
        (
            f"The `base` field in target {_d('base_not_an_image')}:img has an invalid value ':f'",
            f"{_d('base_not_an_image')}:f is a `files` target, but a base must be 'scratch'",
            "`oci_image`",
        ),
        files={"a.txt": "a\n"},
    ),
    "base_missing": Case(
        'oci_image(name="img", base=":nope")\n',
        "img",
        (
            f"The `base` field in target {_d('base_missing')}:img has an invalid value ':nope'",
            "it names no target",
            "does not exist",
            "a base must be 'scratch', an `oci_image` or `oci_pull` target, or an image reference pinned by digest",
        ),
    ),
    "base_cycle": Case(
        'oci_image(name="a", base=":b")\noci_image(name="b", base=":a")\n',
        "a",
        (
            f"makes a cycle of images: {_d('base_cycle')}:a -> {_d('base_cycle')}:b -> {_d('base_cycle')}:a",
            "An image cannot be built on itself.",
            "The `base` field in target",
        ),
    ),
    "layer_without_inputs": Case(
        'oci_layer(name="empty")\noci_image(name="img", layers=[":empty"])\n',
        "img",
        (
            f"oci_layer {_d('layer_without_inputs')}:empty has no inputs: its `dependencies` give no files",
            "Add `files` and `relocated_files` (at their path from the build root), `resources` and "
            "`python_sources` (stripped of their source root, as in a pex), and any target Pants "
            "can package (its built output) to it, or `symlinks`.",
        ),
    ),
    "two_inputs_one_path": Case(
        'files(name="a", sources=["a/x.txt"])\n'
        'files(name="b", sources=["b/x.txt"])\n'
        f'relocated_files(name="ra", files_targets=[":a"], src="{_d("two_inputs_one_path")}/a", dest="")\n'
        f'relocated_files(name="rb", files_targets=[":b"], src="{_d("two_inputs_one_path")}/b", dest="")\n'
        'oci_layer(name="layer", dependencies=[":ra", ":rb"], destination="/app")\n'
        'oci_image(name="img", layers=[":layer"])\n',
        "img",
        (
            f"Two inputs of oci_layer {_d('two_inputs_one_path')}:layer land on the same path "
            f"/app/x.txt: {_d('two_inputs_one_path')}:ra and {_d('two_inputs_one_path')}:rb",
            "Move one with `relocated_files` or put them in different layers.",
        ),
        files={"a/x.txt": "from a\n", "b/x.txt": "from b\n"},
    ),
    "owner_not_numeric": Case(
        'files(name="f", sources=["a.txt"])\n'
        'oci_layer(name="layer", dependencies=[":f"], owner="root")\n'
        'oci_image(name="img", layers=[":layer"])\n',
        "img",
        (
            f"The `owner` field in target {_d('owner_not_numeric')}:layer has an invalid value 'root'",
            "expected numeric 'uid:gid' such as '0:0' or '1000:1000'",
        ),
        files={"a.txt": "a\n"},
    ),
    "layers_not_a_layer": Case(
        'files(name="f", sources=["a.txt"])\noci_image(name="img", layers=[":f"])\n',
        "img",
        (
            f"The `layers` field in target {_d('layers_not_a_layer')}:img names",
            "only `oci_layer` and `oci_debian_packages` targets can be layers",
        ),
        files={"a.txt": "a\n"},
    ),
    "platform_missing_in_base": Case(
        'oci_image(name="base", platforms=["linux/amd64"])\n'
        'oci_image(name="img", base=":base", platforms=["linux/amd64", "linux/arm64"])\n',
        "img",
        (
            f"The `platforms` field in target {_d('platform_missing_in_base')}:img asks for "
            f"linux/arm64, but its base {_d('platform_missing_in_base')}:base is built for "
            "linux/amd64 only",
        ),
    ),
}


def _package_and_expect_failure(build_root: BuildRoot, name: str, case: Case):
    files = {"BUILD": case.build, **case.files}
    with scratch_dir(build_root, _d(name), files):
        run = build_root.run("package", f"{_d(name)}:{case.target}")
    assert run.returncode != 0, run.describe()
    return run


def _dist_entries_for(build_root: BuildRoot, name: str):
    prefix = f"{TOP}.{name}"
    dist = build_root.dist()
    return sorted(p.name for p in dist.iterdir() if p.name.startswith(prefix)) if dist.exists() else []


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_with_a_precise_message(build_root: BuildRoot, name: str) -> None:
    case = CASES[name]
    run = _package_and_expect_failure(build_root, name, case)
    output = " ".join(run.output.split())  # Pants may wrap long lines
    for fragment in case.fragments:
        assert " ".join(fragment.split()) in output, f"missing {fragment!r}\n{run.describe()}"
    assert "Traceback" not in run.output, run.describe()
    assert "Wrote dist/" not in run.output
    assert _dist_entries_for(build_root, name) == []


# ---------------------------------------------------------------------------------------------
# Once bugs, now fixed: each keeps its fix.
# ---------------------------------------------------------------------------------------------


def test_file_and_directory_on_one_path_is_a_layer_input_error(build_root: BuildRoot) -> None:
    d = _d("file_vs_directory")
    case = Case(
        'files(name="a", sources=["a/x"])\n'
        'files(name="b", sources=["b/x/y"])\n'
        f'relocated_files(name="ra", files_targets=[":a"], src="{d}/a", dest="")\n'
        f'relocated_files(name="rb", files_targets=[":b"], src="{d}/b", dest="")\n'
        'oci_layer(name="layer", dependencies=[":ra", ":rb"], destination="/app")\n'
        'oci_image(name="img", layers=[":layer"])\n',
        "img",
        (f"oci_layer {d}:layer", "/app/x", f"{d}:ra", f"{d}:rb"),
        files={"a/x": "a file\n", "b/x/y": "a file in a directory\n"},
    )
    run = _package_and_expect_failure(build_root, "file_vs_directory", case)
    assert "Can only merge Directories with no duplicates" not in run.output
    output = " ".join(run.output.split())
    for fragment in case.fragments:
        assert fragment in output, run.describe()


def test_oci_layer_in_image_dependencies_is_refused(build_root: BuildRoot) -> None:
    d = _d("layer_in_dependencies")
    case = Case(
        'files(name="f", sources=["a.txt"])\n'
        'oci_layer(name="layer", dependencies=[":f"], destination="/app", owner="1000:1000")\n'
        'oci_image(name="img", dependencies=[":layer"])\n',
        "img",
        (f"{d}:layer", "`layers`"),
        files={"a.txt": "a\n"},
    )
    run = _package_and_expect_failure(build_root, "layer_in_dependencies", case)
    for fragment in case.fragments:
        assert fragment in run.output, run.describe()
