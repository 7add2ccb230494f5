"""The contracts between the plugin and the workers (ocikit.contracts): each round-trips, and
each worker reads exactly what the contract declares. (tests/plugin/test_contracts_written.py
checks that the plugin writes it.)"""

from __future__ import annotations

import dataclasses
import json

import pytest

from ocikit import bytecode, image_test, layer_cli, requirement_layers_cli, run
from ocikit.contract import Contract, ContractError, field_names
from ocikit.contracts.bytecode import BytecodeCommand
from ocikit.contracts.debian import (
    DebFetchCommand,
    DebInput,
    DebLayerCommand,
    DebLayerSpec,
    DebLockCommand,
    DebLockRequest,
    DebTargetRequest,
)
from ocikit.contracts.image_test import CommandCheck, ConfigCheck, FileCheck, ImageTestCommand, ImageTestPlan
from ocikit.contracts.layer import LayerCommand, LayerDescriptor, LayerSpec
from ocikit.contracts.lockfile import LockCommand, TrackedImage, TrackedImages
from ocikit.contracts.publish import (
    Attestation,
    CheckPlan,
    CheckResult,
    PublishImage,
    PushPlan,
    RunEntry,
    Signing,
)
from ocikit.contracts.pull import PullCommand
from ocikit.contracts.requirement_layers import (
    RequirementLayer,
    RequirementLayersCommand,
    RequirementLayersResult,
    RequirementLayersSpec,
    RequirementsInstall,
)
from ocikit.contracts.run import RunCommand
from ocikit.contracts.sbom import (
    DebPackage,
    DpkgLayerScan,
    DpkgScanRequest,
    FileSha1s,
    SbomDocumentCommand,
    SbomDocumentRequest,
    SbomDpkgCommand,
    SbomFileList,
    SbomImage,
    SbomPackageFacts,
    SbomPlatform,
    SbomSha1Command,
)
from ocikit.contracts.verify import (
    LayerDifference,
    PathDifference,
    PublicKey,
    TagVerdict,
    VerifyCommand,
    VerifyImage,
    VerifyPlan,
    VerifyResult,
)
from ocikit.debian import worker as debian_worker
from ocikit.registry import cli as registry_cli
from ocikit.sbom import worker as sbom_worker

DIGEST = "sha256:" + "ab" * 32

