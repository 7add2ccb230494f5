"""`python -m ocikit lock`: its command line and the images it locks (its --tracked file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class LockCommand(CommandLine):
    """Refresh a base-image lockfile from the registries (`ocikit.registry.lockfile_refresh`)."""

    COMMAND = "lock"

    tracked: str = option("--tracked", "the images to lock: TrackedImages as JSON", metavar="FILE")
    out: str = option("--out", "where to write the new lockfile", metavar="FILE")
    lockfile: Optional[str] = option(
        "--lockfile", "the current lockfile (absent: start empty)", metavar="FILE", default=None
    )
    regenerate_command: str = option(
        "--regenerate-command",
        "the command the lockfile's header names",
        metavar="CMD",
        default="python -m ocikit lock ...",
    )
    only: Tuple[str, ...] = option(
        "--only",
        "refresh only these entries (repeatable); new references are always added",
        metavar="REF",
        default=(),
    )
    insecure_registries: Tuple[str, ...] = option(
        "--insecure-registry",
        "allow plain HTTP and unverified TLS for this registry (repeatable); "
        "loopback registries always allow plain HTTP",
        metavar="HOST[:PORT]",
        default=(),
    )


@dataclass(frozen=True)
class TrackedImage(Contract):
    """A reference the build tracks: the platforms built on it and who uses it (for messages)."""

    KIND = "tracked-image"

    reference: str  # normalised, with a tag (`ocikit.lockfile.lock_key`)
    platforms: Tuple[str, ...] = ()
    users: Tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackedImages(Contract):
    KIND = "tracked-images"

    images: Tuple[TrackedImage, ...]
