"""What the rules write for the workers is exactly a contract of ocikit.contracts: the keys of
each JSON file are the contract's, and each command line is the command's (the worker side is
tests/ocikit/test_contracts_read.py)."""

from __future__ import annotations

import json

import pytest
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
)
from pants.engine.process import Process, ProcessResult
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks
from pants.util.frozendict import FrozenDict
from rule_mocks import Ran, stop_at

from ocikit import image_test as image_test_worker
from ocikit import layer_cli as layer_worker
from ocikit import run as run_worker
from ocikit.contract import field_names
from ocikit.contracts.image_test import ImageTestCommand, ImageTestPlan
from ocikit.contracts.layer import LayerCommand, LayerSpec
from ocikit.contracts.lockfile import LockCommand, TrackedImage, TrackedImages
from ocikit.contracts.pull import PullCommand
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
from pants_oci.registries import OciRegistries
from pants_oci.sbom.base_packages import BaseLayerScanRequest, scan_base_layer
from pants_oci.sbom.files import FileSha1Request, hash_files
from pants_oci.subsystem import Compression, ContainerRuntimeKind
from pants_oci.util_rules.layers import LayerPart, build_layer_part, layer_spec
from pants_oci.util_rules.pull import PullImageRequest, pull_command
from pants_oci.util_rules.runtime import ContainerRuntime, MaybeContainerRuntime
from pants_oci.util_rules.settings import LayerCompression, OciBuildSettings
from pants_oci.util_rules.worker_runner import OcikitRunner

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


def test_the_layer_rule_writes_the_spec_and_command_the_worker_reads(tmp_path):
    part = LayerPart(Digest("2" * 64, 1), "/app", 0, 0, "oci_layer //a:b", LayerCompression(Compression.gzip, 1))
    written = {}

    def create(request: CreateDigest) -> Digest:
        written.update({f.path: f.content for f in request if isinstance(f, FileContent)})
        return EMPTY_DIGEST

    with pytest.raises(Ran) as ran:
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
                MockGet(ProcessResult, (Process,), stop_at),
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

    with pytest.raises(Ran) as ran:
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
                MockGet(ProcessResult, (Process,), stop_at),
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
    with pytest.raises(Ran) as ran:
        run_rule_with_mocks(
            hash_files,
            rule_args=[
                FileSha1Request(EMPTY_DIGEST, "oci_layer //a:b"),
                OcikitRunner(cache_name="c", deps_directory="deps-1", core=EMPTY_DIGEST),
            ],
            mock_gets=[
                MockGet(ProcessResult, (Process,), stop_at),
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
