"""`python -m ocikit pull`: its command line. It writes an OCI image layout (the spec's format)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ocikit.command_line import CommandLine, argument, option


@dataclass(frozen=True)
class PullCommand(CommandLine):
    """Fetch an image by digest into an OCI image layout (`ocikit.registry.pull`)."""

    COMMAND = "pull"

    reference: str = argument("the image: REGISTRY/REPOSITORY[:TAG]@DIGEST", metavar="REF@DIGEST")
    out: str = option("--out", "the OCI image layout to write", metavar="DIR")
    platforms: Tuple[str, ...] = option(
        "--platform", "platform to fetch from an index (repeatable)", metavar="OS/ARCH[/VARIANT]", default=()
    )
    insecure_registries: Tuple[str, ...] = option(
        "--insecure-registry",
        "allow plain HTTP and unverified TLS for this registry (repeatable); "
        "loopback registries always allow plain HTTP",
        metavar="HOST[:PORT]",
        default=(),
    )
