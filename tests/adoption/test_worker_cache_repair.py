"""A damaged workers' cache repairs itself at the next setup: the manifest check, the import
check, leftovers of killed setups, concurrent setups, and setups killed at each step.

The setup script runs as Pants runs it (`python -S`, the core on PYTHONPATH), on a small pure
Python package, or on the workers' real packages (requests, zstandard, PyYAML) where an import
matters.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_worker_setup import CORE, SCRIPT, SETUP_ENV, make_package

from ocikit import worker_cache
from pants_oci.util_rules import worker_setup
from pants_oci.util_rules.core import WORKER_IMPORTS, WorkerSetupError, _check_setup
from pants_oci.util_rules.worker_dependencies import worker_dependencies

CRASH_STEPS = ("mid-copy", "after-compile", "mid-replace", "mid-link")


def run_setup(sandbox: Path, files: list, python: str = "", imports=(), directory: str = "deps-abc", env=None):
    spec = {
        "cache": ".ocikit",
        "python": python or os.path.realpath(sys.executable),
        "directory": directory,
        "files": files,
        "imports": list(imports),
    }
    (sandbox / "spec.json").write_text(json.dumps(spec))
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), "spec.json"],
        cwd=sandbox,
        capture_output=True,
        text=True,
        env={**SETUP_ENV, **(env or {})},
    )


def report(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cache_entries(sandbox: Path) -> list:
    return sorted(p.name for p in (sandbox / ".ocikit").iterdir())


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    (box / ".ocikit").mkdir(parents=True)
    return box


@pytest.fixture(scope="module")
def real_files() -> list:
    deps = worker_dependencies()
    return [[f.source, f.path, f.sha256] for f in deps.files]


def pyc_of(deps: Path, module: str) -> Path:
    (pyc,) = (deps / Path(module).parent / "__pycache__").glob(f"{Path(module).stem}.cpython-*.pyc")
    return pyc


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


# -- the manifest -----------------------------------------------------------------------------


def test_the_manifest_lists_every_copied_and_compiled_file_with_size_and_sha256(sandbox, tmp_path):
    files = make_package(tmp_path / "site")
    assert report(run_setup(sandbox, files)) == {"rebuilt": worker_cache.MISSING, "damaged": False}
    deps = sandbox / ".ocikit" / "deps-abc"
    manifest = json.loads((deps / worker_cache.MANIFEST).read_text())["files"]
    pyc = pyc_of(deps, "greet/__init__.py").relative_to(deps).as_posix()
    assert sorted(manifest) == sorted(["greet/__init__.py", "greet/data.txt", pyc])
    for rel, (size, sha256) in manifest.items():
        assert worker_cache.hash_file(str(deps / rel)) == (size, sha256)
    assert worker_cache.check(str(deps), {rel: sha for _, rel, sha in files}) is None


def test_a_truncated_pyc_with_its_header_intact_breaks_python_and_fails_the_check(sandbox, tmp_path):
    """Why .pyc files are in the manifest: Python trusts one whose header matches its source."""
    run_setup(sandbox, make_package(tmp_path / "site"))
    deps = sandbox / ".ocikit" / "deps-abc"
    pyc = pyc_of(deps, "greet/__init__.py")
    truncate(pyc, 20)  # the 16-byte header and 4 bytes of code
    worker = subprocess.run(
        [".ocikit/python", "-S", "-c", "import greet"],
        cwd=sandbox,
        env={"PYTHONPATH": ".ocikit/deps-abc"},
        capture_output=True,
        text=True,
    )
    assert "EOFError: marshal data too short" in worker.stderr
    assert "greet/__pycache__" in worker_cache.check(str(deps))


DAMAGE = {
    "truncated pyc": lambda deps: truncate(pyc_of(deps, "greet/__init__.py"), 20),
    "truncated py": lambda deps: truncate(deps / "greet/__init__.py", 4),
    "deleted file": lambda deps: (deps / "greet/data.txt").unlink(),
    "same size, other bytes": lambda deps: (deps / "greet/data.txt").write_bytes(b"y" * 10),
    "manifest deleted": lambda deps: (deps / worker_cache.MANIFEST).unlink(),
    "manifest garbled": lambda deps: (deps / worker_cache.MANIFEST).write_text("{not json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_next_setup_finds_the_damage_and_copies_again(sandbox, tmp_path, damage):
    files = make_package(tmp_path / "site")
    report(run_setup(sandbox, files))
    deps = sandbox / ".ocikit" / "deps-abc"
    intact = {p.relative_to(deps).as_posix(): p.read_bytes() for p in deps.rglob("*") if p.is_file()}
    DAMAGE[damage](deps)
    again = report(run_setup(sandbox, files))
    assert again["damaged"] and again["rebuilt"], again
    assert worker_cache.check(str(deps)) is None
    restored = {p.relative_to(deps).as_posix(): p.read_bytes() for p in deps.rglob("*") if p.is_file()}
    assert sorted(restored) == sorted(intact)
    assert all(restored[rel] == content for rel, content in intact.items() if not rel.endswith((".pyc", ".complete")))
    assert cache_entries(sandbox) == [".setup.lock", "deps-abc", "python"]
    assert report(run_setup(sandbox, files)) == {"rebuilt": None, "damaged": False}


def test_a_copy_of_the_old_layout_is_replaced_without_calling_it_damaged(sandbox, tmp_path):
    files = make_package(tmp_path / "site")
    old = sandbox / ".ocikit" / "deps-abc"
    (old / "greet").mkdir(parents=True)
    (old / "greet" / "__init__.py").write_bytes(b"WORD = 'hello'\n")
    (old / worker_cache.MANIFEST).write_bytes(b"")  # what setups wrote before manifests
    assert report(run_setup(sandbox, files)) == {"rebuilt": worker_cache.OLD_LAYOUT, "damaged": False}
    assert worker_cache.check(str(old)) is None


# -- the import check -------------------------------------------------------------------------


def test_the_real_packages_pass_the_import_check_and_a_deleted_extension_is_repaired(sandbox, real_files):
    """zstandard's C extension deleted (what users saw as `No module named
    'zstandard.backend_c'`): found by size/presence, copied again, imported again."""
    python = os.path.realpath(sys.executable)
    assert report(run_setup(sandbox, real_files, python, WORKER_IMPORTS))["rebuilt"] == worker_cache.MISSING
    deps = sandbox / ".ocikit" / "deps-abc"
    (extension,) = (deps / "zstandard").glob("backend_c.*.so")
    extension.unlink()
    assert "backend_c" in worker_cache.check(str(deps))
    again = report(run_setup(sandbox, real_files, python, WORKER_IMPORTS))
    assert again["damaged"] and "backend_c" in again["rebuilt"]
    assert worker_setup.import_problem(python, str(deps), WORKER_IMPORTS) is None


def test_an_import_that_fails_once_is_copied_again_and_one_that_always_fails_is_one_line(sandbox, tmp_path):
    site = tmp_path / "site"
    flag = tmp_path / "failed-once"
    files = make_package(site)
    flaky = site / "flaky.py"
    flaky.write_text(
        f"import os\nif not os.path.exists({str(flag)!r}):\n"
        f"    open({str(flag)!r}, 'w').close()\n    raise ImportError('first import')\n"
    )
    files.append([str(flaky), "flaky.py", worker_cache.hash_file(str(flaky))[1]])
    assert report(run_setup(sandbox, files, imports=["greet", "flaky"]))["rebuilt"] == worker_cache.MISSING
    assert flag.exists() and worker_cache.check(str(sandbox / ".ocikit" / "deps-abc")) is None

    broken = run_setup(sandbox, files, imports=["greet", "nosuchmodule"], directory="deps-def")
    assert broken.returncode == 1
    (line,) = broken.stderr.strip().splitlines()
    cache = os.path.realpath(sandbox / ".ocikit")
    assert "do not import with" in line and "twice" in line
    assert "nosuchmodule: ModuleNotFoundError: No module named 'nosuchmodule'" in line
    assert f"clear that cache with `rm -rf {cache}`" in line and "Traceback" not in broken.stderr
    assert "deps-def" not in cache_entries(sandbox) and not any(n.startswith(".deps") for n in cache_entries(sandbox))


def run_worker(sandbox: Path, *args: str):
    """`.ocikit/python -S -m ocikit ARGS` as Pants runs a worker."""
    env = {"PYTHONPATH": f"{CORE}:.ocikit/deps-abc", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [".ocikit/python", "-S", "-m", "ocikit", *args],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def zstd_layer(sandbox: Path):
    (sandbox / "files").mkdir(exist_ok=True)
    (sandbox / "files" / "hello.txt").write_text("hello\n")
    from ocikit.contracts.layer import LayerSpec

    (sandbox / "layer.json").write_bytes(LayerSpec("files", "/", compression="zstd").dumps())
    return run_worker(sandbox, "layer", "--spec", "layer.json", "--out", "blob", "--descriptor", "desc.json")


WORKER_DAMAGE = {
    # what users saw: EOFError from a truncated .pyc, ImportError from a deleted extension
    "zstandard pyc truncated": lambda deps: truncate(pyc_of(deps, "zstandard/__init__.py"), 200),
    "zstandard extension deleted": lambda deps: next((deps / "zstandard").glob("backend_c.*.so")).unlink(),
    "zstandard py truncated": lambda deps: truncate(deps / "zstandard" / "__init__.py", 1000),
}


@pytest.mark.parametrize("damage", sorted(WORKER_DAMAGE))
def test_a_worker_on_a_damaged_cache_prints_one_line_and_the_next_setup_repairs_it(sandbox, real_files, damage):
    python = os.path.realpath(sys.executable)
    report(run_setup(sandbox, real_files, python, WORKER_IMPORTS))
    assert zstd_layer(sandbox).returncode == 0
    WORKER_DAMAGE[damage](sandbox / ".ocikit" / "deps-abc")
    broken = zstd_layer(sandbox)
    assert broken.returncode == 1
    (line,) = broken.stderr.strip().splitlines()  # one line, no traceback
    cache = os.path.realpath(sandbox / ".ocikit")
    assert line.startswith("ocikit: error: the packages ocikit imports from Pants' named cache")
    assert "zstandard/" in line and f"`rm -rf {cache}`" in line and "--no-pantsd" in line
    assert report(run_setup(sandbox, real_files, python, WORKER_IMPORTS))["damaged"]
    repaired = zstd_layer(sandbox)
    assert repaired.returncode == 0, repaired.stderr


def test_a_push_on_a_damaged_requests_prints_the_same_line(sandbox, real_files):
    python = os.path.realpath(sys.executable)
    report(run_setup(sandbox, real_files, python, WORKER_IMPORTS))
    truncate(pyc_of(sandbox / ".ocikit" / "deps-abc", "requests/__init__.py"), 100)
    pull = run_worker(sandbox, "pull", "127.0.0.1:9/x/y@sha256:not-hex", "--out", "o")
    assert pull.returncode == 1
    (line,) = pull.stderr.strip().splitlines()
    assert "named cache" in line and "requests/__pycache__/__init__" in line and "EOFError" in line


# -- leftovers, the lock, concurrent setups ----------------------------------------------------


def test_leftovers_of_killed_setups_are_removed_and_nothing_else(sandbox, tmp_path):
    cache = sandbox / ".ocikit"
    (cache / ".deps-abc.k2j4_x9" / "zstandard").mkdir(parents=True)
    (cache / ".deps-abc.k2j4_x9" / "zstandard" / "half.so").write_bytes(b"\0" * 1000)
    (cache / ".deps-abc.old.4242").mkdir()
    os.symlink("/usr/bin/python3", cache / "python.4242.tmp")
    os.symlink("/usr/bin/python3.11", cache / "cpython3.11")
    (cache / "notes.tmp").write_text("a file, not a link of ours")
    report(run_setup(sandbox, make_package(tmp_path / "site")))
    assert cache_entries(sandbox) == [".setup.lock", "cpython3.11", "deps-abc", "notes.tmp", "python"]


def test_a_setup_waits_for_the_one_holding_the_lock_and_leaves_its_work_alone(sandbox, tmp_path):
    cache = sandbox / ".ocikit"
    in_progress = cache / ".deps-abc.live123"
    in_progress.mkdir()
    files = make_package(tmp_path / "site")
    (sandbox / "spec.json").write_text(
        json.dumps({"cache": ".ocikit", "python": sys.executable, "directory": "deps-abc", "files": files})
    )
    fd = os.open(cache / worker_setup.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live setup of another Pants run
    try:
        waiting = subprocess.Popen(
            [sys.executable, "-S", str(SCRIPT), "spec.json"],
            cwd=sandbox,
            env=SETUP_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1)
        assert in_progress.exists() and not (cache / "deps-abc").exists()
    finally:
        os.close(fd)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert not in_progress.exists() and worker_cache.check(str(cache / "deps-abc")) is None


def test_concurrent_setups_of_a_damaged_cache_all_end_with_a_valid_copy(sandbox, tmp_path):
    files = make_package(tmp_path / "site")
    report(run_setup(sandbox, files))
    deps = sandbox / ".ocikit" / "deps-abc"
    truncate(pyc_of(deps, "greet/__init__.py"), 20)
    (sandbox / "spec.json").write_text(
        json.dumps({"cache": ".ocikit", "python": sys.executable, "directory": "deps-abc", "files": files})
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-S", str(SCRIPT), "spec.json"],
            cwd=sandbox,
            env=SETUP_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(1 for r in reports if r["rebuilt"]) == 1, reports  # the others found it repaired
    assert worker_cache.check(str(deps)) is None
    assert cache_entries(sandbox) == [".setup.lock", "deps-abc", "python"]


# -- setups killed at each step ----------------------------------------------------------------


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_a_setup_killed_at_any_step_is_repaired_by_the_next(sandbox, tmp_path, step):
    files = make_package(tmp_path / "site")
    if step in ("mid-replace", "mid-link"):
        report(run_setup(sandbox, files, python="/first/python"))
        truncate(sandbox / ".ocikit" / "deps-abc" / "greet" / "__init__.py", 3)  # so it is replaced
    killed = run_setup(sandbox, files, python="/second/python", env={worker_setup.TEST_CRASH_ENV: step})
    assert killed.returncode == -9, killed.stderr
    left = [n for n in cache_entries(sandbox) if n.startswith(".deps") or n.endswith(".tmp")]
    assert left, f"killed at {step}, the setup left nothing to clean up"
    again = report(run_setup(sandbox, files, python="/second/python"))
    assert again["rebuilt"] or step == "mid-link", again
    assert cache_entries(sandbox) == [".setup.lock", "deps-abc", "python"]
    assert worker_cache.check(str(sandbox / ".ocikit" / "deps-abc")) is None
    assert os.readlink(sandbox / ".ocikit" / "python") == "/second/python"


# -- the errors ---------------------------------------------------------------------------------


def test_a_failing_setup_is_one_line_naming_the_cache_and_how_to_clear_it(sandbox):
    line = worker_setup.failure_line(OSError(28, "No space left on device"), str(sandbox / ".ocikit"))
    cache = os.path.realpath(sandbox / ".ocikit")
    assert line.startswith("pants-oci: preparing the Python for ocikit processes in Pants' named cache")
    assert "No space left on device" in line and f"`rm -rf {cache}`" in line and "\n" not in line
    changed = worker_setup.failure_line(worker_setup.SetupError("x changed since Pants started", about_cache=False))
    assert "rm -rf" not in changed


def test_the_rule_passes_the_setup_line_through_or_names_the_cache_when_it_was_killed():
    caches_dir = SimpleNamespace(val=Path("/home/u/.cache/pants/named_caches"))
    own = SimpleNamespace(exit_code=1, stderr=b"pants-oci: preparing ... failed: boom. If it fails again, ...\n")
    with pytest.raises(WorkerSetupError) as e:
        _check_setup(own, caches_dir, "ocikit_python_abc")
    assert str(e.value) == own.stderr.decode().strip()
    killed = SimpleNamespace(exit_code=-9, stderr=b"")
    with pytest.raises(WorkerSetupError) as e:
        _check_setup(killed, caches_dir, "ocikit_python_abc")
    assert "named cache ocikit_python_abc failed with exit code -9" in str(e.value)
    assert "`rm -rf /home/u/.cache/pants/named_caches/ocikit_python_abc`" in str(e.value)
    _check_setup(SimpleNamespace(exit_code=0, stderr=b""), caches_dir, "ocikit_python_abc")
