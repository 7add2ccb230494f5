"""`python -m ocikit sbom ...`: the SBOM's reads that need a process (files and blobs that can be
large never enter the rules' memory).

  sbom dpkg --request REQ.json --out OUT.json   scan one layer blob for Debian packages
  sbom sha1 --root DIR --out OUT.json           the SHA1 of every regular file below DIR
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from ocikit.contract import Contract
from ocikit.sbom.dpkg import DpkgLayerScanRequest, scan_layer


@dataclass(frozen=True)
class FileSha1s(Contract):
    """The SHA1 of each regular file of a tree, by its path relative to the tree's root. SPDX
    2.3 requires one for every file; Pants' own digests are SHA-256 only."""

    KIND = "sbom-file-sha1s"

    sha1: Dict[str, str]


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ocikit sbom", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dpkg = commands.add_parser("dpkg")
    dpkg.add_argument("--request", required=True)
    dpkg.add_argument("--out", required=True)
    sha1 = commands.add_parser("sha1")
    sha1.add_argument("--root", required=True)
    sha1.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "dpkg":
        _write(args.out, scan_layer(DpkgLayerScanRequest.read(args.request)))
    else:
        _write(args.out, tree_sha1s(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
