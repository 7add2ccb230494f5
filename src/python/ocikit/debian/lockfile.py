"""The Debian package lockfile: for each `oci_debian_packages` target, the packages it asked
for and, per architecture, every package of their closure pinned to one file of the archive.

    # ... a header saying how to regenerate it ...
    version: 1
    targets:
      "examples/python:runtime":
        suite: "bookworm"
        requested: ["ca-certificates", "python3", "tzdata"]
        architectures:
          "amd64":
            "libc6": {version: "2.36-9+deb12u14", architecture: "amd64", path: "pool/main/g/glibc/...", ...}

One package a line (a bump is a one-line diff), everything sorted, every string a JSON string.
Read with the base-image lockfile's reader (`ocikit.lockfile.load_document`): a hand edit
that breaks it fails naming the file, line and key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import yaml

from ocikit.debian.version import DebianVersionError, parse_version
from ocikit.lockfile import LOCKFILE_VERSION, LockReader, load_document

_PACKAGE_KEYS = ("version", "architecture", "path", "size", "sha256")
_TARGET_KEYS = ("suite", "requested", "architectures")
_INT_TAG = "tag:yaml.org,2002:int"
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class LockedDeb:
    name: str
    version: str
    architecture: str  # the package's own ("all" for architecture-independent ones)
    path: str  # below the archive's root, as the index's Filename
    size: int
    sha256: str  # hex


@dataclass(frozen=True)
class DebianTargetLock:
    target: str  # the target's address
    suite: str
    requested: Tuple[str, ...]  # sorted
    architectures: Tuple[Tuple[str, Tuple[LockedDeb, ...]], ...]  # sorted by architecture, then name

    def packages(self, architecture: str) -> Optional[Tuple[LockedDeb, ...]]:
        return dict(self.architectures).get(architecture)


@dataclass(frozen=True)
class DebianLock:
    targets: Tuple[DebianTargetLock, ...] = ()  # sorted by target
    path: str = ""

    def get(self, target: str) -> Optional[DebianTargetLock]:
        return next((t for t in self.targets if t.target == target), None)


def new_target_lock(
    target: str, suite: str, requested: Sequence[str], architectures: Sequence[Tuple[str, Sequence[LockedDeb]]]
) -> DebianTargetLock:
    return DebianTargetLock(
        target,
        suite,
        tuple(sorted(set(requested))),
        tuple(sorted((arch, tuple(sorted(debs, key=lambda d: d.name))) for arch, debs in architectures)),
    )


def format_lockfile(lock: DebianLock, regenerate_command: str) -> bytes:
    """The lockfile's bytes: a header naming `regenerate_command`, then the targets sorted."""
    q = json.dumps
    lines = [
        "# Debian packages of `oci_debian_packages` targets: the packages each asked for and, per",
        "# architecture, their Depends/Pre-Depends closure pinned to one .deb of the archive.",
        "# Builds read only this file. Generated: review it like code, do not edit.",
        f"# Regenerate: {regenerate_command}",
        f"version: {LOCKFILE_VERSION}",
        "targets:" if lock.targets else "targets: {}",
    ]
    for target in sorted(lock.targets, key=lambda t: t.target):
        lines += [
            f"  {q(target.target)}:",
            f"    suite: {q(target.suite)}",
            f"    requested: [{', '.join(q(name) for name in sorted(target.requested))}]",
            "    architectures:" if target.architectures else "    architectures: {}",
        ]
        for arch, debs in sorted(target.architectures):
            lines.append(f"      {q(arch)}:" if debs else f"      {q(arch)}: {{}}")
            lines += [
                f"        {q(d.name)}: {{version: {q(d.version)}, architecture: {q(d.architecture)}, "
                f"path: {q(d.path)}, size: {d.size}, sha256: {q(d.sha256)}}}"
                for d in sorted(debs, key=lambda d: d.name)
            ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_lockfile(text: str | bytes, path: str, hint: str = "") -> DebianLock:
    """Read what `format_lockfile` wrote; a LockfileError names `path`, the line and the key."""
    reader, top = load_document(text, path, hint, "targets")
    targets = [
        _target(reader, key, key_node, value, f"targets[{key!r}]")
        for key, key_node, value in reader.mapping(top["targets"], "targets", "a mapping of target addresses")
    ]
    return DebianLock(tuple(sorted(targets, key=lambda t: t.target)), path)


def _target(reader: LockReader, target: str, key_node: yaml.Node, node: yaml.Node, where: str) -> DebianTargetLock:
    fields = reader.exact_keys(reader.mapping(node, where, "a mapping"), key_node, where, _TARGET_KEYS)
    suite = reader.string(fields["suite"], f"{where}.suite", "a suite name such as 'bookworm'")
    requested_node = fields["requested"]
    if not isinstance(requested_node, yaml.SequenceNode):
        raise reader.fail(requested_node, f"{where}.requested", "expected a list of package names")
    requested = [reader.string(n, f"{where}.requested", "a package name") for n in requested_node.value]
    architectures = []
    for arch, arch_node, debs_node in reader.mapping(
        fields["architectures"], f"{where}.architectures", "a mapping of architectures"
    ):
        if not _ARCH.match(arch):
            raise reader.fail(arch_node, f"{where}.architectures", f"{arch!r} is not a Debian architecture name")
        place = f"{where}.architectures[{arch!r}]"
        debs = [
            _deb(reader, name, name_node, value, f"{place}[{name!r}]")
            for name, name_node, value in reader.mapping(debs_node, place, "a mapping of package names")
        ]
        architectures.append((arch, debs))
    return new_target_lock(target, suite, requested, architectures)


def _deb(reader: LockReader, name: str, name_node: yaml.Node, node: yaml.Node, where: str) -> LockedDeb:
    if not _NAME.match(name):
        raise reader.fail(name_node, where, f"{name!r} is not a Debian package name")
    fields = reader.exact_keys(reader.mapping(node, where, "a mapping"), name_node, where, _PACKAGE_KEYS)
    version = reader.string(fields["version"], f"{where}.version", "a Debian version")
    try:
        parse_version(version)
    except DebianVersionError as e:
        raise reader.fail(fields["version"], f"{where}.version", str(e)) from None
    architecture = reader.string(fields["architecture"], f"{where}.architecture", "an architecture")
    deb_path = reader.string(fields["path"], f"{where}.path", "the .deb's path in the archive")
    if deb_path.startswith("/") or ".." in deb_path.split("/") or not deb_path.endswith(".deb"):
        raise reader.fail(fields["path"], f"{where}.path", f"{deb_path!r} is not a relative path to a .deb")
    size_node = fields["size"]
    if not (isinstance(size_node, yaml.ScalarNode) and size_node.tag == _INT_TAG and size_node.value.isdigit()):
        raise reader.fail(size_node, f"{where}.size", "expected the size in bytes, a whole number")
    sha256 = reader.string(fields["sha256"], f"{where}.sha256", "a SHA-256 (64 hex digits)")
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise reader.fail(fields["sha256"], f"{where}.sha256", f"{sha256!r} is not a SHA-256 (64 lowercase hex digits)")
    return LockedDeb(name, version, architecture, deb_path, int(size_node.value), sha256)
