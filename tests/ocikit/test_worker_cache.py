"""The manifest of the workers' packages, and the one line a worker prints for a damaged cache."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ocikit import cli, worker_cache


def make_deps(root: Path) -> Path:
    """A named cache as Pants lays it out: `named_caches/<name>/deps-x`, reached from the
    sandbox through the `.ocikit` link."""
    deps = root / "named_caches" / "ocikit_python_abc" / "deps-x"
    (deps / "pkg" / "__pycache__").mkdir(parents=True)
    (deps / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (deps / "pkg" / "__pycache__" / "__init__.cpython-39.pyc").write_bytes(b"\x61\x0d\x0d\x0a" + b"\0" * 60)
    (deps / "pkg" / "ext.so").write_bytes(b"\x7fELF" + b"\1" * 100)
    worker_cache.write_manifest(str(deps))
    (root / "sandbox").mkdir()
    os.symlink(deps.parent, root / "sandbox" / ".ocikit")
    return deps


def test_an_intact_copy_passes_and_each_kind_of_damage_is_named(tmp_path):
    deps = make_deps(tmp_path)
    assert worker_cache.check(str(deps)) is None
    manifest = json.loads((deps / worker_cache.MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["pkg/__init__.py", "pkg/__pycache__/__init__.cpython-39.pyc", "pkg/ext.so"]

    pyc = deps / "pkg" / "__pycache__" / "__init__.cpython-39.pyc"
    pyc.write_bytes(pyc.read_bytes()[:20])
    assert worker_cache.check(str(deps)) == "pkg/__pycache__/__init__.cpython-39.pyc has 20 bytes, 64 expected"
    pyc.write_bytes(b"\x61\x0d\x0d\x0a" + b"\1" * 60)
    assert worker_cache.check(str(deps)) == "pkg/__pycache__/__init__.cpython-39.pyc has other content than was copied"
    (deps / "pkg" / "ext.so").unlink()
    assert worker_cache.check(str(deps)) == "pkg/ext.so is missing"


def test_the_manifest_itself_and_what_it_should_list(tmp_path):
    deps = make_deps(tmp_path)
    assert (
        worker_cache.check(str(deps), {"pkg/__init__.py": worker_cache.hash_file(str(deps / "pkg/__init__.py"))[1]})
        is None
    )
    assert (
        worker_cache.check(str(deps), {"pkg/other.py": "0" * 64}) == "its manifest does not list pkg/other.py as copied"
    )
    manifest = deps / worker_cache.MANIFEST
    manifest.write_text(json.dumps({"version": 99, "files": {}}))
    assert worker_cache.check(str(deps)) == f"its manifest {worker_cache.MANIFEST} is unreadable"
    manifest.write_text("")
    assert worker_cache.check(str(deps)) == worker_cache.OLD_LAYOUT
    manifest.unlink()
    assert worker_cache.check(str(deps)) == f"its manifest {worker_cache.MANIFEST} is missing"
    assert worker_cache.check(str(tmp_path / "nothing")) == worker_cache.MISSING


def test_a_worker_names_the_damaged_cache_its_path_and_how_to_clear_it(tmp_path, monkeypatch):
    deps = make_deps(tmp_path)
    monkeypatch.chdir(tmp_path / "sandbox")
    monkeypatch.setattr(sys, "path", ["__ocikit", ".ocikit/deps-x", *sys.path])
    error = EOFError("marshal data too short")
    assert worker_cache.damage_report(error) is None  # intact: not the cache's doing
    (deps / "pkg" / "ext.so").unlink()
    line = worker_cache.damage_report(error)
    cache = deps.parent.resolve()
    assert line == (
        "ocikit: error: the packages ocikit imports from Pants' named cache ocikit_python_abc are damaged "
        "(deps-x: pkg/ext.so is missing; the import failed with EOFError: marshal data too short): "
        f"clear it with `rm -rf {cache}` and run Pants again with --no-pantsd once "
        "(pantsd sets the cache up only when it starts)"
    )
    assert worker_cache.damage_report(OSError("disk")) is None  # never blamed on the cache
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "deps-" not in p])
    assert worker_cache.damage_report(error) is None


def test_the_entry_turns_a_damaged_import_into_that_line_and_leaves_other_errors_alone(tmp_path, monkeypatch, capsys):
    deps = make_deps(tmp_path)
    monkeypatch.chdir(tmp_path / "sandbox")
    monkeypatch.setattr(sys, "path", [".ocikit/deps-x", *sys.path])

    def failing(command, rest):
        raise ModuleNotFoundError("No module named 'pkg.ext'", name="pkg.ext")

    monkeypatch.setattr(cli, "_command", failing)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["layer"])
    (deps / "pkg" / "ext.so").unlink()
    assert cli.main(["layer"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "named cache ocikit_python_abc are damaged" in err
    assert "ModuleNotFoundError: No module named 'pkg.ext'" in err
