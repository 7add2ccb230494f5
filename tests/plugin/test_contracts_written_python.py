"""What the Python-app rules write for the workers is exactly a contract of ocikit.contracts:
the bytecode command, and the requirement layers' spec and command (the rest of the rules:
test_contracts_written.py; the worker side: tests/ocikit/test_contracts_read.py)."""

from __future__ import annotations

from pathlib import PurePath

import pytest
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_cli import PexPEX
from pants.backend.python.util_rules.pex_environment import PexEnvironment, PythonExecutable
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, DigestContents, DigestSubset, MergeDigests, RemovePrefix
from pants.engine.process import Process, ProcessResult
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks
from pants.util.frozendict import FrozenDict
from rule_mocks import Ran, stop_at

from ocikit import bytecode as bytecode_worker
from ocikit import requirement_layers_cli
from ocikit.contracts.bytecode import BytecodeCommand
from ocikit.contracts.requirement_layers import RequirementLayersCommand, RequirementLayersSpec, RequirementsInstall
from pants_oci.python.interpreter import AppPython, AppPythonRequest
from pants_oci.python.requirement_layers import (
    RequirementLayerFiles,
    RequirementLayersRequest,
    build_requirement_layers,
)
from pants_oci.python.trees import BytecodeRequest, ResolvedRequirements, ResolvedRequirementsRequest, compile_bytecode
from pants_oci.subsystem import Compression
from pants_oci.util_rules.layers import BuiltOciLayer
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import LinkedInterpreter, OcikitRunner


def test_the_bytecode_command_is_the_contract_and_the_worker_reads_it():
    python = AppPythonRequest(InterpreterConstraints(["CPython==3.11.*"]), "cpython", "3.11")
    request = BytecodeRequest(Digest("1" * 64, 1), python, "w")
    runner = OcikitRunner(cache_name="ocikit_python_x", deps_directory="deps-1", core=EMPTY_DIGEST)
    found = AppPython(PythonExecutable("/opt/py/bin/python3.11"), LinkedInterpreter("cpython3.11"))
    with pytest.raises(Ran) as ran:
        run_rule_with_mocks(
            compile_bytecode,
            rule_args=[request, runner],
            mock_gets=[
                MockGet(AppPython, (AppPythonRequest,), lambda _: found),
                MockGet(ProcessResult, (Process,), stop_at),
                MockGet(Digest, (RemovePrefix,), lambda _: EMPTY_DIGEST),  # never reached
            ],
        )
    argv = ran.value.args[0].argv
    assert argv[:4] == (".ocikit/cpython3.11", "-S", "-m", "ocikit")
    assert BytecodeCommand.from_args(bytecode_worker._parser().parse_args(list(argv[5:]))) == BytecodeCommand(
        "tree", "pyc", "cpython3.11"
    )


def test_the_requirement_layers_rule_writes_the_spec_and_command_the_worker_reads():
    request = RequirementLayersRequest(
        Address("images", target_name="app"),
        Address("src", target_name="bin"),
        AppPythonRequest(InterpreterConstraints(["CPython==3.11.*"]), "cpython", "3.11"),
        True,
        "/app",
        1000,
        1000,
        10 << 20,
        LayerCompression(Compression.zstd, 5),
    )
    runner = OcikitRunner(cache_name="ocikit_python_x", deps_directory="deps-1", core=EMPTY_DIGEST)
    resolved = ResolvedRequirements(
        Pex(Digest("3" * 64, 1), "requirements.pex", None),
        AppPython(PythonExecutable("/opt/py/bin/python3.11"), LinkedInterpreter("cpython3.11")),
    )
    pex_env = PexEnvironment(
        path=("/usr/bin",),
        interpreter_search_paths=("/opt/py/bin",),
        subprocess_environment_dict=FrozenDict(),
        named_caches_dir=PurePath("/home/me/.cache/pants/named_caches"),
        bootstrap_python=PythonBuildStandaloneBinary("/opt/pbs/bin/python3"),
    )
    written, merged = {}, []

    def create(request: CreateDigest) -> Digest:
        written.update({fc.path: fc.content for fc in request})
        return Digest("4" * 64, 1)

    def merge(request: MergeDigests) -> Digest:
        merged.append(request)
        return Digest("6" * 64, 1)

    with pytest.raises(Ran) as ran:
        run_rule_with_mocks(
            build_requirement_layers,
            rule_args=[
                request,
                runner,
                OciBuildSettings(Compression.gzip, None, 1700000000),
                PexPEX(digest=Digest("5" * 64, 1), exe="pex-v2.1.137.pex"),
                pex_env,
            ],
            mock_gets=[
                MockGet(ResolvedRequirements, (ResolvedRequirementsRequest,), lambda _: resolved),
                MockGet(Digest, (CreateDigest,), create),
                MockGet(Digest, (MergeDigests,), merge),
                MockGet(ProcessResult, (Process,), stop_at),
                MockGet(DigestContents, (DigestSubset,), lambda _: DigestContents([])),  # never reached
                MockGet(BuiltOciLayer, (RequirementLayerFiles,), lambda _: None),  # never reached
            ],
        )
    process = ran.value.args[0]
    assert process.argv[:4] == (".ocikit/python", "-S", "-m", "ocikit")
    command = RequirementLayersCommand.from_args(requirement_layers_cli._parser().parse_args(list(process.argv[5:])))
    assert RequirementLayersSpec.loads(written[command.spec]) == RequirementLayersSpec(
        "site-packages",
        "/app",
        "lib",
        10 << 20,
        ".ocikit/cpython3.11",
        "cpython3.11",
        1000,
        1000,
        "zstd",
        5,
        1700000000,
        install=RequirementsInstall("pex-v2.1.137.pex", "requirements.pex", ".ocikit/cpython3.11", ".cache/pex_root"),
    )
    # The resolved requirements and the pex CLI are inputs; the tree is installed in the process.
    assert merged == [MergeDigests([Digest("4" * 64, 1), Digest("3" * 64, 1), Digest("5" * 64, 1)])]
    assert process.input_digest == Digest("6" * 64, 1)
    assert process.append_only_caches["pex_root"] == ".cache/pex_root"
    assert "site-packages" not in process.immutable_input_digests
    assert process.output_directories == (command.out,)
    # No machine path in the cache key: not in the argv, the env or the spec.
    key_text = " ".join([*process.argv, *process.env.values(), written[command.spec].decode()])
    assert "/opt/" not in key_text and "/home/" not in key_text
