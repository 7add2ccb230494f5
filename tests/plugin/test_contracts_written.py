"""What the rules write for the workers is exactly a contract of ocikit.contracts: the keys of
each JSON file are the contract's, and each command line is the command's (the worker side is
tests/ocikit/test_contracts_read.py)."""

from __future__ import annotations

import json
from pathlib import PurePath

import pytest
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_cli import PexPEX
from pants.backend.python.util_rules.pex_environment import PexEnvironment, PythonExecutable
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    FileDigest,
    FileEntry,
    MergeDigests,
    RemovePrefix,
)
from pants.engine.process import Process, ProcessResult
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks
from pants.util.frozendict import FrozenDict

from ocikit import bytecode as bytecode_worker
from ocikit import image_test as image_test_worker
from ocikit import layer_cli as layer_worker
from ocikit import requirement_layers_cli
from ocikit import run as run_worker
from ocikit.contract import field_names
from ocikit.contracts.bytecode import BytecodeCommand
from ocikit.contracts.image_test import ImageTestCommand, ImageTestPlan
from ocikit.contracts.layer import LayerCommand, LayerSpec
from ocikit.contracts.lockfile import LockCommand, TrackedImage, TrackedImages
from ocikit.contracts.pull import PullCommand
from ocikit.contracts.requirement_layers import RequirementLayersCommand, RequirementLayersSpec, RequirementsInstall
from ocikit.contracts.run import RunCommand
from ocikit.contracts.sbom import DpkgScanRequest, SbomDpkgCommand, SbomSha1Command
from ocikit.image import Descriptor, Layer, Platform
from ocikit.reference import parse_reference
from ocikit.registry import cli as registry_cli
from ocikit.sbom import worker as sbom_worker
from pants_oci.base_lockfile_pins import tracked_images
from pants_oci.goals.image_test import PLAN, OciImageTestFieldSet, image_test_plan
from pants_oci.goals.lockfile import lock_command
from pants_oci.goals.package import BuiltOciImageArtifact
from pants_oci.goals.run import run_arguments
from pants_oci.image_test_fields import OciImageTestTarget
from pants_oci.python.interpreter import AppPython, AppPythonRequest
from pants_oci.python.requirement_layers import (
    RequirementLayerFiles,
    RequirementLayersRequest,
    build_requirement_layers,
)
from pants_oci.python.trees import (
    BytecodeRequest,
    ResolvedRequirements,
    ResolvedRequirementsRequest,
    compile_bytecode,
)
from pants_oci.registries import OciRegistries
from pants_oci.sbom.base_packages import BaseLayerScanRequest, scan_base_layer
from pants_oci.sbom.files import FileSha1Request, hash_files
from pants_oci.subsystem import Compression, ContainerRuntimeKind
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart, build_layer_part, layer_spec
from pants_oci.util_rules.pull import PullImageRequest, pull_command
from pants_oci.util_rules.runtime import ContainerRuntime, MaybeContainerRuntime
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import LinkedInterpreter, OcikitRunner

DIGEST = "sha256:" + "ab" * 32
REGISTRIES = OciRegistries.from_dict(
    {
        "a": {"address": "a.example.com", "insecure": True},
        "b": {"address": "b.example.com"},
        "c": {"address": "127.0.0.1:5000", "insecure": True},
    }
)


def _keys(raw: bytes) -> set:
    return set(json.loads(raw))


def test_the_layer_spec_is_the_contract():
    part = LayerPart(
        EMPTY_DIGEST,
        "/app",
        1,
        2,
        "oci_layer //a:b",
        LayerCompression(Compression.zstd, 5),
        FrozenDict({"bin/py": "/usr/bin/python3"}),
    )
    spec = layer_spec(part, 1700000000, ("bin/run",))
    assert _keys(spec.dumps()) == {"kind", "version", *field_names(LayerSpec)}
    assert LayerSpec.loads(spec.dumps()) == LayerSpec(
        "files", "/app", 1, 2, "normalize", "zstd", 5, 1700000000, None, {"bin/py": "/usr/bin/python3"}, ("bin/run",)
    )
    without_links = layer_spec(LayerPart(EMPTY_DIGEST, "/", 0, 0, "w", LayerCompression(Compression.gzip, None)), 0)
    assert without_links.symlinks == {} and without_links.dumps() == LayerSpec("files", "/", executables=()).dumps()


