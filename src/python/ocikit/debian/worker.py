"""`python -m ocikit deb-lock | deb-fetch | deb-layer` (contracts in `ocikit.contracts.debian`).

Each prints one line `ocikit COMMAND: error: ...` on stderr and exits 1 on a user-facing
error, and leaves nothing half-written: outputs go to temporary names, renamed when complete.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from typing import Dict, List, Type

from ocikit.command_line import CommandLine
from ocikit.contract import ContractError
from ocikit.contracts.debian import DebFetchCommand, DebLayerCommand, DebLayerSpec, DebLockCommand, DebLockRequest
from ocikit.contracts.layer import LayerSpec
from ocikit.debian.archive import ArchiveError, download_deb, lock_targets
from ocikit.debian.deb import DebError
from ocikit.debian.index import PackagesIndexError
from ocikit.debian.layer import DebFile, plan_deb_layer
from ocikit.debian.lockfile import format_lockfile
from ocikit.debian.resolve import ResolveError
from ocikit.debian.version import DebianVersionError
from ocikit.errors import error_line
from ocikit.layer import LayerError
from ocikit.layer_cli import build_and_write

_COMMAND_TYPES: List[Type[CommandLine]] = [DebLockCommand, DebFetchCommand, DebLayerCommand]
COMMANDS: Dict[str, Type[CommandLine]] = {c.COMMAND: c for c in _COMMAND_TYPES}
_ERRORS = (
    ArchiveError,
    ContractError,
    DebError,
    DebianVersionError,
    LayerError,
    PackagesIndexError,
    ResolveError,
    OSError,
)


def _lock(command: DebLockCommand) -> None:
    request = DebLockRequest.read(command.request)
    targets = [(t.target, t.suite, t.packages, t.architectures) for t in request.targets]
    lock = lock_targets(request.archive, targets)
    from ocikit.whole_files import write_file

    write_file(command.out, format_lockfile(lock, command.regenerate_command))
    for target in lock.targets:
        counts = ", ".join(f"{arch}: {len(debs)} packages" for arch, debs in target.architectures)
        print(f"{target.target}: {counts}")


def _layer(command: DebLayerCommand) -> None:
    spec = DebLayerSpec.read(command.spec)
    work = tempfile.mkdtemp(prefix="deb-layer.")
    try:
        debs = [DebFile(d.package, d.path, d.sha256, d.size) for d in spec.debs]
        warnings: List[str] = []
        entries = plan_deb_layer(debs, work, warnings)
        for warning in warnings:
            print(f"ocikit deb-layer: warning: {warning}", file=sys.stderr)
        compression = LayerSpec(
            ".", "/", compression=spec.compression, level=spec.level, mtime=spec.mtime, threads=spec.threads
        )
        build_and_write(entries, compression, command.out, command.descriptor)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"ocikit {name}")
    COMMANDS[name].add_arguments(p)
    return p


def main(name: str, argv: List[str]) -> int:
    command = COMMANDS[name].from_args(parser(name).parse_args(argv))
    try:
        if isinstance(command, DebLockCommand):
            _lock(command)
        elif isinstance(command, DebFetchCommand):
            download_deb(command.url, command.sha256, command.size, command.out, command.package)
        elif isinstance(command, DebLayerCommand):
            _layer(command)
    except _ERRORS as e:
        print(f"ocikit {name}: error: {error_line(e)}", file=sys.stderr)
        return 1
    return 0
