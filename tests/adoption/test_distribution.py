"""The plugin distribution: what the wheel holds and declares, and what happens when it meets a
Python or an environment Pants cannot use."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from adoption_support import REPO, MissingPart, build_plugin, find_python, stock_pants_venv

from pants_oci import __version__
from pants_oci.util_rules.worker_dependencies import read_requirements

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "integration"))
from e2e_support import BuildRoot  # noqa: E402


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_plugin(tmp_path_factory.mktemp("dist-plugin"))
    except MissingPart as e:
        pytest.fail(str(e))


def test_the_wheel_holds_the_backend_and_the_core_and_nothing_else(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        p.relative_to(root).as_posix()
        for root in (REPO / "pants-plugins", REPO / "src" / "python")
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts
    } | {"pants_oci/requirements.txt"}
    assert {n for n in names if ".dist-info/" not in n} == expected
    assert not [
        n for n in names if n.split("/")[0] not in ("pants_oci", "ocikit", f"pants_oci-{__version__}.dist-info")
    ]


def test_the_wheel_declares_its_version_python_and_pinned_dependencies(wheel: Path):
    assert wheel.name == f"pants_oci-{__version__}-py3-none-any.whl"
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"pants_oci-{__version__}.dist-info/METADATA").decode())
    assert metadata["Name"] == "pants-oci" and metadata["Version"] == __version__
    assert metadata["Requires-Python"] == "<3.10,>=3.9"
    declared = sorted(r.replace(" ", "") for r in metadata.get_all("Requires-Dist"))
    assert (
        declared
        == sorted(str(r) for r in read_requirements())
        == ["PyNaCl==1.5.0", "PyYAML<7,>=6.0", "cryptography==42.0.8", "requests==2.32.5", "zstandard==0.25.0"]
    )


def test_the_same_sources_build_the_same_wheel(wheel: Path, tmp_path: Path):
    again = build_plugin(tmp_path)
    assert again.read_bytes() == wheel.read_bytes()


def test_a_python_pants_does_not_run_on_refuses_the_wheel(wheel: Path, tmp_path: Path):
    try:
        python311 = find_python("3.11")
    except MissingPart as e:
        pytest.fail(str(e))
    proc = subprocess.run(
        [
            python311,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(tmp_path / "target"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "requires a different Python: 3.11" in proc.stderr and "not in '<3.10,>=3.9'" in proc.stderr, proc.stderr


@pytest.mark.integration
def test_a_hand_made_environment_without_the_dependencies_is_one_error_naming_them(wheel: Path, tmp_path: Path):
    """The plugin's code put on Pants' path by hand, into a venv with only Pants: no requests."""
    try:
        venv = stock_pants_venv()
    except MissingPart as e:
        pytest.fail(str(e))
    site = tmp_path / "plugin-site"
    zipfile.ZipFile(wheel).extractall(site)
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "a.txt").write_text("a\n")
    (root / "app" / "BUILD").write_text(
        'files(name="f", sources=["a.txt"])\noci_image(name="img", dependencies=[":f"])\n'
    )
    (root / "pants.toml").write_text(
        '[GLOBAL]\npants_version = "2.17.1"\n'
        f'pythonpath = ["{site}"]\nbackend_packages = ["pants_oci"]\n'
        "[anonymous-telemetry]\nenabled = false\n"
    )
    (root / "pants").write_text(f'#!/bin/sh\nexec "{venv}/bin/pants" "$@"\n')
    (root / "pants").chmod(0o755)
    build_root = BuildRoot(root, tmp_path / "state", pantsd=False)
    run = build_root.run("package", "app:img", env={"HOME": str(tmp_path / "home")})
    assert run.returncode != 0
    assert (
        "pants-oci's worker processes need the distribution `requests==2.32.5` (required by pants-oci)" in run.stderr
    ), run.describe()
    assert "-m pip install 'requests==2.32.5'" in run.stderr and "[GLOBAL].plugins" in run.stderr
    assert "Traceback" not in run.stderr
