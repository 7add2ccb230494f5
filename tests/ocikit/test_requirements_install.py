"""`ocikit requirement-layers` with `install`: the process installs the resolved requirements
(a packed pex, built here by the real pex CLI from a local wheel) with pex's `venv create`, and
its layers are those of the same tree installed beforehand; `ocikit requirements-metadata`
copies the distributions' METADATA and WHEEL out of the same pex."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ocikit import requirements_install
from ocikit.contracts.requirement_layers import RequirementLayersResult, RequirementLayersSpec, RequirementsInstall
from ocikit.layer import LayerError

CORE = Path(__file__).resolve().parents[2] / "src" / "python"
NAME = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
PEX3 = shutil.which("pex3", path=os.path.dirname(sys.executable))
WHEEL_FILES = {
    "tinydist/__init__.py": b"VALUE = frozenset({'a', 'b'})\n",
    "tinydist/data.bin": b"\0" * 3000,
    "tinydist-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydist\nVersion: 1.0\nLicense: MIT\n",
    "tinydist-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "tinydist-1.0.dist-info/entry_points.txt": b"[console_scripts]\ntinytool = tinydist:main\n",
}


def _wheel(directory: Path) -> Path:
    """A pure-Python wheel with a module, a data file and a console script, written by hand (no
    PyPI)."""
    path = directory / "tinydist-1.0-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w") as z:
        for name, data in WHEEL_FILES.items():
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")
        z.writestr("tinydist-1.0.dist-info/RECORD", "\n".join([*records, "tinydist-1.0.dist-info/RECORD,,"]) + "\n")
    return path


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A packed pex of the wheel, as Pants resolves an app's requirements."""
    if PEX3 is None:
        pytest.fail(f"no pex3 beside {sys.executable}: the tests run in the Pants venv, which holds pex")
    work = tmp_path_factory.mktemp("repo")
    wheels = work / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    pex = shutil.which("pex", path=os.path.dirname(sys.executable))
    subprocess.run(
        [pex, "--no-pypi", "--find-links", str(wheels), "tinydist", "--layout", "packed", "-o", str(work / "r.pex")],
        env={**os.environ, "PEX_ROOT": str(work / "pex_root")},
        check=True,
        capture_output=True,
    )
    return work


def _run(work: Path, install: RequirementsInstall | None, executables: tuple = ()) -> subprocess.CompletedProcess:
    spec = RequirementLayersSpec(
        root="site-packages",
        destination="/app",
        prefix="lib",
        own_layer_bytes=1,
        python=sys.executable,
        python_name=NAME,
        executables=executables,
        install=install,
    )
    (work / "spec.json").write_bytes(spec.dumps())
    return subprocess.run(
        [sys.executable, "-m", "ocikit", "requirement-layers", "--spec", "spec.json", "--out", "layers"],
        cwd=work,
        env={"PYTHONPATH": str(CORE), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )


def _blobs(work: Path) -> dict[str, str]:
    result = RequirementLayersResult.read(str(work / "layers" / "result.json"))
    return {w.name: hashlib.sha256((work / "layers" / w.blob).read_bytes()).hexdigest() for w in result.layers}


def _install(repository: Path, work: Path) -> RequirementsInstall:
    shutil.copytree(repository / "r.pex", work / "r.pex")
    return RequirementsInstall(
        pex_cli=str(PEX3), repository="r.pex", python=sys.executable, pex_root=str(repository / "pex_root")
    )


@pytest.mark.slow  # builds a pex with the real pex CLI (seconds)
def test_the_process_installs_with_pex_and_builds_the_layers_of_the_installed_tree(repository: Path, tmp_path) -> None:
    installing = tmp_path / "installing"
    installing.mkdir()
    proc = _run(installing, _install(repository, installing))
    assert proc.returncode == 0, proc.stderr

    # The same tree installed beforehand by `pex3 venv create`, its executables given as Pants
    # records them: the same layer bytes.
    given = tmp_path / "given"
    given.mkdir()
    subprocess.run(
        [
            PEX3,
            "venv",
            "create",
            f"--dest-dir={given / 'site-packages'}",
            f"--pex-repository={repository / 'r.pex'}",
            "--layout=flat",
            f"--python={sys.executable}",
        ],
        env={**os.environ, "PEX_ROOT": str(repository / "pex_root")},
        check=True,
        capture_output=True,
    )
    tree = given / "site-packages"
    assert requirements_install.executables(str(tree)) == ("bin/tinytool",)
    proc = _run(given, None, executables=("bin/tinytool",))
    assert proc.returncode == 0, proc.stderr
    assert _blobs(installing) == _blobs(given) != {}


@pytest.mark.slow  # builds a pex with the real pex CLI (seconds)
def test_a_failed_install_is_one_line_naming_pex(repository: Path, tmp_path) -> None:
    install = RequirementsInstall(
        pex_cli=str(PEX3), repository="missing.pex", python=sys.executable, pex_root=str(tmp_path)
    )
    proc = _run(tmp_path, install)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ocikit requirement-layers: error: `pex3 venv create` could not install")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_no_requirements_means_no_layers(tmp_path) -> None:
    (tmp_path / "site-packages" / "empty").mkdir(parents=True)
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    assert RequirementLayersResult.read(str(tmp_path / "layers" / "result.json")).layers == ()


def test_a_missing_tree_without_install_is_an_error_naming_it(tmp_path) -> None:
    proc = _run(tmp_path, None)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ocikit requirement-layers: error:") and "site-packages" in proc.stderr


@pytest.mark.slow  # builds a pex with the real pex CLI (seconds)
def test_the_metadata_command_copies_each_distributions_metadata_and_wheel(repository: Path, tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocikit",
            "requirements-metadata",
            "--repository",
            str(repository / "r.pex"),
            "--out",
            "m",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(CORE)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    found = sorted(str(p.relative_to(tmp_path / "m")) for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert found == ["tinydist-1.0.dist-info/METADATA", "tinydist-1.0.dist-info/WHEEL"]
    assert (tmp_path / "m" / found[0]).read_bytes() == WHEEL_FILES[found[0]]


def test_no_dependencies_give_an_empty_metadata_directory(tmp_path) -> None:
    (tmp_path / "r.pex").mkdir()
    assert requirements_install.copy_metadata(str(tmp_path / "r.pex"), str(tmp_path / "m")) == []
    assert (tmp_path / "m").is_dir()


def test_executables_are_the_files_with_the_owners_execute_bit(tmp_path) -> None:
    (tmp_path / "a").write_text("")
    (tmp_path / "b").write_text("")
    (tmp_path / "b").chmod(0o744)
    (tmp_path / "c").write_text("")
    (tmp_path / "c").chmod(0o611)  # others may run it, its owner may not: Pants says not executable
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("b")
    assert requirements_install.executables(str(tmp_path)) == ("b",)


def test_install_errors_are_layer_errors(tmp_path) -> None:
    with pytest.raises(LayerError, match="could not install"):
        requirements_install.install_tree(
            RequirementsInstall(pex_cli=str(tmp_path / "no-pex"), repository="r", python=sys.executable, pex_root="p"),
            str(tmp_path / "site-packages"),
            str(tmp_path),
        )
