"""Which runner a process's environment gets, what pip is asked for on its Python's behalf, and
how the fetched wheels become the shipped workers' packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pants.core.util_rules.environments import (
    DockerEnvironmentTarget,
    EnvironmentTarget,
    LocalEnvironmentTarget,
    RemoteEnvironmentTarget,
)
from pants.engine.addresses import Address

from pants_oci.util_rules import worker_wheels
from pants_oci.util_rules.worker_environment import (
    PROBE,
    ShippedWorkerError,
    WorkerMode,
    WorkerPython,
    pip_target_args,
    ships_worker,
)

ADDRESS = Address("", target_name="env")
DOCKER = EnvironmentTarget("py", DockerEnvironmentTarget({"image": "python:3.11"}, ADDRESS))
REMOTE = EnvironmentTarget("remote", RemoteEnvironmentTarget({}, ADDRESS))
LOCAL = EnvironmentTarget("here", LocalEnvironmentTarget({}, ADDRESS))
NO_ENVIRONMENTS = EnvironmentTarget(None, None)


@pytest.mark.parametrize(
    "mode, environment, shipped",
    [
        (WorkerMode.auto, NO_ENVIRONMENTS, False),
        (WorkerMode.auto, LOCAL, False),
        (WorkerMode.auto, DOCKER, True),
        (WorkerMode.auto, REMOTE, True),
        (WorkerMode.shipped, NO_ENVIRONMENTS, True),
        (WorkerMode.shipped, LOCAL, True),
    ],
)
def test_only_processes_that_leave_this_machine_get_the_shipped_worker_unless_asked(mode, environment, shipped):
    assert ships_worker(mode, environment) is shipped


def python(implementation="cpython", version=(3, 11), libc="glibc 2.36") -> WorkerPython:
    return WorkerPython("/usr/bin/python3", implementation, version, "x86_64", libc)


def test_pip_is_asked_for_wheels_of_that_cpython_and_every_manylinux_its_glibc_runs():
    args = pip_target_args(python(), "in the environment `py`")
    assert args[:4] == ("--python-version", "3.11", "--implementation", "cp")
    pairs = list(zip(args[::2], args[1::2]))
    assert [v for k, v in pairs if k == "--abi"] == ["cp311", "abi3", "none"]
    platforms = [v for k, v in pairs if k == "--platform"]
    assert platforms[0] == "manylinux_2_36_x86_64" and platforms[-1] == "manylinux1_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64"} <= set(
        platforms
    )
    assert "manylinux_2_37_x86_64" not in platforms and "manylinux_2_4_x86_64" not in platforms


@pytest.mark.parametrize(
    "found, words",
    [
        (python(implementation="pypy"), ["/usr/bin/python3", "is pypy", "CPython 3.9 or newer"]),
        (python(libc=""), ["/usr/bin/python3", "does not run on glibc (unknown libc)", "manylinux"]),
    ],
)
def test_a_python_without_manylinux_wheels_is_refused_in_one_line_naming_it_and_where(found, words):
    with pytest.raises(ShippedWorkerError) as e:
        pip_target_args(found, "in the environment `py`")
    message = str(e.value)
    assert "\n" not in message and "in the environment `py`" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("interpreter", [sys.executable, "/usr/bin/python3"])
def test_the_probe_runs_with_no_site_packages_on_real_interpreters(interpreter: str):
    if not Path(interpreter).exists():
        pytest.fail(f"{interpreter} is missing: Debian's python3 is part of the machine image")
    out = subprocess.run([interpreter, "-S", "-c", PROBE], capture_output=True, text=True, check=True).stdout
    found = WorkerPython.from_probe(interpreter, out)
    ran = subprocess.run(
        [
            interpreter,
            "-S",
            "-c",
            "import sys, platform; print(sys.version_info[0], sys.version_info[1], platform.machine())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert (found.implementation, found.version, found.machine) == ("cpython", (int(ran[0]), int(ran[1])), ran[2])
    assert found.libc.startswith("glibc 2.")
    pip_target_args(found, "on this machine")  # accepted


def test_the_probe_refuses_a_python_older_than_the_core_supports():
    old = "import sys; sys.version_info = (3, 8, 0); exec(compile(sys.argv[1], 'probe', 'exec'))"
    proc = subprocess.run([sys.executable, "-S", "-c", old, PROBE], capture_output=True)
    assert proc.returncode == 1 and proc.stdout == b""


@pytest.mark.parametrize(
    "member, path",
    [
        ("zstandard/__init__.py", "zstandard/__init__.py"),
        ("zstandard/backend_c.cpython-311-x86_64-linux-gnu.so", "zstandard/backend_c.cpython-311-x86_64-linux-gnu.so"),
        ("_cffi_backend.cpython-311-x86_64-linux-gnu.so", "_cffi_backend.cpython-311-x86_64-linux-gnu.so"),
        ("pkg-1.0.data/purelib/pkg/x.py", "pkg/x.py"),
        ("pkg-1.0.data/platlib/pkg/y.so", "pkg/y.so"),
        ("pkg-1.0.data/scripts/tool", None),
        ("pkg-1.0.dist-info/RECORD", None),
        ("pkg/__pycache__/x.cpython-311.pyc", None),
        ("pkg/", None),
        ("../escape.py", None),
        ("/abs.py", None),
    ],
)
def test_only_importable_members_of_a_wheel_are_unpacked(member, path):
    assert worker_wheels.importable_path(member) == path


def _wheel(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, data)
    return path


def test_unpacked_wheels_give_the_same_files_and_modes_whatever_the_archive_says(tmp_path: Path):
    a = _wheel(tmp_path / "a-1-py3-none-any.whl", {"a/__init__.py": "A", "a-1.dist-info/METADATA": "m"})
    b = _wheel(tmp_path / "b-1-py3-none-any.whl", {"b.data/purelib/b.py": "B"})
    worker_wheels.unpack([a, b], str(tmp_path / "out"))
    files = {p.relative_to(tmp_path / "out").as_posix(): p for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert sorted(files) == ["a/__init__.py", "b.py"]
    assert {p.stat().st_mode & 0o777 for p in files.values()} == {0o644}
    assert files["b.py"].read_text() == "B"


def test_two_wheels_writing_one_path_is_an_error_naming_both(tmp_path: Path):
    a = _wheel(tmp_path / "a-1-py3-none-any.whl", {"six.py": "1"})
    b = _wheel(tmp_path / "b-1-py3-none-any.whl", {"six.py": "2"})
    with pytest.raises(
        worker_wheels.WheelsError, match="b-1-py3-none-any.whl and a-1-py3-none-any.whl both hold six.py"
    ):
        worker_wheels.unpack([a, b], str(tmp_path / "out"))