CONTRACTS = [
    LayerSpec("files", "/app", 1000, 1000, "preserve", "zstd", 3, 1700000000, 2, {"bin/py": "/usr/bin/python3"}),
    LayerSpec("files", "/"),
    LayerDescriptor("application/vnd.oci.image.layer.v1.tar+gzip", DIGEST, 10, DIGEST, 20, 3),
    TrackedImage("docker.io/library/busybox:1.36", ("linux/amd64", "linux/arm64/v8"), ("//base:busybox",)),
    TrackedImages((TrackedImage("r.example.com/a:1"), TrackedImage("r.example.com/b:2", ("linux/amd64",), ("//x",)))),
    TrackedImages(()),
    PublishImage(
        "apps:web",
        "apps/web",
        DIGEST,
        ("r/web:1", "r/web:latest"),
        ("r/base",),
        (Attestation("https://slsa.dev/provenance/v1", {"buildDefinition": {"n": [1, 2]}}),),
    ),
    Attestation("https://spdx.dev/Document", {"spdxVersion": "SPDX-2.3"}),
    CheckPlan((PublishImage("apps:web", "apps/web", DIGEST, ("r/web:1",)),), ("r",), 8, Signing("/k/cosign.key", "PW")),
    PublishImage("apps:prod", "", DIGEST, ("r/web:1.0",), source=f"r.example.com/staging/web@{DIGEST}"),
    CheckResult("batch", ("apps:web",), {"r/web:1": DIGEST}, {"apps:web": {"digest": DIGEST}}),
    PushPlan(
        "batch",
        "/d/.oci-publish/run-1",
        "/d/oci-publish.json",
        (PublishImage("apps:web", "apps/web", DIGEST, ("r/web:1",)),),
        (),
        4,
        Signing("/k/cosign.key", "PW", True),
    ),
    PushPlan("batch", "/d/.oci-publish/run-1", "/d/oci-publish.json", ()),
    RunEntry("apps:web", DIGEST, ("r/web:1",), "pushed", "/d/web.publish.json", None, 1.5, {"digest": DIGEST}),
    PublicKey("keys/cosign.pub", "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n"),
    VerifyImage("apps:web", "apps/web", DIGEST, ("r/web:1", "r/web:latest")),
    VerifyPlan(
        (VerifyImage("apps:web", "apps/web", DIGEST, ("r/web:1",)),), (PublicKey("k.pub", "pem"),), ("r",), 8, 5
    ),
    VerifyPlan(()),
    PathDifference("/app/a", "changed", "mode 0644 -> 0755"),
    LayerDifference(
        1, "linux/amd64", "1 path differs", DIGEST, DIGEST, None, None, (PathDifference("/app/a", "added"),), 3
    ),
    TagVerdict(
        "apps:web",
        "r/web:1",
        "differs",
        DIGEST,
        "the tag names another image",
        DIGEST,
        ("platform linux/arm64 only here",),
        (LayerDifference(0, "linux/amd64", "only here"),),
    ),
    VerifyResult((TagVerdict("apps:web", "r/web:1", "missing", DIGEST),), False),
    DpkgScanRequest("blobs/sha256/ab", "application/vnd.oci.image.layer.v1.tar+gzip"),
    DpkgLayerScan(
        {"var/lib/dpkg/status": (DebPackage("libc6", "2.36-9", "amd64", "glibc"),)},
        {"etc/os-release": "debian"},
        ("var/lib/dpkg/status.d/x",),
        ("var/lib/dpkg",),
    ),
    DpkgLayerScan({}, {}),
    DebPackage("tzdata", "2024a-0+deb12u1", "all"),
    FileSha1s({"app/a b.txt": "0" * 40}),
    SbomFileList((("/app/a b.txt", "a" * 64, "b" * 40, "app:files"),)),
    SbomImage("web", DIGEST),
    SbomPlatform(SbomImage("web", DIGEST)),
    SbomPackageFacts("deb", "tzdata", "2024a", "pkg:deb/debian/tzdata@2024a", "NOASSERTION"),
    SbomDocumentRequest(
        SbomImage("web", DIGEST, ("pkg:oci/web@sha256%3A" + "0" * 64,)),
        (
            SbomPlatform(
                SbomImage("web", DIGEST, (), "linux/amd64"),
                SbomImage("debian", DIGEST, (), "linux/amd64", "Pulled as debian:12."),
                (SbomPackageFacts("deb", "libc6", "2.36-9", "pkg:deb/debian/libc6@2.36-9", "NOASSERTION"),),
            ),
        ),
        (SbomPackageFacts("pypi", "six", "1.16.0", "pkg:pypi/six@1.16.0", "MIT", "", "c" * 64, "https://x/six", "c"),),
        "1970-01-01T00:00:00Z",
        "pants-oci-0.1.0",
        ("a note",),
        ("lists/0/files.json",),
        {"spdx": "out/app/img.spdx.json"},
    ),
    FileCheck("/app/main.py", True, "file", 0o644, 0, 0, "^import"),
    FileCheck("/root/.cache", False),
    ConfigCheck(("/app/run",), ("--serve",), {"LANG": "C.UTF-8"}, {"team": "web"}, "1000", "/app"),
    ConfigCheck(),
    CommandCheck(("--version",), ("/app/run",), 0, "^web 1\\.", ""),
    ImageTestPlan(
        "oci_image_test app:t",
        "oci_image app:img",
        "app/img",
        "linux/amd64",
        (FileCheck("/app"),),
        ConfigCheck(user="1000"),
        (CommandCheck(("true",)),),
        "/usr/bin/podman",
        "",
        ("--runtime", "runc"),
    ),
    ImageTestPlan("oci_image_test app:t", "oci_image app:img", "app/img", "linux/amd64", runtime_missing="no podman"),
    DebTargetRequest("base:runtime", "bookworm", ("python3", "tzdata"), ("amd64", "arm64")),
    DebLockRequest("http://127.0.0.1:8080/debian", (DebTargetRequest("a:b", "bookworm", ("tzdata",), ("amd64",)),)),
    DebLockRequest("http://snapshot.debian.org/archive/debian/20250520T000000Z", ()),
    DebInput("tzdata", "debs/tzdata.deb", "ab" * 32, 307832),
    DebLayerSpec((DebInput("tzdata", "debs/tzdata.deb", "ab" * 32, 307832),), "zstd", 3, 1700000000, 2),
    DebLayerSpec(()),
    RequirementLayersSpec("site-packages", "/app", "lib", 10 << 20),
    RequirementLayersSpec("tree", "/", "lib", 0, ".ocikit/cpython3.11", "cpython3.11", 1000, 1000, "zstd", 3, 1, 2),
    RequirementLayersSpec(
        "site-packages",
        "/app",
        "lib",
        1,
        install=RequirementsInstall("pex-v2.1.137.pex", "requirements.pex", ".ocikit/cpython3.11", ".cache/pex_root"),
    ),
    RequirementLayersResult((RequirementLayer("numpy-1.26.4", "0.blob", "0.json"),), ("numpy-1.26.4",)),
    RequirementLayersResult(()),
    RequirementLayer("requirements", "5.blob", "5.json"),
    RequirementsInstall("pex-v2.1.137.pex", "requirements.pex", ".ocikit/cpython3.11", ".cache/pex_root"),
]


