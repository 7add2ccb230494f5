"""The pure parts of `oci_python_app`: how installed requirements split into layers, the launcher
the image runs (executed here by real interpreters), and the Python version checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException

from ocikit.image import Blob, Platform, PlatformImage
from ocikit.requirement_layers import (
    SHARED,
    Distribution,
    RequirementLayer,
    distributions,
    layer_tops,
    platform_specific,
    recorded_paths,
    split_requirements,
)
from pants_oci.python.app import check_base_python, check_platforms, python_versions
from pants_oci.python.launcher import PythonVersions, launcher_script

APP = Address("images", target_name="app")
BIN = Address("src/python/greeter", target_name="bin")
UNIVERSE = ("3.8", "3.9", "3.10", "3.11", "3.12")
HERE = PythonVersions(("cpython",), (f"{sys.version_info[0]}.{sys.version_info[1]}",), "CPython==this")


# -- requirement layers ---------------------------------------------------------------------

RECORDS = {
    "numpy-1.26.4.dist-info/RECORD": "numpy/__init__.py,sha256=x,10\nnumpy/core/a.so,,\n"
    "numpy.libs/libopenblas.so,,\nnumpy-1.26.4.dist-info/RECORD,,\n../../bin/f2py,,\n",
    "six-1.16.0.dist-info/RECORD": "six.py,,\nsix-1.16.0.dist-info/RECORD,,\n",
    # Two distributions of one namespace package share its top-level directory.
    "google_auth-2.0.dist-info/RECORD": 'google/auth/__init__.py,,\n"google/auth/odd,name.py",,\n',
    "google_api-1.0.dist-info/RECORD": "google/api/__init__.py,,\nbin/api-tool,,\n",
}
SIZES = {
    "numpy/__init__.py": 10,
    "numpy/core/a.so": 5000,
    "numpy/core/__pycache__/x.cpython-311.pyc": 90,
    "numpy.libs/libopenblas.so": 20000,
    "numpy-1.26.4.dist-info/RECORD": 100,
    "six.py": 30,
    "__pycache__/six.cpython-311.pyc": 20,
    "six-1.16.0.dist-info/RECORD": 10,
    "google/auth/__init__.py": 1,
    "google/auth/odd,name.py": 1,
    "google/api/__init__.py": 1,
    "google_auth-2.0.dist-info/RECORD": 5,
    "google_api-1.0.dist-info/RECORD": 5,
    "bin/api-tool": 5,
    "unrecorded.pth": 3,
}


def test_recorded_paths_reads_the_csv() -> None:
    assert recorded_paths(RECORDS["google_auth-2.0.dist-info/RECORD"]) == [
        "google/auth/__init__.py",
        "google/auth/odd,name.py",
    ]


def test_distributions_name_their_top_level_entries() -> None:
    assert distributions(RECORDS) == [
        Distribution("google_api-1.0", ("bin", "google", "google_api-1.0.dist-info")),
        Distribution("google_auth-2.0", ("google", "google_auth-2.0.dist-info")),
        Distribution("numpy-1.26.4", ("numpy", "numpy-1.26.4.dist-info", "numpy.libs")),
        Distribution("six-1.16.0", ("six-1.16.0.dist-info", "six.py")),
    ]


def test_large_distributions_get_a_layer_each_and_the_rest_share_one() -> None:
    layers = split_requirements(distributions(RECORDS), SIZES, own_layer_bytes=1000)
    numpy_globs = (
        "numpy",
        "numpy/**",
        "numpy-1.26.4.dist-info",
        "numpy-1.26.4.dist-info/**",
        "numpy.libs",
        "numpy.libs/**",
    )
    assert layers == [
        RequirementLayer("numpy-1.26.4", numpy_globs, (), 25200),
        RequirementLayer(SHARED, ("**",), numpy_globs, sum(SIZES.values()) - 25200),
    ]


def test_a_layer_holds_the_top_level_entries_its_globs_select() -> None:
    numpy, shared = split_requirements(distributions(RECORDS), SIZES, own_layer_bytes=1000)
    tops = {path.split("/", 1)[0] for path in SIZES} | {"__pycache__"}
    assert layer_tops(numpy, tops) == ["numpy", "numpy-1.26.4.dist-info", "numpy.libs"]
    assert layer_tops(shared, tops) == sorted(tops - {"numpy", "numpy-1.26.4.dist-info", "numpy.libs"})
    assert "__pycache__" in layer_tops(shared, tops)  # bytecode of top-level modules stays shared


def test_threshold_zero_gives_every_distribution_its_own_layer() -> None:
    names = [layer.name for layer in split_requirements(distributions(RECORDS), SIZES, 0)]
    # The namespace package `google` is shared: it stays with the unrecorded files.
    assert names == ["google_api-1.0", "google_auth-2.0", "numpy-1.26.4", "six-1.16.0", SHARED]
    every_byte = split_requirements(distributions(RECORDS), SIZES, 0)
    assert sum(layer.size for layer in every_byte) == sum(SIZES.values())


def test_nothing_left_over_means_no_shared_layer() -> None:
    only_six = {p: s for p, s in SIZES.items() if p.startswith("six")}
    records = {"six-1.16.0.dist-info/RECORD": RECORDS["six-1.16.0.dist-info/RECORD"]}
    assert [part.name for part in split_requirements(distributions(records), only_six, 1)] == ["six-1.16.0"]


# -- the launcher ---------------------------------------------------------------------------


def app_tree(root: Path, launcher: bytes) -> Path:
    (root / "src/greeter").mkdir(parents=True)
    (root / "src/greeter/__init__.py").write_text("")
    (root / "src/greeter/main.py").write_text(
        "import sys, dep\n"
        "def main():\n    print('main', dep.WHERE, sys.argv[1:])\n    return 3\n"
        "if __name__ == '__main__':\n    print('as __main__', sys.argv[1:])\n"
    )
    (root / "lib/dep").mkdir(parents=True)
    (root / "lib/dep/__init__.py").write_text("WHERE = 'lib'\n")
    (root / "lib/extra").mkdir()
    (root / "lib/extra/pthmod.py").write_text("")
    (root / "lib/extra.pth").write_text("extra\n")  # a .pth file in lib applies, as in site-packages
    (root / "__main__.py").write_bytes(launcher)
    return root


def run_launcher(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-S", str(root / "__main__.py"), *args], capture_output=True, text=True, cwd="/"
    )


def test_the_launcher_runs_a_function_entry_point_with_the_app_first_on_sys_path(tmp_path: Path) -> None:
    root = app_tree(tmp_path, launcher_script("src/python/greeter:bin", "greeter.main", "main", HERE, None))
    run = run_launcher(root, "a", "b")
    assert (run.stdout, run.returncode) == ("main lib ['a', 'b']\n", 3), run.stderr
    probe = app_tree(
        tmp_path / "probe",
        launcher_script("x:bin", "json.tool", None, HERE, None).replace(
            b'if __name__ == "__main__":', b"print(sys.path)\nif False:"
        ),
    )
    path = eval(run_launcher(probe).stdout)
    assert path[:3] == [str(probe / "src"), str(probe / "lib"), str(probe / "lib" / "extra")]
    assert not any("site-packages" in p or "dist-packages" in p for p in path)  # hermetic


def test_the_launcher_runs_a_module_entry_point_as_main(tmp_path: Path) -> None:
    root = app_tree(tmp_path, launcher_script("x:bin", "greeter.main", None, HERE, None))
    run = run_launcher(root, "z")
    assert (run.stdout, run.returncode) == ("as __main__ ['z']\n", 0), run.stderr


@pytest.mark.parametrize("inherit_path, first", [("prefer", "site"), ("fallback", "app")])
def test_inherit_path_adds_the_interpreters_site_packages(tmp_path: Path, inherit_path: str, first: str) -> None:
    launcher = launcher_script("x:bin", "json.tool", None, HERE, inherit_path).replace(
        b'if __name__ == "__main__":',
        b"import site\nprint(sys.path.index(site.getsitepackages()[0]) < sys.path.index(_app[0]))\nif False:",
    )
    run = run_launcher(app_tree(tmp_path, launcher))
    assert run.stdout.strip() == str(first == "site"), run.stderr


def test_the_launcher_names_the_constraints_and_the_interpreter_it_got(tmp_path: Path) -> None:
    elsewhere = PythonVersions(("cpython",), ("2.7",), "CPython==2.7.*")
    root = app_tree(tmp_path, launcher_script("src/python/greeter:bin", "greeter.main", "main", elsewhere, None))
    run = run_launcher(root)
    assert run.returncode == 1
    version = sys.version.split()[0]
    assert run.stderr.strip() == (
        "src/python/greeter:bin needs a Python matching CPython==2.7.* (the "
        "`interpreter_constraints` its requirements and bytecode were built for), but this image "
        f"runs it with cpython {version} at {sys.executable}."
    )


# -- Python versions ------------------------------------------------------------------------


def test_python_versions_must_name_one_minor_version() -> None:
    versions = python_versions(APP, BIN, InterpreterConstraints(["CPython==3.11.*"]), UNIVERSE)
    assert versions == PythonVersions(("cpython",), ("3.11",), "CPython==3.11.*")
    assert versions.allows("CPython", "3.11.2") and not versions.allows("cpython", "3.12.0")
    with pytest.raises(
        InvalidFieldException,
        match=r"oci_python_app images:app: the `interpreter_constraints` of src/python/greeter:bin "
        r"\(CPython<3.12,>=3.10\) allow Python 3.10, 3.11 .*Narrow them to the base image's version",
    ):
        python_versions(APP, BIN, InterpreterConstraints(["CPython>=3.10,<3.12"]), UNIVERSE)


def base_with_env(*env: str) -> PlatformImage:
    config = Blob.of_json({"config": {"Env": list(env)}}, "application/vnd.oci.image.config.v1+json")
    return PlatformImage(Platform.parse("linux/amd64"), config, config, ())


def test_a_base_declaring_another_python_fails_the_package() -> None:
    versions = PythonVersions(("cpython",), ("3.11",), "CPython==3.11.*")
    check_base_python(APP, versions, ())  # scratch
    check_base_python(APP, versions, (base_with_env("PATH=/usr/bin"),))  # not declared
    check_base_python(APP, versions, (base_with_env("PYTHON_VERSION=3.11.9"),))
    with pytest.raises(
        InvalidFieldException,
        match=r"oci_python_app images:app needs a Python matching CPython==3.11.\* .* its image's "
        r"base declares PYTHON_VERSION=3.12.1 \(linux/amd64\)",
    ):
        check_base_python(APP, versions, (base_with_env("PYTHON_VERSION=3.12.1"),))
    assert json.loads(base_with_env("A=1").config.data) == {"config": {"Env": ["A=1"]}}


def test_distributions_built_for_one_platform_are_found_by_their_wheel_tags() -> None:
    wheels = {
        "numpy-1.26.4.dist-info/WHEEL": "Root-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n",
        "pytz-2024.1.dist-info/WHEEL": "Root-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n",
    }
    assert platform_specific(wheels) == ["numpy-1.26.4"]


def test_an_image_for_other_platforms_cannot_hold_this_machines_wheels() -> None:
    here, arm = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")
    check_platforms(APP, ["numpy-1.26.4"], [here], here)
    check_platforms(APP, [], [here, arm], here)  # pure Python: any platform
    with pytest.raises(
        InvalidFieldException,
        match=r"oci_python_app images:app installs its requirements for the containers this machine "
        r"runs \(linux/amd64\), and numpy-1.26.4 are built for that platform only, but its image's "
        r"`platforms` field asks for linux/arm64 too",
    ):
        check_platforms(APP, ["numpy-1.26.4"], [here, arm], here)
