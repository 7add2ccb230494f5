"""The setup step that fills the workers' named cache, run as Pants runs it (`python -S`)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from pants_oci.util_rules import worker_setup

SCRIPT = Path(worker_setup.__file__)
CORE = Path(__file__).resolve().parents[2] / "src" / "python"
SETUP_ENV = {"PYTHONPATH": str(CORE)}  # as Pants runs it: the core mounted, nothing else


def make_package(root: Path) -> list:
    files = []
    for rel, content in [("greet/__init__.py", b"WORD = 'hello'\n"), ("greet/data.txt", b"x" * 10)]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files.append([str(path), rel, hashlib.sha256(content).hexdigest()])
    return files


def run_setup(sandbox: Path, python: str, files: list, directory: str = "deps-abc"):
    spec = {"cache": ".ocikit", "python": python, "directory": directory, "files": files}
    (sandbox / "spec.json").write_text(json.dumps(spec))
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), "spec.json"], cwd=sandbox, capture_output=True, text=True, env=SETUP_ENV
    )


def test_copies_compiles_and_links_then_workers_import_from_it(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit").mkdir(parents=True)
    files = make_package(tmp_path / "site")
    python = os.path.realpath(sys.executable)
    proc = run_setup(sandbox, python, files)
    assert proc.returncode == 0, proc.stderr
    deps = sandbox / ".ocikit" / "deps-abc"
    assert (deps / ".complete").exists() and (deps / "greet/data.txt").read_bytes() == b"x" * 10
    assert list((deps / "greet" / "__pycache__").glob("__init__.cpython-*.pyc"))
    assert os.readlink(sandbox / ".ocikit" / "python") == python
    assert [p.name for p in (sandbox / ".ocikit").iterdir() if p.name.startswith(".")] == [".setup.lock"]
    worker = subprocess.run(
        [".ocikit/python", "-S", "-c", "import greet, sys; print(greet.WORD, 'site' in sys.modules)"],
        cwd=sandbox,
        env={"PYTHONPATH": ".ocikit/deps-abc"},
        capture_output=True,
        text=True,
    )
    assert worker.stdout.split() == ["hello", "False"], worker.stderr


def test_a_second_run_keeps_the_copy_and_relinks_another_interpreter(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit").mkdir(parents=True)
    files = make_package(tmp_path / "site")
    assert run_setup(sandbox, "/first/python", files).returncode == 0
    marker = sandbox / ".ocikit" / "deps-abc" / ".complete"
    before = marker.stat().st_mtime_ns
    (tmp_path / "site" / "greet" / "__init__.py").write_bytes(b"changed")  # not read again
    second = run_setup(sandbox, "/second/python", files)
    assert second.returncode == 0 and json.loads(second.stdout) == {"rebuilt": None, "damaged": False}
    assert marker.stat().st_mtime_ns == before
    assert os.readlink(sandbox / ".ocikit" / "python") == "/second/python"


def test_a_file_that_changed_since_pants_hashed_it_fails_and_leaves_nothing(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit").mkdir(parents=True)
    files = make_package(tmp_path / "site")
    (tmp_path / "site" / "greet" / "data.txt").write_bytes(b"tampered")
    proc = run_setup(sandbox, sys.executable, files)
    assert proc.returncode == 1
    assert "changed since Pants started" in proc.stderr and "restart Pants" in proc.stderr
    assert sorted(p.name for p in (sandbox / ".ocikit").iterdir()) == [".setup.lock"]


def test_an_incomplete_leftover_directory_is_replaced(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit" / "deps-abc" / "greet").mkdir(parents=True)
    (sandbox / ".ocikit" / "deps-abc" / "greet" / "half.py").write_text("")
    files = make_package(tmp_path / "site")
    assert run_setup(sandbox, sys.executable, files).returncode == 0
    deps = sandbox / ".ocikit" / "deps-abc"
    assert (deps / ".complete").exists() and not (deps / "greet" / "half.py").exists()


def test_without_the_named_cache_mounted_it_says_so(tmp_path):
    proc = run_setup(tmp_path, sys.executable, [])
    assert proc.returncode == 1 and "the named cache is not mounted at .ocikit" in proc.stderr


def test_links_another_interpreter_by_name_and_leaves_the_workers_python(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit").mkdir(parents=True)
    assert run_setup(sandbox, "/pants/python", make_package(tmp_path / "site")).returncode == 0
    spec = {"cache": ".ocikit", "links": {"cpython3.11": "/usr/bin/python3.11"}}
    (sandbox / "links.json").write_text(json.dumps(spec))
    for _ in range(2):  # again: nothing to change
        proc = subprocess.run(
            [sys.executable, "-S", str(SCRIPT), "links.json"],
            cwd=sandbox,
            capture_output=True,
            text=True,
            env=SETUP_ENV,
        )
        assert proc.returncode == 0, proc.stderr
    assert os.readlink(sandbox / ".ocikit" / "cpython3.11") == "/usr/bin/python3.11"
    assert os.readlink(sandbox / ".ocikit" / "python") == "/pants/python"
