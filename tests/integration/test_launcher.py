"""The repo's `./pants` launcher: warm commands go through Pants' native client (as scie-pants
runs Pants 2.17), the native client hands over to the Python entry point when there is no
pantsd to talk to, `PANTS_NO_NATIVE_CLIENT=1` keeps the Python client, and a missing executable
bit on the client copy is repaired.

Which client ran is read from the launcher's own `exec` line, traced by bash (`SHELLOPTS=xtrace`
in the environment turns on `set -x` in the launcher and nothing else: Pants runs its processes
with a cleared environment).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from e2e_support import REPO, BuildRoot, ExamplesBuild, pants_env

_EXEC_RE = re.compile(r"^\++ exec (\S+)", re.MULTILINE)
TRACE = {"SHELLOPTS": "xtrace"}


def _venv() -> Path:
    return Path(
        subprocess.run([str(REPO / "pants"), "--print-venv"], check=True, capture_output=True, text=True).stdout.strip()
    )


def _exec_target(stderr: str) -> str:
    found = _EXEC_RE.findall(stderr)
    assert len(found) == 1, f"expected one exec line in the launcher trace, got {found}:\n{stderr[-3000:]}"
    return found[0]


def test_warm_commands_go_through_the_native_client_with_the_python_clients_results(
    build_root: BuildRoot, examples_build: ExamplesBuild
) -> None:
    # examples_build leaves pantsd running with the root's global flags.
    native = build_root.run("list", "examples::", env=TRACE)
    python = build_root.run("list", "examples::", env={**TRACE, "PANTS_NO_NATIVE_CLIENT": "1"})
    assert native.returncode == 0, native.describe()
    assert python.returncode == 0, python.describe()

    assert _exec_target(native.stderr) == str(_venv() / "bin" / "pants-native-client")
    assert _exec_target(python.stderr) == str(_venv() / "bin" / "pants")
    assert native.stdout == python.stdout
    assert "examples/layered:layered" in native.stdout

    # A failing command keeps its exit code through the native client.
    failed = build_root.run("list", "examples/no_such_dir::", env=TRACE)
    assert _exec_target(failed.stderr).endswith("/pants-native-client")
    assert failed.returncode != 0
    assert "no_such_dir" in failed.stderr


def test_without_pantsd_the_native_client_hands_over_to_the_python_entry_point(build_root: BuildRoot) -> None:
    proc = subprocess.run(
        ["./pants", "--no-pantsd", "--version"],
        cwd=build_root.path,
        env={**pants_env(), **TRACE},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _exec_target(proc.stderr).endswith("/pants-native-client")
    assert proc.stdout.strip() == "2.17.1"


def test_the_launcher_restores_an_unexecutable_native_client(build_root: BuildRoot) -> None:
    client = _venv() / "bin" / "pants-native-client"
    assert os.access(client, os.X_OK), "the launcher installs an executable copy of the client"
    mode = client.stat().st_mode
    client.chmod(mode & ~0o111)
    try:
        # --no-pantsd: leave the session's pantsd and its options alone.
        proc = subprocess.run(
            ["./pants", "--no-pantsd", "--version"],
            cwd=build_root.path,
            env={**pants_env(), **TRACE},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        if not os.access(client, os.X_OK):
            client.chmod(mode)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "2.17.1"
    assert _exec_target(proc.stderr) == str(client)
    assert os.access(client, os.X_OK)
    assert not list(client.parent.glob("pants-native-client.*")), "no temp copy left behind"