def test_every_contract_of_the_core_is_covered_here():
    import importlib
    import pkgutil

    import ocikit.contracts

    defined = set()
    for module in pkgutil.iter_modules(ocikit.contracts.__path__):
        loaded = importlib.import_module(f"ocikit.contracts.{module.name}")
        defined |= {
            c
            for c in vars(loaded).values()
            if isinstance(c, type) and issubclass(c, Contract) and c is not Contract and c.__module__ == loaded.__name__
        }
    covered = {type(v) for v in CONTRACTS} | {type(c) for c, _ in COMMANDS} | {Signing}
    assert defined - covered == set(), "a contract without a round-trip case"


COMMANDS = [
    # (the command, the worker's parser of the arguments after the command's name)
    (LayerCommand("layer-spec.json", "layer.blob", "layer.json"), layer_cli._parser),
    (PullCommand(f"r.example.com/a@{DIGEST}", "pulled"), lambda: registry_cli._parser("pull")),
    (
        PullCommand(
            f"r.example.com/a:1@{DIGEST}", "pulled", ("linux/amd64", "linux/arm64/v8"), ("r.example.com", "h:5000")
        ),
        lambda: registry_cli._parser("pull"),
    ),
    (LockCommand("tracked.json", "out/lock.yaml"), lambda: registry_cli._parser("lock")),
    (
        LockCommand(
            "tracked.json",
            "out/lock.yaml",
            "lock.yaml",
            "pants generate-lockfiles",
            ("r.example.com/a:1",),
            ("h:5000",),
        ),
        lambda: registry_cli._parser("lock"),
    ),
    (VerifyCommand("plan.json"), lambda: registry_cli._parser("verify")),
    (BytecodeCommand("tree", "pyc"), bytecode._parser),
    (ImageTestCommand("plan.json"), image_test.parser),
    (SbomDpkgCommand("scan-request.json", "scan.json"), lambda: sbom_worker.parser("sbom-dpkg")),
    (SbomSha1Command("files", "sha1s.json"), lambda: sbom_worker.parser("sbom-sha1")),
    (SbomDocumentCommand("request.json"), lambda: sbom_worker.parser("sbom-document")),
    (
        DebLockCommand("request.json", "out/lock.yaml", "pants generate-lockfiles"),
        lambda: debian_worker.parser("deb-lock"),
    ),
    (
        DebFetchCommand("http://h/pool/a.deb", "ab" * 32, 10, "debs/a.deb", "a 1.0"),
        lambda: debian_worker.parser("deb-fetch"),
    ),
    (DebLayerCommand("spec.json", "layer.blob", "layer.json"), lambda: debian_worker.parser("deb-layer")),
    (BytecodeCommand("tree", "pyc", "cpython3.11"), bytecode._parser),
    (RequirementLayersCommand("spec.json", "layers"), requirement_layers_cli._parser),
    (RunCommand("/usr/bin/podman", "{chroot}/app/img", "team/app:1.0", "oci_image app:img"), run._parser),
    (
        RunCommand("docker", "l", "r:latest", "w", ("--ulimit", "nofile=1024:1024"), True, ("-v", "--", "x")),
        run._parser,
    ),
]


@pytest.mark.parametrize("value", CONTRACTS, ids=lambda v: type(v).__name__)
def test_every_contract_round_trips(value: Contract):
    raw = value.dumps()
    assert type(value).loads(raw) == value
    assert set(json.loads(raw)) == {"kind", "version", *field_names(type(value))}
    assert type(value).loads(raw).dumps() == raw


@pytest.mark.parametrize("value", CONTRACTS, ids=lambda v: type(v).__name__)
def test_an_extra_or_missing_key_is_refused_naming_it(value: Contract):
    extra = {**value.to_json(), "added_on_one_side": 1}
    with pytest.raises(ContractError, match="unknown key.* added_on_one_side"):
        type(value).from_json(extra)
    for name in _required(type(value)):
        data = value.to_json()
        del data[name]
        with pytest.raises(ContractError, match=f"required key '{name}' is missing"):
            type(value).from_json(data)


def _required(cls) -> list:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


@pytest.mark.parametrize("command, parser", COMMANDS, ids=lambda c: getattr(c, "COMMAND", ""))
def test_each_worker_parses_its_command_line_back(command, parser):
    """The worker's own parser (with its worker-only options) reads the plugin's command line."""
    argv = command.to_argv()
    assert argv[0] == command.COMMAND
    assert type(command).from_args(parser().parse_args(list(argv[1:]))) == command


def test_the_layer_worker_reads_the_spec_through_the_contract(tmp_path):
    spec = CONTRACTS[0]
    (tmp_path / "spec.json").write_bytes(spec.dumps())
    assert layer_cli.load_spec(str(tmp_path / "spec.json")) == spec


def test_a_spec_without_links_has_stable_bytes():
    """The spec is a process input (part of each layer's cache key): one value, one byte string."""
    assert LayerSpec("files", "/").dumps() == (
        b'{"compression":"gzip","destination":"/","executables":null,"gid":0,"kind":"layer-spec","level":null,'
        b'"mode_policy":"normalize","mtime":0,"root":"files","symlinks":{},"threads":null,"uid":0,"version":1}'
    )
