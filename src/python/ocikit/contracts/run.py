"""`python -m ocikit run`: its command line (the run goal appends the user's arguments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ocikit.command_line import CommandLine, option, remainder


@dataclass(frozen=True)
class RunCommand(CommandLine):
    """Load an OCI layout into podman or docker and run it (`ocikit.run`)."""

    COMMAND = "run"

    runtime: str = option("--runtime", "path of podman or docker")
    layout: str = option("--layout", "the OCI image layout directory")
    name: str = option("--name", "repository:tag to name it in the runtime's store")
    what: str = option("--what", "how messages name the image, e.g. its target")
    run_args: Tuple[str, ...] = option(
        "--run-arg", "an argument for `RUNTIME run` (repeatable)", joined=True, default=()
    )
    load_only: bool = option("--load-only", "load and name the image, do not run it", default=False)
    args: Tuple[str, ...] = remainder("arguments for the container")
