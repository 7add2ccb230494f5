"""ocikit processes as Pants builds and runs them: no machine path in what keys their cache."""

from __future__ import annotations

import os
import re
import sys

import pytest
from pants.core.goals import package as package_goal
from pants.core.util_rules import adhoc_binaries, source_files
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import QueryRule
from pants.source import source_root
from pants.testutil.rule_runner import RuleRunner

from pants_oci import register
from pants_oci.util_rules.worker_runner import (
    CACHE_DIR,
    CORE_DIR,
    FindInterpreterRequest,
    FoundInterpreter,
    LinkedInterpreter,
    LinkInterpreterRequest,
    OcikitRunner,
    worker_cache_name,
)


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(
        rules=[
            *register.rules(),
            *adhoc_binaries.rules(),
            # What the plugin's goals (package, publish, oci-verify) need from Pants' core.
            *package_goal.rules(),
            *source_files.rules(),
            *source_root.rules(),
            QueryRule(OcikitRunner, []),
            QueryRule(LinkedInterpreter, [LinkInterpreterRequest]),
            QueryRule(FoundInterpreter, [FindInterpreterRequest]),
            QueryRule(FallibleProcessResult, [Process]),
        ],
        target_types=register.target_types(),
    )


def machine_paths() -> list:
    import sys

    paths = {os.path.expanduser("~"), os.getcwd(), sys.executable, os.path.realpath(sys.executable), sys.prefix}
    return sorted(p for p in paths if p and p != "/")


def test_argv_env_and_caches_hold_no_machine_path(rule_runner):
    runner = rule_runner.request(OcikitRunner, [])
    process = runner.process(["layer", "--spec", "s.json"], description="a layer", env={"DOCKER_CONFIG": "cfg"})
    assert process.argv[:4] == (f"{CACHE_DIR}/python", "-S", "-m", "ocikit")
    assert dict(process.append_only_caches) == {runner.cache_name: CACHE_DIR}
    assert set(process.immutable_input_digests) == {CORE_DIR}
    assert process.env["PYTHONPATH"] == f"{CORE_DIR}:{CACHE_DIR}/{runner.deps_directory}"
    assert process.env["DOCKER_CONFIG"] == "cfg"
    for text in [*process.argv, *process.env.values(), *process.append_only_caches.values()]:
        assert not text.startswith("/"), text
        assert not any(p in text for p in machine_paths()), text


def test_a_core_process_on_another_python_sees_the_core_and_nothing_else(rule_runner):
    """What compiles bytecode for an image's Python: that interpreter through its link in the
    named cache (its version in the argv, never its path), the core mounted as for every worker,
    none of the workers' packages (built for Pants' interpreter)."""
    runner = rule_runner.request(OcikitRunner, [])
    this = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
    python = rule_runner.request(LinkedInterpreter, [LinkInterpreterRequest(this, sys.executable)])
    process = runner.core_process(
        python, ["bytecode", "--root", "tree"], description="pyc", immutable_input_digests={"tree": EMPTY_DIGEST}
    )
    assert process.argv == (f"{CACHE_DIR}/{this}", "-S", "-m", "ocikit", "bytecode", "--root", "tree")
    assert process.env["PYTHONPATH"] == CORE_DIR and process.env["PYTHONHASHSEED"] == "0"
    assert dict(process.immutable_input_digests) == {"tree": EMPTY_DIGEST, CORE_DIR: runner.core}
    assert dict(process.append_only_caches) == dict(runner.append_only_caches)
    probe = Process(
        argv=(
            process.argv[0],
            "-S",
            "-c",
            "import sys, importlib.util as u, ocikit; "
            "print(sys.version_info[:2], u.find_spec('requests') is not None, ocikit.__name__)",
        ),
        description="probe",
        env=process.env,
        immutable_input_digests={CORE_DIR: runner.core},
        append_only_caches=process.append_only_caches,
    )
    result = rule_runner.request(FallibleProcessResult, [probe])
    assert result.exit_code == 0, result.stderr.decode()
    assert result.stdout.decode().split() == [*str(tuple(sys.version_info[:2])).split(), "False", "ocikit"]


def test_a_python_found_on_the_search_path_is_linked_by_its_version(rule_runner):
    """What an oci_python_app's Python is: found by one process (the setup step) and linked into
    the named cache, so the link runs that very interpreter."""
    runner = rule_runner.request(OcikitRunner, [])
    this = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    real = os.path.realpath(sys.executable)
    request = FindInterpreterRequest(
        this, sys.implementation.name, version, ("/nonexistent", os.path.dirname(real)), (os.path.basename(real),)
    )
    found = rule_runner.request(FoundInterpreter, [request])
    assert found.path == real and found.fingerprint and len(found.fingerprint) == 64
    probe = Process(
        argv=(f"{CACHE_DIR}/{this}", "-S", "-c", "import sys, os; print(os.path.realpath(sys.executable))"),
        description="probe",
        append_only_caches=runner.append_only_caches,
    )
    result = rule_runner.request(FallibleProcessResult, [probe])
    assert result.exit_code == 0 and result.stdout.decode().strip() == real
    missing = FindInterpreterRequest(this, sys.implementation.name, "2.0", (os.path.dirname(real),), ("python",))
    assert rule_runner.request(FoundInterpreter, [missing]) == FoundInterpreter(None, None)


def test_the_cache_name_is_what_pants_accepts_and_differs_by_abi():
    names = {worker_cache_name(abi) for abi in ("cpython-39-x86_64-linux-gnu", "cpython-39-aarch64-linux-gnu")}
    assert len(names) == 2
    assert all(re.fullmatch(r"[a-z_]+", n) for n in names | {worker_cache_name()})


def test_workers_import_the_bundled_packages_in_a_sandbox(rule_runner):
    runner = rule_runner.request(OcikitRunner, [])
    # `pull` imports requests (urllib3, idna, charset_normalizer, certifi) before it reads the
    # reference; a missing package would fail with ModuleNotFoundError instead.
    result = rule_runner.request(
        FallibleProcessResult,
        [runner.process(["pull", "127.0.0.1:9/x/y@sha256:not-hex", "--out", "o"], description="pull")],
    )
    stderr = result.stderr.decode()
    assert result.exit_code == 1 and stderr.startswith("ocikit pull: error: invalid digest"), stderr
    assert "ModuleNotFound" not in stderr and "No module" not in stderr
