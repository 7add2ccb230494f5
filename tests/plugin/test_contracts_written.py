"""What the rules write for the workers is exactly a contract of ocikit.contracts: the keys of
each JSON file are the contract's, and each command line is the command's (the worker side is
tests/ocikit/test_contracts_read.py)."""

from __future__ import annotations

import json

from pants_oci.base_image_lock import tracked_images
from pants_oci.goals.lockfile import lock_command
from pants_oci.registries import OciRegistries
from pants_oci.subsystem import Compression
from pants_oci.util_rules.layers import LayerPart, layer_spec
from pants_oci.util_rules.pull import PullImageRequest, pull_command
from pants_oci.util_rules.settings import LayerCompression
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST
from pants.util.frozendict import FrozenDict

from ocikit.contract import field_names
from ocikit.contracts.layer import LayerSpec
from ocikit.contracts.lock import LockCommand, TrackedImage, TrackedImages
from ocikit.contracts.pull import PullCommand
from ocikit.image import Platform
from ocikit.reference import parse_reference
from ocikit.registry import cli as registry_cli

DIGEST = "sha256:" + "ab" * 32
REGISTRIES = OciRegistries.from_dict({
    "a": {"address": "a.example.com", "insecure": True},
    "b": {"address": "b.example.com"},
    "c": {"address": "127.0.0.1:5000", "insecure": True},
})


def _keys(raw: bytes) -> set:
    return set(json.loads(raw))


def test_the_layer_spec_is_the_contract():
    part = LayerPart(EMPTY_DIGEST, "/app", 1, 2, "oci_layer //a:b", LayerCompression(Compression.zstd, 5),
                     FrozenDict({"bin/py": "/usr/bin/python3"}))
    spec = layer_spec(part, 1700000000)
    assert _keys(spec.dumps()) == {"kind", "version", *field_names(LayerSpec)}
    assert LayerSpec.loads(spec.dumps()) == LayerSpec(
        "files", "/app", 1, 2, "normalize", "zstd", 5, 1700000000, None, {"bin/py": "/usr/bin/python3"}
    )
    without_links = layer_spec(LayerPart(EMPTY_DIGEST, "/", 0, 0, "w", LayerCompression(Compression.gzip, None)), 0)
    assert without_links.symlinks == {} and without_links.dumps() == LayerSpec("files", "/").dumps()


def test_the_pull_command_is_the_contract_and_the_worker_reads_it():
    request = PullImageRequest(
        parse_reference(f"r.example.com/base:1@{DIGEST}"),
        (Platform.parse("linux/amd64"), Platform.parse("linux/arm64/v8")),
        "w",
    )
    command = pull_command(request, REGISTRIES)
    assert command.to_argv() == (
        "pull", f"r.example.com/base:1@{DIGEST}", "--out", "pulled",
        "--platform", "linux/amd64", "--platform", "linux/arm64/v8",
        "--insecure-registry", "a.example.com", "--insecure-registry", "127.0.0.1:5000",
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
    assert TrackedImages.loads(raw).images == (TrackedImage("docker.io/library/debian:12", ("linux/amd64",), ("base:debian",)),)

    command = lock_command("base.lock", "pants generate-lockfiles", ["docker.io/library/debian:12"], REGISTRIES)
    assert command.to_argv() == (
        "lock", "--tracked", "__oci_tracked.json", "--out", "__oci_lock_out/base.lock", "--lockfile", "base.lock",
        "--regenerate-command", "pants generate-lockfiles", "--only", "docker.io/library/debian:12",
        "--insecure-registry", "a.example.com", "--insecure-registry", "127.0.0.1:5000",
    )
    assert LockCommand.from_args(registry_cli._parser("lock").parse_args(list(command.to_argv()[1:]))) == command