def test_the_pull_command_is_the_contract_and_the_worker_reads_it():
    request = PullImageRequest(
        parse_reference(f"r.example.com/base:1@{DIGEST}"),
        (Platform.parse("linux/amd64"), Platform.parse("linux/arm64/v8")),
        "w",
    )
    command = pull_command(request, REGISTRIES)
    assert command.to_argv() == (
        "pull",
        f"r.example.com/base:1@{DIGEST}",
        "--out",
        "pulled",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64/v8",
        "--insecure-registry",
        "a.example.com",
        "--insecure-registry",
        "127.0.0.1:5000",
    )
    assert PullCommand.from_args(registry_cli._parser("pull").parse_args(list(command.to_argv()[1:]))) == command


def test_the_lock_command_and_its_tracked_file_are_the_contracts():
    tracked = tracked_images(
        [(Address("base", target_name="debian"), parse_reference("debian:12"))],
        [(Address("base", target_name="debian"), ("linux/amd64",))],
    )
    raw = TrackedImages(tracked).dumps()
    assert _keys(raw) == {"kind", "version", *field_names(TrackedImages)}
    assert {k for image in json.loads(raw)["images"] for k in image} == {"kind", "version", *field_names(TrackedImage)}
    assert TrackedImages.loads(raw).images == (
        TrackedImage("docker.io/library/debian:12", ("linux/amd64",), ("base:debian",)),
    )

    command = lock_command("base.lock", "pants generate-lockfiles", ["docker.io/library/debian:12"], REGISTRIES)
    assert command.to_argv() == (
        "lock",
        "--tracked",
        "__oci_tracked.json",
        "--out",
        "__oci_lock_out/base.lock",
        "--lockfile",
        "base.lock",
        "--regenerate-command",
        "pants generate-lockfiles",
        "--only",
        "docker.io/library/debian:12",
        "--insecure-registry",
        "a.example.com",
        "--insecure-registry",
        "127.0.0.1:5000",
    )
    assert LockCommand.from_args(registry_cli._parser("lock").parse_args(list(command.to_argv()[1:]))) == command


def test_the_run_command_is_the_contract_and_the_worker_reads_it():
    """The run goal's command line (tests/plugin/test_run_goal.py spells it out), read back by
    the worker's own parser."""
    artifact = BuiltOciImageArtifact(relpath="app/img", repository="team/app", tags=("1.0",))
    argv = run_arguments(
        ContainerRuntime(ContainerRuntimeKind.podman, "/usr/bin/podman"),
        artifact,
        "oci_image app:img",
        ["--ulimit", "nofile=1024:1024"],
        load_only=True,
    )
    assert RunCommand.from_args(run_worker._parser().parse_args(list(argv[1:]))) == RunCommand(
        "/usr/bin/podman",
        "{chroot}/app/img",
        "team/app:1.0",
        "oci_image app:img",
        ("--ulimit", "nofile=1024:1024"),
        True,
        (),
    )


def test_the_image_test_plan_and_command_are_the_contracts_and_the_worker_reads_them():
    address = Address("app", target_name="t")
    field_set = OciImageTestFieldSet.create(
        OciImageTestTarget(
            {
                "image": ":img",
                "file_checks": [{"path": "/app", "type": "dir"}],
                "config_checks": {"env": {"A": "b"}, "user": "1"},
                "command_checks": [{"args": ["true"], "stdout": "x"}],
            },
            address,
        )
    )
    runtime = MaybeContainerRuntime(
        ContainerRuntimeKind.podman, ContainerRuntime(ContainerRuntimeKind.podman, "/p"), ()
    )
    plan = image_test_plan(
        field_set,
        Address("app", target_name="img"),
        BuiltOciImageArtifact(relpath="app/img"),
        "linux/amd64",
        runtime,
        ("--runtime", "runc"),
    )
    assert _keys(plan.dumps()) == {"kind", "version", *field_names(ImageTestPlan)}
    assert ImageTestPlan.loads(plan.dumps()) == plan
    assert (plan.layout, plan.runtime, plan.config.env, plan.commands[0].stdout) == ("app/img", "/p", {"A": "b"}, "x")
    argv = ImageTestCommand(PLAN).to_argv()
    assert ImageTestCommand.from_args(image_test_worker.parser().parse_args(list(argv[1:]))).plan == PLAN


