"""`ocikit requirement-layers`: an installed tree's layers in one process are the layers that
`ocikit layer` builds from the same files and their bytecode, part by part, and the same bytes
on every run, for another Python than the worker's, whatever the thread count."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ocikit.contracts.layer import LayerDescriptor
from ocikit.contracts.requirement_layers import RESULT, RequirementLayersResult, RequirementLayersSpec
from ocikit.layer import build_layer, plan_layer

CORE = Path(__file__).resolve().parents[2] / "src" / "python"
NAME = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
TAG = sys.implementation.cache_tag


def record(*paths: str) -> str:
    return "".join(f"{p},sha256=x,1\n" for p in paths)


def installed_tree(root: Path) -> Path:
    """Two distributions (`big` over the threshold, `small` under it), a namespace package both
    install into, a file no RECORD lists, a shipped pyc, an executable script, a native-only
    WHEEL tag."""
    files = {
        "big/__init__.py": "X = 1\n" + "# padding\n" * 3000,
        "big/data.bin": "\0" * 5000,
        f"big/__pycache__/shipped.{TAG}.pyc": "not really bytecode",
        "big/shipped.py": "Y = 2\n",
        "big-1.0.dist-info/RECORD": record("big/__init__.py", "big/data.bin", "big/shipped.py", "ns/b.py"),
        "big-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_17_x86_64\n",
        "small/__init__.py": "Z = frozenset({'a', 'b', 'c'})\n",
        "small-2.0.dist-info/RECORD": record("small/__init__.py", "ns/s.py", "../../bin/tool"),
        "small-2.0.dist-info/WHEEL": "Wheel-Version: 1.0\nTag: py3-none-any\n",
        "ns/b.py": "B = 1\n",
        "ns/s.py": "S = 1\n",
        "bin/tool": "#!python\nprint('tool')\n",
        "stray.py": "STRAY = True\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "bin/tool").chmod(0o755)
    (root / "big/data.bin").chmod(0o555)  # as Pants' store hardlinks a large input: not executable
    return root


def run_worker(work: Path, threads: int, python_name: str = NAME) -> subprocess.CompletedProcess:
    spec = RequirementLayersSpec(
        root="tree",
        destination="/app",
        prefix="lib",
        own_layer_bytes=20_000,
        python=sys.executable,
        python_name=python_name,
        uid=1000,
        gid=1000,
        threads=threads,
        executables=("bin/tool",),
    )
    (work / "spec.json").write_bytes(spec.dumps())
    return subprocess.run(
        [sys.executable, "-m", "ocikit", "requirement-layers", "--spec", "spec.json", "--out", "layers"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(CORE)},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    installed_tree(tmp_path / "tree")
    return tmp_path


def written(work: Path) -> tuple[RequirementLayersResult, dict[str, LayerDescriptor], dict[str, str]]:
    result = RequirementLayersResult.read(str(work / "layers" / RESULT))
    descriptors = {w.name: LayerDescriptor.read(str(work / "layers" / w.descriptor)) for w in result.layers}
    blobs = {w.name: hashlib.sha256((work / "layers" / w.blob).read_bytes()).hexdigest() for w in result.layers}
    return result, descriptors, blobs


def test_the_layers_are_what_ocikit_layer_builds_from_each_parts_files(work: Path, tmp_path_factory) -> None:
    proc = run_worker(work, threads=2)
    assert proc.returncode == 0, proc.stderr
    result, descriptors, _ = written(work)
    assert [w.name for w in result.layers] == ["big-1.0", "requirements"]
    assert all(d.file_sha1s for d in descriptors.values())  # what the image's SBOM reads
    assert result.platform_specific == ("big-1.0",)

    # The same parts as separate trees (the tree and its bytecode, as `ocikit bytecode` writes
    # it), each built by plan_layer + build_layer, as one `ocikit layer` process per part does.
    pyc = tmp_path_factory.mktemp("pyc")
    subprocess.run(
        [sys.executable, "-m", "ocikit", "bytecode", "--root", str(work / "tree"), "--out", str(pyc)],
        env={**os.environ, "PYTHONPATH": str(CORE), "PYTHONHASHSEED": "0"},
        check=True,
    )
    assert (pyc / "big" / "__pycache__" / f"__init__.{TAG}.pyc").exists()
    assert not (pyc / "big" / "__pycache__" / f"shipped.{TAG}.pyc").exists()  # the tree ships one
    parts = {
        "big-1.0": ["big", "big-1.0.dist-info"],
        "requirements": ["__pycache__", "bin", "ns", "small", "small-2.0.dist-info", "stray.py"],
    }
    for name, tops in parts.items():
        files = tmp_path_factory.mktemp("part")
        for source in (work / "tree", pyc):
            for top in tops:
                if (source / top).is_dir():
                    shutil.copytree(source / top, files / "lib" / top, dirs_exist_ok=True)
                elif (source / top).exists():
                    (files / "lib").mkdir(exist_ok=True)
                    shutil.copy2(source / top, files / "lib" / top)
        with open(tmp_path_factory.mktemp("blob") / "b", "wb") as out:
            planned = plan_layer(str(files), "/app", 1000, 1000, executables=["lib/bin/tool"])
            expected = build_layer(planned, out, "gzip", None, 0, 1)
        assert (descriptors[name].digest, descriptors[name].diff_id) == (expected.digest, expected.diff_id), name


def test_the_same_bytes_for_any_thread_count(work: Path) -> None:
    assert run_worker(work, threads=1).returncode == 0
    first = written(work)
    shutil.rmtree(work / "layers")
    assert run_worker(work, threads=4).returncode == 0
    second = written(work)
    assert first[0] == second[0] and first[2] == second[2]
    assert json.loads((work / "layers" / RESULT).read_text())["kind"] == "requirement-layers-result"


def test_a_python_of_another_version_than_the_spec_names_is_refused(work: Path) -> None:
    proc = run_worker(work, threads=1, python_name="cpython2.7")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ocikit requirement-layers: error: asked for bytecode of cpython2.7, but {sys.executable} is {NAME}"
    ]
    assert not (work / "layers" / RESULT).exists()
