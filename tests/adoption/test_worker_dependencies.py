"""Which packages the worker processes get, and the errors for a broken Pants environment."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from pants_oci.util_rules.worker_dependencies import (
    WorkerDependencyError,
    read_requirements,
    resolve_distributions,
    worker_dependencies,
)


class FakeDistribution(importlib.metadata.Distribution):
    """A distribution installed under `root`, described by METADATA and RECORD texts."""

    def __init__(self, root: Path, name: str, version: str, requires=(), files=None) -> None:
        self.root = root
        self.name_ = name
        self._metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
            f"Requires-Dist: {r}\n" for r in requires
        )
        self._record = None if files is None else "".join(f"{f},,\n" for f in files)

    def read_text(self, filename):
        if filename == "METADATA":
            return self._metadata
        if filename == "RECORD":
            return self._record
        return None

    def locate_file(self, path):
        return self.root / str(path)


def finder(dists):
    def find(name):
        try:
            return dists[name.lower().replace("_", "-")]
        except KeyError:
            raise importlib.metadata.PackageNotFoundError(name) from None

    return find


def test_the_pinned_requirements_are_requests_zstandard_pyyaml_and_the_signing_libraries():
    assert [str(r) for r in read_requirements()] == [
        "requests==2.32.5",
        "zstandard==0.25.0",
        "PyYAML<7,>=6.0",
        "cryptography==42.0.8",
        "PyNaCl==1.5.0",
    ]


def test_the_closure_follows_requires_dist_without_extras(tmp_path):
    dists = {
        "app": FakeDistribution(tmp_path, "app", "1.0", ["lib>=2", "socks; extra == 'socks'"]),
        "lib": FakeDistribution(tmp_path, "lib", "2.1", ["pypy-only; platform_python_implementation == 'PyPy'"]),
    }
    found = resolve_distributions([Requirement("app==1.0")], finder(dists))
    assert [d.metadata["Name"] for d in found] == ["app", "lib"]


def test_a_missing_distribution_is_one_error_naming_it_and_how_to_add_it(tmp_path):
    dists = {"requests": FakeDistribution(tmp_path, "requests", "2.32.5", ["urllib3<3,>=1.21.1"])}
    with pytest.raises(WorkerDependencyError) as info:
        resolve_distributions([Requirement("requests==2.32.5")], finder(dists))
    message = str(info.value)
    assert "`urllib3<3,>=1.21.1` (required by requests 2.32.5)" in message
    assert "[GLOBAL].plugins" in message and "-m pip install 'urllib3<3,>=1.21.1'" in message


def test_a_wrong_version_of_a_pinned_distribution_is_an_error(tmp_path):
    dists = {"zstandard": FakeDistribution(tmp_path, "zstandard", "0.22.0")}
    with pytest.raises(WorkerDependencyError, match=r"need `zstandard==0\.25\.0` .* has zstandard 0\.22\.0"):
        resolve_distributions([Requirement("zstandard==0.25.0")], finder(dists))


def test_files_are_the_importable_ones_hashed_and_their_hash_names_the_directory(tmp_path):
    for rel, content in [("pkg/__init__.py", "x = 1\n"), ("pkg/_ext.so", "binary"), ("top.py", "")]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    record = [
        "pkg/__init__.py",
        "pkg/_ext.so",
        "top.py",
        "pkg/__pycache__/__init__.cpython-39.pyc",
        "pkg-1.0.dist-info/METADATA",
        "../../../bin/console-script",
    ]
    dist = FakeDistribution(tmp_path, "pkg", "1.0", files=record)
    deps = worker_dependencies([Requirement("pkg")], finder({"pkg": dist}))
    assert [f.path for f in deps.files] == ["pkg/__init__.py", "pkg/_ext.so", "top.py"]
    assert deps.files[0].source == str(tmp_path / "pkg/__init__.py")
    assert deps.distributions == ("pkg==1.0",)
    before = deps.directory
    assert before.startswith("deps-") and len(before) == 25
    (tmp_path / "pkg/__init__.py").write_text("x = 2\n")
    assert worker_dependencies([Requirement("pkg")], finder({"pkg": dist})).directory != before


def test_a_distribution_without_a_record_or_with_a_missing_file_is_an_error(tmp_path):
    no_record = FakeDistribution(tmp_path, "pkg", "1.0", files=None)
    with pytest.raises(WorkerDependencyError, match="without a RECORD"):
        worker_dependencies([Requirement("pkg")], finder({"pkg": no_record}))
    missing = FakeDistribution(tmp_path, "pkg", "1.0", files=["pkg/gone.py"])
    with pytest.raises(WorkerDependencyError, match="lists pkg/gone.py but .* is missing"):
        worker_dependencies([Requirement("pkg")], finder({"pkg": missing}))


def test_this_environment_has_everything_the_workers_import():
    deps = worker_dependencies()
    names = {d.split("==")[0].lower().replace("_", "-") for d in deps.distributions}
    assert names == {
        "requests",
        "urllib3",
        "idna",
        "charset-normalizer",
        "certifi",
        "zstandard",
        "pyyaml",
        "cryptography",
        "cffi",
        "pycparser",
        "pynacl",
    }
    paths = {f.path for f in deps.files}
    assert "requests/__init__.py" in paths and "certifi/cacert.pem" in paths
    assert any(p.startswith("zstandard/backend_c.") for p in paths)
