"""The platform of the containers this machine runs: Linux of its architecture (a Mac's container
runtime runs them in a Linux VM of the Mac's architecture)."""

from __future__ import annotations

from pants.engine.platform import Platform as HostPlatform

from ocikit.image import Platform

_CONTAINERS = {
    HostPlatform.linux_x86_64: "linux/amd64",
    HostPlatform.macos_x86_64: "linux/amd64",
    HostPlatform.linux_arm64: "linux/arm64",
    HostPlatform.macos_arm64: "linux/arm64",
}


def container_platform(host: HostPlatform) -> Platform:
    return Platform.parse(_CONTAINERS[host])
