"""`python -m ocikit sbom-dpkg|sbom-sha1|sbom-document`: the SBOM's reads and writes that need
a process (files, blobs and documents that can be large never enter the rules' memory). Their
command lines and files are `ocikit.contracts.sbom`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from typing import Optional, Sequence, Tuple, Type

from ocikit.command_line import CommandLine
from ocikit.contract import Contract
from ocikit.contracts.sbom import (
    DpkgScanRequest,
    FileSha1s,
    SbomDocumentCommand,
    SbomDocumentRequest,
    SbomDpkgCommand,
    SbomSha1Command,
)
from ocikit.sbom.dpkg import scan_layer

_KINDS: Tuple[Type[CommandLine], ...] = (SbomDpkgCommand, SbomSha1Command, SbomDocumentCommand)
COMMANDS = {c.COMMAND: c for c in _KINDS}


def tree_sha1s(root: str) -> FileSha1s:
    found = {}
    # The root may be a link (an immutable input): follow it, but no link below it.
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            digest = hashlib.sha1()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            found[os.path.relpath(path, root).replace(os.sep, "/")] = digest.hexdigest()
    return FileSha1s(found)


def _write(path: str, contract: Contract) -> None:
    with open(path, "wb") as f:
        f.write(contract.dumps())


def parser(command: str) -> argparse.ArgumentParser:
    kind = COMMANDS[command]
    parser = argparse.ArgumentParser(prog=f"ocikit {command}", description=kind.__doc__)
    kind.add_arguments(parser)
    return parser


def main(command: str, argv: Optional[Sequence[str]] = None) -> int:
    args = parser(command).parse_args(argv)
    if command == SbomDpkgCommand.COMMAND:
        dpkg = SbomDpkgCommand.from_args(args)
        _write(dpkg.out, scan_layer(DpkgScanRequest.read(dpkg.request)))
    elif command == SbomDocumentCommand.COMMAND:
        from ocikit.sbom.document import write_documents

        write_documents(SbomDocumentRequest.read(SbomDocumentCommand.from_args(args).request))
    else:
        sha1 = SbomSha1Command.from_args(args)
        _write(sha1.out, tree_sha1s(sha1.root))
    return 0
