"""Finding an `oci_python_app`'s local Python: the search itself (`worker_setup.find_python`,
with real executables asked in a real process), the setup step that links what it finds, the
rule through Pants' engine, and the rule's fallback to Pants' own lookup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST
from pants.testutil.option_util import create_subsystem
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks

from pants_oci.python.interpreter import AppPython, AppPythonRequest, candidate_names, find_app_python
from pants_oci.python.trees import ResolvedRequirementsRequest, resolve_requirements
from pants_oci.util_rules import worker_setup
from pants_oci.util_rules.worker_runner import (
    FindInterpreterRequest,
    FoundInterpreter,
    LinkedInterpreter,
    LinkInterpreterRequest,
    OcikitRunner,
)

SCRIPT = Path(worker_setup.__file__)
CORE = Path(__file__).resolve().parents[2] / "src" / "python"
THIS = (sys.implementation.name, f"{sys.version_info[0]}.{sys.version_info[1]}")


def fake_python(directory: Path, name: str, says: str) -> Path:
    """An executable that answers the probe as a Python of `says` would ("cpython 3.11"), naming
    itself as the interpreter it runs; "fail" exits 1, as Python 2 does on `sys.implementation`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    body = "exit 1" if says == "fail" else f"echo '{says} {says.split()[1]}.4 {path}'"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_the_most_specific_name_wins_over_the_search_paths_order(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    fake_python(first, "python3", "cpython 3.11")
    wanted = fake_python(second, "python3.11", "cpython 3.11")
    found = worker_setup.find_python("cpython", "3.11", [str(first), str(second)], ["python3.11", "python3"])
    assert found == (str(wanted), str(wanted), "3.11.4")


def test_candidates_of_another_version_or_that_fail_are_passed_over(tmp_path):
    fake_python(tmp_path / "a", "python3", "cpython 3.10")
    fake_python(tmp_path / "b", "python3", "fail")
    fake_python(tmp_path / "c", "python3", "pypy 3.11")
    wanted = fake_python(tmp_path / "d", "python3", "cpython 3.11")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "python3").write_text("not executable")
    paths = [str(tmp_path / d) for d in "eabcd"] + [str(tmp_path / "missing")]
    assert worker_setup.find_python("cpython", "3.11", paths, ["python3"]) == (str(wanted), str(wanted), "3.11.4")
    assert worker_setup.find_python("cpython", "3.12", paths, ["python3"]) is None


def test_a_wrapper_is_linked_as_the_interpreter_it_runs(tmp_path):
    """A pyenv shim is a script that starts the real interpreter: the link must name that one,
    which processes run without the shim's environment."""
    wrapper = tmp_path / "shims" / "python3.11"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = worker_setup.find_python(sys.implementation.name, version, [str(wrapper.parent)], ["python3.11"])
    full = ".".join(str(v) for v in sys.version_info[:3])
    assert found == (str(wrapper), os.path.realpath(sys.executable), full)


def test_each_real_file_is_asked_once(tmp_path):
    target = fake_python(tmp_path / "real", "python3.10", "cpython 3.10")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "python3").symlink_to(target)
    asked = []

    def probe(path):
        asked.append(path)
        return worker_setup._probe(path)

    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    assert worker_setup.find_python("cpython", "3.11", paths, ["python3"], probe=probe) is None
    assert asked == [str(tmp_path / "a" / "python3")]


def test_the_setup_step_links_what_it_finds_and_prints_its_path_and_fingerprint(tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / ".ocikit").mkdir(parents=True)
    python = os.path.realpath(sys.executable)
    find = {
        "link": "mine",
        "implementation": THIS[0],
        "version": THIS[1],
        "search_paths": [str(tmp_path / "nothing"), os.path.dirname(python)],
        "names": [os.path.basename(python)],
    }
    (sandbox / "spec.json").write_text(json.dumps({"cache": ".ocikit", "find": find}))
    run = subprocess.run(
        [sys.executable, "-S", str(SCRIPT), "spec.json"],
        cwd=sandbox,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(CORE)},
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    version = ".".join(str(v) for v in sys.version_info[:3])
    assert printed == {"path": python, "fingerprint": worker_setup.fingerprint(python), "version": version}
    assert os.readlink(sandbox / ".ocikit" / "mine") == python

    find["version"] = "2.0"
    (sandbox / "spec.json").write_text(json.dumps({"cache": ".ocikit", "find": find}))
    run = subprocess.run([sys.executable, "-S", str(SCRIPT), "spec.json"], cwd=sandbox, capture_output=True, text=True)
    assert run.returncode == 0 and json.loads(run.stdout) == {"path": None, "fingerprint": None, "version": None}


REQUEST = AppPythonRequest(InterpreterConstraints(["CPython==3.11.*"]), "cpython", "3.11")


def _runner(shipped: bool) -> OcikitRunner:
    if shipped:
        return OcikitRunner("", "deps-1", EMPTY_DIGEST, python="/usr/bin/python3", shipped_deps=EMPTY_DIGEST)
    return OcikitRunner("ocikit_python_x", "deps-1", EMPTY_DIGEST)


