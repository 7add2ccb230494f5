"""`python -m ocikit sbom-dpkg|sbom-sha1`: the SBOM's reads that need a process (files and blobs
that can be large never enter the rules' memory). Their command lines and files are
`ocikit.contracts.sbom`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from typing import Optional, Sequence

from ocikit.contract import Contract
from ocikit.contracts.sbom import DpkgScanRequest, FileSha1s, SbomDpkgCommand, SbomSha1Command
from ocikit.sbom.dpkg import scan_layer

COMMANDS = {c.COMMAND: c for c in (SbomDpkgCommand, SbomSha1Command)}


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
    else:
        sha1 = SbomSha1Command.from_args(args)
        _write(sha1.out, tree_sha1s(sha1.root))
    return 0
