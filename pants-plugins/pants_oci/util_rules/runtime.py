"""The container runtime `pants run` uses (podman or docker), found once behind one rule, as
Pants' own `docker_binary.py` finds docker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest, SearchPath
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.option.errors import OptionsError
from pants.util.logging import LogLevel

from pants_oci.subsystem import ContainerRuntimeKind, OciSubsystem

INSTALL = {
    ContainerRuntimeKind.podman: "apt-get install podman (Debian, Ubuntu), dnf install podman "
    "(Fedora), brew install podman (macOS); https://podman.io/docs/installation",
    ContainerRuntimeKind.docker: "Docker Engine 25 or newer; https://docs.docker.com/engine/install/",
}


@dataclass(frozen=True)
class ContainerRuntime:
    kind: ContainerRuntimeKind
    path: str


def search_path(entries: Sequence[str], path_env: str | None) -> SearchPath:
    """`[oci].runtime_search_path` with `<PATH>` replaced by the environment's PATH entries."""
    expanded: list[str] = []
    for entry in entries:
        expanded.extend((path_env or "").split(":") if entry == "<PATH>" else [entry])
    return SearchPath(e for e in expanded if e)


def runtime_not_found(kind: ContainerRuntimeKind, searched: SearchPath) -> OptionsError:
    other = ContainerRuntimeKind.docker if kind is ContainerRuntimeKind.podman else ContainerRuntimeKind.podman
    return OptionsError(
        f"`pants run` runs an oci_image with {kind.value} (`[oci].runtime`), but no working "
        f"`{kind.value}` is on `[oci].runtime_search_path` ({':'.join(searched) or 'empty'}). "
        f'Install it ({INSTALL[kind]}), or set `[oci].runtime = "{other.value}"`.'
    )


@dataclass(frozen=True)
class MaybeContainerRuntime:
    """The runtime, or None where it is missing: image tests run their other checks then."""

    kind: ContainerRuntimeKind
    runtime: Optional[ContainerRuntime]
    searched: tuple[str, ...]

    def missing(self, what: str) -> str:
        """Why `what` cannot run: the runtime and where it was looked for, and how to get it."""
        return (
            f"{what} needs {self.kind.value} (`[oci].runtime`), and no working `{self.kind.value}` is on "
            f"`[oci].runtime_search_path` ({':'.join(self.searched) or 'empty'}): install it "
            f"({INSTALL[self.kind]})"
        )


@rule(desc="Find the container runtime", level=LogLevel.DEBUG)
async def find_maybe_container_runtime(oci: OciSubsystem) -> MaybeContainerRuntime:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["PATH"]))
    searched = search_path(oci.runtime_search_path, env.get("PATH"))
    paths = await Get(
        BinaryPaths,
        BinaryPathRequest(binary_name=oci.runtime.value, search_path=searched, test=BinaryPathTest(args=["--version"])),
    )
    found = None if paths.first_path is None else ContainerRuntime(oci.runtime, paths.first_path.path)
    return MaybeContainerRuntime(oci.runtime, found, tuple(searched))


@rule(desc="Find the container runtime", level=LogLevel.DEBUG)
async def find_container_runtime(maybe: MaybeContainerRuntime) -> ContainerRuntime:
    if maybe.runtime is None:
        raise runtime_not_found(maybe.kind, SearchPath(maybe.searched))
    return maybe.runtime


def rules():
    return collect_rules()