class _Ran(Exception):
    """Stops a rule at the process it asks for: the process is what the test checks."""


def _stop_at(process: Process) -> ProcessResult:
    raise _Ran(process)


def test_the_bytecode_command_is_the_contract_and_the_worker_reads_it():
    python = AppPythonRequest(InterpreterConstraints(["CPython==3.11.*"]), "cpython", "3.11")
    request = BytecodeRequest(Digest("1" * 64, 1), python, "w")
    runner = OcikitRunner(cache_name="ocikit_python_x", deps_directory="deps-1", core=EMPTY_DIGEST)
    found = AppPython(PythonExecutable("/opt/py/bin/python3.11"), LinkedInterpreter("cpython3.11"))
    with pytest.raises(_Ran) as ran:
        run_rule_with_mocks(
            compile_bytecode,
            rule_args=[request, runner],
            mock_gets=[
                MockGet(AppPython, (AppPythonRequest,), lambda _: found),
                MockGet(ProcessResult, (Process,), _stop_at),
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

    with pytest.raises(_Ran) as ran:
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
                MockGet(ProcessResult, (Process,), _stop_at),
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


def test_the_layer_rule_writes_the_spec_and_command_the_worker_reads(tmp_path):
    part = LayerPart(Digest("2" * 64, 1), "/app", 0, 0, "oci_layer //a:b", LayerCompression(Compression.gzip, 1))
    written = {}

    def create(request: CreateDigest) -> Digest:
        written.update({f.path: f.content for f in request if isinstance(f, FileContent)})
        return EMPTY_DIGEST

    with pytest.raises(_Ran) as ran:
        run_rule_with_mocks(
            build_layer_part,
            rule_args=[
                part,
                OcikitRunner(cache_name="c", deps_directory="deps-1", core=EMPTY_DIGEST),
                OciBuildSettings(Compression.gzip, 1, 0),
            ],
            mock_gets=[
                MockGet(
                    DigestEntries,
                    (Digest,),
                    lambda _: DigestEntries(
                        [
                            FileEntry("bin/run", FileDigest("3" * 64, 4), True),
                            FileEntry("data", FileDigest("4" * 64, 4)),
                        ]
                    ),
                ),
                MockGet(Digest, (AddPrefix,), lambda _: EMPTY_DIGEST),
                MockGet(Digest, (CreateDigest,), create),
                MockGet(Digest, (MergeDigests,), lambda _: EMPTY_DIGEST),
                MockGet(ProcessResult, (Process,), _stop_at),
                MockGet(DigestContents, (DigestSubset,), lambda _: DigestContents([])),  # never reached
                MockGet(DigestEntries, (DigestSubset,), lambda _: DigestEntries([])),  # never reached
            ],
        )
    argv = ran.value.args[0].argv
    command = LayerCommand.from_args(layer_worker._parser().parse_args(list(argv[argv.index("layer") + 1 :])))
    (tmp_path / "spec.json").write_bytes(written[command.spec])
    assert layer_worker.load_spec(str(tmp_path / "spec.json")) == layer_spec(part, 0, ("bin/run",))


def test_the_sbom_layer_read_writes_the_request_and_command_the_worker_reads(tmp_path):
    layer = Layer(Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", DIGEST, 10), DIGEST)
    written = {}

    def create(request: CreateDigest) -> Digest:
        written.update({f.path: f.content for f in request if isinstance(f, FileContent)})
        return EMPTY_DIGEST

    with pytest.raises(_Ran) as ran:
        run_rule_with_mocks(
            scan_base_layer,
            rule_args=[
                BaseLayerScanRequest(layer, EMPTY_DIGEST),
                OcikitRunner(cache_name="c", deps_directory="deps-1", core=EMPTY_DIGEST),
            ],
            mock_gets=[
                MockGet(Digest, (DigestSubset,), lambda _: EMPTY_DIGEST),
                MockGet(Digest, (CreateDigest,), create),
                MockGet(Digest, (MergeDigests,), lambda _: EMPTY_DIGEST),
                MockGet(ProcessResult, (Process,), _stop_at),
                MockGet(DigestContents, (Digest,), lambda _: DigestContents([])),  # never reached
            ],
        )
    argv = list(ran.value.args[0].argv)
    at = argv.index(SbomDpkgCommand.COMMAND)
    command = SbomDpkgCommand.from_args(sbom_worker.parser(argv[at]).parse_args(argv[at + 1 :]))
    (tmp_path / "request.json").write_bytes(written[command.request])
    assert DpkgScanRequest.read(str(tmp_path / "request.json")) == DpkgScanRequest(
        f"blobs/sha256/{'ab' * 32}", layer.descriptor.media_type
    )


def test_the_sbom_hash_command_is_the_contract_and_the_worker_reads_it():
    with pytest.raises(_Ran) as ran:
        run_rule_with_mocks(
            hash_files,
            rule_args=[
                FileSha1Request(EMPTY_DIGEST, "oci_layer //a:b"),
                OcikitRunner(cache_name="c", deps_directory="deps-1", core=EMPTY_DIGEST),
            ],
            mock_gets=[
                MockGet(ProcessResult, (Process,), _stop_at),
                MockGet(DigestContents, (Digest,), lambda _: DigestContents([])),  # never reached
            ],
        )
    argv = list(ran.value.args[0].argv)
    at = argv.index(SbomSha1Command.COMMAND)
    command = SbomSha1Command.from_args(sbom_worker.parser(argv[at]).parse_args(argv[at + 1 :]))
    assert command == SbomSha1Command("files", "sha1s.json")


def test_the_debian_commands_and_files_are_the_contracts():
    from pants.engine.fs import EMPTY_DIGEST

    from ocikit.contracts.debian import DebFetchCommand, DebInput, DebLayerSpec
    from ocikit.debian import worker as debian_worker
    from ocikit.debian.lockfile import LockedDeb
    from pants_oci.debian.layers import DebLayerRequest, FetchDeb, FetchedDeb, deb_layer_spec, fetch_command
    from pants_oci.util_rules.settings import LayerCompression

    deb = LockedDeb("libc6", "2.36-9", "amd64", "pool/main/g/glibc/libc6_2.36-9_amd64.deb", 10, "ab" * 32)
    command = fetch_command(FetchDeb(deb, "http://127.0.0.1:1/debian/"))
    assert command.to_argv() == (
        "deb-fetch",
        "--url",
        "http://127.0.0.1:1/debian/pool/main/g/glibc/libc6_2.36-9_amd64.deb",
        "--sha256",
        "ab" * 32,
        "--size",
        "10",
        "--out",
        f"debs/{'ab' * 32}.deb",
        "--package",
        "libc6 2.36-9 (amd64)",
    )
    assert (
        DebFetchCommand.from_args(debian_worker.parser("deb-fetch").parse_args(list(command.to_argv()[1:]))) == command
    )
    request = DebLayerRequest("x", (FetchedDeb(deb, EMPTY_DIGEST),), LayerCompression(Compression.zstd, 3))
    raw = deb_layer_spec(request, 1700000000).dumps()
    assert _keys(raw) == {"kind", "version", *field_names(DebLayerSpec)}
    assert {k for d in json.loads(raw)["debs"] for k in d} == {"kind", "version", *field_names(DebInput)}
    assert DebLayerSpec.loads(raw) == DebLayerSpec(
        (DebInput("libc6", f"debs/{'ab' * 32}.deb", "ab" * 32, 10),), "zstd", 3, 1700000000
    )
