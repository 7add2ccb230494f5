"""`ocikit bytecode`: pycs that the interpreter uses, byte-identical wherever the tree sits."""

from __future__ import annotations

import hashlib
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "python"

TREE = {
    "pkg/__init__.py": "",
    "pkg/mod.py": "KINDS = frozenset({'a', 'b', 'c', 'd', 'e', 'f'})\ndef boom():\n    raise ValueError('x')\n",
    "pkg/sub/deep.py": "from pkg.mod import KINDS\n",
    "top.py": "X = {'k': (1, 2.5, 'three')}\n",
    "fixtures/py2_only.py": "print 'python 2'\n",
    "pkg/data.txt": "not python",
}


def interpreters() -> list[str]:
    """This interpreter and, when it is another minor version, the machine's python3."""
    found = [sys.executable]
    other = shutil.which("python3")
    if other:
        version = subprocess.run(
            [other, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
        if version != str(tuple(sys.version_info[:2])):
            found.append(other)
    return found


def write_tree(root: Path) -> Path:
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def compile_with(python: str, root: Path, out: Path, seed: str = "0") -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "ocikit", "bytecode", "--root", str(root), "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(CORE), "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("python", interpreters())
def test_pycs_are_the_same_bytes_for_the_same_sources_anywhere(python: str, tmp_path: Path) -> None:
    one = compile_with(python, write_tree(tmp_path / "a" / "lib"), tmp_path / "a" / "pyc")
    compile_with(python, write_tree(tmp_path / "elsewhere" / "deeper" / "lib"), tmp_path / "b")
    assert "4 compiled, 1 skipped" in one.stderr
    first = tree_digest(tmp_path / "a" / "pyc")
    assert first == tree_digest(tmp_path / "b")
    tag = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True
    ).stdout.strip()
    assert sorted(first) == [
        f"__pycache__/top.{tag}.pyc",
        f"pkg/__pycache__/__init__.{tag}.pyc",
        f"pkg/__pycache__/mod.{tag}.pyc",
        f"pkg/sub/__pycache__/deep.{tag}.pyc",
    ]


def test_the_interpreter_loads_them(tmp_path: Path) -> None:
    lib = write_tree(tmp_path / "lib")
    compile_with(sys.executable, lib, lib)  # OUT merged over ROOT: the tree an image holds
    pyc = lib / "pkg" / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc"
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") == 0b11  # hash-based, checked
    assert marshal.loads(data[16:]).co_filename == "pkg/mod.py"
    run = subprocess.run(
        [sys.executable, "-B", "-v", "-c", "import pkg.sub.deep"], cwd=lib, capture_output=True, text=True
    )
    for module in ("pkg/__init__", "pkg/mod", "pkg/sub/deep"):
        head, name = module.rsplit("/", 1)
        pyc = lib / head / "__pycache__" / f"{name}.{sys.implementation.cache_tag}.pyc"
        assert f"# code object from '{pyc}'" in run.stderr


def test_a_pyc_the_tree_already_holds_is_kept(tmp_path: Path) -> None:
    lib = write_tree(tmp_path / "lib")
    shipped = lib / "pkg" / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc"
    shipped.parent.mkdir()
    shipped.write_bytes(b"as the wheel shipped it")
    run = compile_with(sys.executable, lib, tmp_path / "out")
    assert "3 compiled, 2 skipped" in run.stderr
    assert not (tmp_path / "out" / "pkg" / "__pycache__" / shipped.name).exists()
    assert (tmp_path / "out" / "pkg" / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc").exists()


def test_a_missing_root_is_an_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ocikit", "bytecode", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        env={**os.environ, "PYTHONPATH": str(CORE)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "ocikit bytecode: error:" in run.stderr and "is not a directory" in run.stderr


def test_another_python_than_the_one_asked_for_is_refused(tmp_path: Path) -> None:
    """The caller's cache key names the version (`cpython3.11`), not the interpreter's path: a
    link to another version behind that name must fail, not cache bytecode of the wrong kind."""
    root = write_tree(tmp_path / "tree")
    this = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
    args = [sys.executable, "-m", "ocikit", "bytecode", "--root", str(root), "--out", str(tmp_path / "o")]
    env = {**os.environ, "PYTHONPATH": str(CORE)}
    assert subprocess.run([*args, "--python", this], env=env, capture_output=True).returncode == 0
    run = subprocess.run([*args, "--python", "cpython2.7"], env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert f"asked for bytecode of cpython2.7, but this is {this}" in run.stderr


def test_the_bytes_do_not_depend_on_the_number_of_workers(tmp_path: Path, monkeypatch) -> None:
    from ocikit import bytecode

    root = write_tree(tmp_path / "tree")
    monkeypatch.setattr(bytecode, "BATCH", 2)  # several batches from the small tree
    outcomes = {}
    for jobs in (1, 3):
        out = tmp_path / f"out-{jobs}"
        outcomes[jobs] = bytecode.compile_tree(str(root), str(out), jobs=jobs), tree_digest(out)
    assert outcomes[1] == outcomes[3]
    assert outcomes[1][0] == (4, ["fixtures/py2_only.py"])


def test_one_worker_and_two_write_the_same_standard_library_bytecode(tmp_path: Path) -> None:
    """Hundreds of real modules, as the bytecode process compiles them: marshal's output
    follows what the compiling process has alive, which a worker of its own keeps the same."""
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    root = tmp_path / "tree"
    skip = shutil.ignore_patterns("__pycache__", "site-packages", "test", "tests", "idlelib", "lib2to3", "ensurepip")
    shutil.copytree(stdlib, root, ignore=skip)
    assert len(list(root.rglob("*.py"))) > 400
    digests = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        subprocess.run(
            [sys.executable, "-S", "-m", "ocikit", "bytecode", "--root", str(root), "--out", str(out), "--jobs", jobs],
            env={**os.environ, "PYTHONPATH": str(CORE), "PYTHONHASHSEED": "0"},
            capture_output=True,
            check=True,
        )
        digests.append(tree_digest(out))
    assert digests[0] == digests[1] and len(digests[0]) > 400
