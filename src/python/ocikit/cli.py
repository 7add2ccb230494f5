"""`python -m ocikit COMMAND ...`: the only entry point Pants runs as a process.

layer    build one deterministic layer blob from a directory tree (ocikit.layer_cli)
push     push an OCI image layout to one or more registries    (ocikit.registry.cli)
promote  copy a registry image by digest, with its attachments  (ocikit.registry.cli)
pull     fetch an image by digest into an OCI image layout       (ocikit.registry.cli)
inspect  print a registry image's manifest and config            (ocikit.registry.cli)
bytecode compile a tree's .py files to reproducible .pyc files   (ocikit.bytecode)
requirement-layers  resolved requirements -> installed, bytecode, layers (ocikit.requirement_layers_cli)
requirements-metadata  the dist-info of resolved requirements, for the SBOM (same module)
run      load a layout into podman or docker and run it          (ocikit.run)
image-test  check an image's files, config and commands           (ocikit.image_test)
lock     refresh a base-image lockfile from the registries       (ocikit.registry.cli)
verify   compare what registry tags name with packaged layouts   (ocikit.registry.verify)
published, push-run  many images in one `pants publish`          (ocikit.registry.run_cli)
sbom-dpkg, sbom-sha1, sbom-document  an SBOM's reads (base layers, file SHA1s) and its
         documents                                             (ocikit.sbom.worker)
deb-lock, deb-fetch, deb-layer  Debian packages: lockfile, .debs, layers (ocikit.debian.worker)
"""

from __future__ import annotations

import sys
from typing import Sequence

USAGE = __doc__ or ""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE.strip())
        return 0 if args else 2
    try:
        return _command(args[0], args[1:])
    except Exception as e:
        # A package from the named cache that fails to import (truncated, deleted) is one line
        # naming the cache and how to clear it; anything else is not the cache's doing.
        from ocikit.worker_cache import damage_report

        report = damage_report(e)
        if report is None:
            raise
        print(report, file=sys.stderr)
        return 1


def _command(command: str, rest: list) -> int:
    if command == "layer":
        from ocikit import layer_cli

        return layer_cli.main(rest)
    if command == "run":
        from ocikit import run

        return run.main(rest)
    if command == "image-test":
        from ocikit import image_test

        return image_test.main(rest)
    if command == "bytecode":
        from ocikit import bytecode

        return bytecode.main(rest)
    if command in ("requirement-layers", "requirements-metadata"):
        from ocikit import requirement_layers_cli

        return requirement_layers_cli.main(rest, command)
    if command in ("sbom-dpkg", "sbom-sha1", "sbom-document"):
        from ocikit.sbom import worker as sbom_worker

        return sbom_worker.main(command, rest)
    if command in ("deb-lock", "deb-fetch", "deb-layer"):
        from ocikit.debian import worker as debian_worker

        return debian_worker.main(command, rest)
    if command in ("push", "promote", "pull", "inspect", "lock", "verify", "published", "push-run"):
        from ocikit.registry import cli as registry_cli

        return registry_cli.main([command, *rest])
    print(f"ocikit: unknown command {command!r}\n\n{USAGE.strip()}", file=sys.stderr)
    return 2