def _find(runner: OcikitRunner, found: FoundInterpreter) -> tuple[AppPython, list]:
    asked: list = []
    bootstrap = PythonBootstrap(interpreter_names=("python", "python3"), interpreter_search_paths=("/opt/a", "/opt/b"))
    result = run_rule_with_mocks(
        find_app_python,
        rule_args=[REQUEST, runner, bootstrap],
        mock_gets=[
            MockGet(FoundInterpreter, (FindInterpreterRequest,), lambda r: asked.append(r) or found),
            MockGet(
                PythonExecutable,
                (InterpreterConstraints,),
                lambda ics: asked.append(ics) or PythonExecutable("/pants/found/python3.11"),
            ),
            MockGet(
                LinkedInterpreter, (LinkInterpreterRequest,), lambda r: asked.append(r) or LinkedInterpreter(r.name)
            ),
        ],
    )
    return result, asked


def test_the_rule_takes_what_the_search_finds_and_asks_pants_nothing():
    result, asked = _find(_runner(False), FoundInterpreter("/opt/a/python3.11", "f" * 64, "3.11.7"))
    assert result == AppPython(
        PythonExecutable("/opt/a/python3.11", "f" * 64), LinkedInterpreter("cpython3.11"), "3.11.7"
    )
    # The resolve is told its exact version, which pex's own search finds again.
    assert result.exact_constraints(REQUEST) == InterpreterConstraints(["CPython==3.11.7"])
    assert asked == [
        FindInterpreterRequest(
            "cpython3.11", "cpython", "3.11", ("/opt/a", "/opt/b"), ("python3.11", "python3", "python")
        )
    ]


def test_where_the_search_finds_nothing_pants_own_lookup_decides_and_is_linked():
    result, asked = _find(_runner(False), FoundInterpreter(None, None))
    assert result == AppPython(PythonExecutable("/pants/found/python3.11"), LinkedInterpreter("cpython3.11"))
    assert result.exact_constraints(REQUEST) is None  # the resolve asks Pants' lookup again (memoized)
    assert asked[1:] == [
        REQUEST.interpreter_constraints,
        LinkInterpreterRequest("cpython3.11", "/pants/found/python3.11"),
    ]


def test_in_another_environment_pants_own_lookup_decides_and_nothing_is_linked():
    result, asked = _find(_runner(True), FoundInterpreter("/never", None))
    assert result == AppPython(PythonExecutable("/pants/found/python3.11"), None)
    assert asked == [REQUEST.interpreter_constraints]


@pytest.mark.parametrize(
    "implementation, version, bootstrap, expected",
    [
        ("cpython", "3.11", ("python", "python3"), ("python3.11", "python3", "python")),
        ("cpython", "3.9", ("<PYENV>", "python3"), ("python3.9", "python3")),
        ("pypy", "3.10", ("python",), ("pypy3.10", "pypy3", "python")),
    ],
)
def test_candidate_names_most_specific_first(implementation, version, bootstrap, expected):
    request = AppPythonRequest(InterpreterConstraints(), implementation, version)
    assert candidate_names(request, bootstrap) == expected


def _resolve(python: AppPython, entire_lockfile: bool = False) -> PexFromTargetsRequest:
    asked: list = []
    request = ResolvedRequirementsRequest(Address("src", target_name="bin"), REQUEST)
    setup = create_subsystem(PythonSetup, run_against_entire_lockfile=entire_lockfile)
    resolved = run_rule_with_mocks(
        resolve_requirements,
        rule_args=[request, setup],
        mock_gets=[
            MockGet(AppPython, (AppPythonRequest,), lambda _: python),
            MockGet(Pex, (PexFromTargetsRequest,), lambda r: asked.append(r) or Pex(EMPTY_DIGEST, "r.pex", None)),
        ],
    )
    assert resolved.python == python
    return asked[0]


def test_the_resolve_names_the_found_pythons_exact_version_instead_of_asking_pants_for_its_path():
    found = AppPython(PythonExecutable("/opt/a/python3.11"), LinkedInterpreter("cpython3.11"), "3.11.7")
    pex_request = _resolve(found)
    assert pex_request.hardcoded_interpreter_constraints == InterpreterConstraints(["CPython==3.11.7"])
    assert not pex_request.internal_only  # an internal pex would ask Pants' lookup for a path
    assert pex_request.additional_args == ("--python-path", "/opt/a")  # pex looks there only


@pytest.mark.parametrize("entire_lockfile", [False, True])
def test_without_a_found_version_the_resolve_is_internal_and_pants_lookup_picks_the_python(entire_lockfile):
    fallback = AppPython(PythonExecutable("/pants/found/python3.11"), LinkedInterpreter("cpython3.11"))
    pex_request = _resolve(fallback, entire_lockfile)
    assert pex_request.hardcoded_interpreter_constraints is None
    assert pex_request.internal_only is not entire_lockfile
    assert pex_request.additional_args == ()
