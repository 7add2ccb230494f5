"""`python -m ocikit image-test`: the checks of an `oci_image_test` target, and its command line.

`pants test` packages the image, writes an `ImageTestPlan` beside its layout and runs one
process (a cached Pants test): file and config checks read the layout itself, command checks
run the image with the container runtime `pants run` uses (ocikit.image_test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class FileCheck(Contract):
    """A path of the image's filesystem (its layers applied in order, whiteouts honoured)."""

    KIND = "image-test-file"

    path: str
    exists: bool = True
    type: Optional[str] = None  # file, dir, symlink, hardlink
    mode: Optional[int] = None  # permission bits, e.g. 0o755
    uid: Optional[int] = None
    gid: Optional[int] = None
    content: Optional[str] = None  # a regex searched in a file's content (UTF-8, multiline)


@dataclass(frozen=True)
class ConfigCheck(Contract):
    """Fields of the image's config: entrypoint and cmd equal; env and labels hold each pair
    given (others may be there, e.g. a base image's PATH); user and workdir equal."""

    KIND = "image-test-config"

    entrypoint: Optional[tuple[str, ...]] = None
    cmd: Optional[tuple[str, ...]] = None
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    user: Optional[str] = None
    workdir: Optional[str] = None


@dataclass(frozen=True)
class CommandCheck(Contract):
    """A container run of the image: `args` replace its cmd (after its entrypoint, or after
    `entrypoint` when given); the exit status must equal `exit_code` and stdout/stderr match
    their regexes (searched, multiline)."""

    KIND = "image-test-command"

    args: tuple[str, ...]
    entrypoint: Optional[tuple[str, ...]] = None
    exit_code: int = 0
    stdout: Optional[str] = None
    stderr: Optional[str] = None


@dataclass(frozen=True)
class ImageTestPlan(Contract):
    """One `oci_image_test`: its image's layout (relative to the process's directory), the
    platform to test (this machine's containers'), and the checks. `runtime` is the runtime's
    path, or None with `runtime_missing` saying why (then each command check fails saying so)."""

    KIND = "image-test-plan"

    what: str  # the test target, for messages
    image: str  # the oci_image target
    layout: str
    platform: str
    files: tuple[FileCheck, ...] = ()
    config: Optional[ConfigCheck] = None
    commands: tuple[CommandCheck, ...] = ()
    runtime: Optional[str] = None
    runtime_missing: str = ""
    run_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageTestCommand(CommandLine):
    """Run the checks of an image test (`ocikit.image_test`)."""

    COMMAND = "image-test"

    plan: str = option("--plan", "the checks: an ImageTestPlan as JSON", metavar="PLAN.json")
