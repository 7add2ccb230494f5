"""Debian package layers: which architecture an image platform needs, whether a target's lock
entry still matches its fields, and how its packages are grouped into layers. Pure functions,
tested directly; the rules are in `pants_oci.debian.rules`.

Grouping rule: a package whose .deb is at least `own_layer_size` bytes gets a layer of its own;
the others share one layer, in name order. Bumping one package then rebuilds and re-pushes one
layer (its own, or the shared one), and a closure of N large packages makes N + 1 layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from pants.util.docutil import bin_name

from ocikit.debian.lockfile import DebianTargetLock, LockedDeb
from ocikit.image import Platform

DEBIAN_RESOLVE = "oci-debian-packages"
SHARED_LAYER = "small packages"

# OCI platform (architecture, variant) -> Debian architecture.
_DEBIAN_ARCH = {
    ("amd64", None): "amd64",
    ("arm64", None): "arm64",
    ("arm64", "v8"): "arm64",
    ("arm", "v7"): "armhf",
    ("arm", "v6"): "armel",
    ("arm", "v5"): "armel",
    ("386", None): "i386",
    ("ppc64le", None): "ppc64el",
    ("s390x", None): "s390x",
    ("riscv64", None): "riscv64",
    ("mips64le", None): "mips64el",
}
DEBIAN_ARCHITECTURES = tuple(sorted(set(_DEBIAN_ARCH.values())))


def regenerate_command(custom_command: Optional[str] = None) -> str:
    return custom_command or f"{bin_name()} generate-lockfiles --resolve={DEBIAN_RESOLVE}"


def debian_architecture(platform: Platform) -> Optional[str]:
    """The Debian architecture of a linux image platform, or None when Debian has none."""
    if platform.os != "linux":
        return None
    return _DEBIAN_ARCH.get((platform.architecture, platform.variant))


def stale_reason(
    entry: Optional[DebianTargetLock], suite: str, packages: Sequence[str], architectures: Sequence[str]
) -> Optional[str]:
    """Why the lock entry does not serve a target with these fields (None when it does)."""
    if entry is None:
        return "has no entry for it"
    if entry.suite != suite:
        return f"resolved it for suite {entry.suite!r}, not {suite!r}"
    if entry.requested != tuple(sorted(set(packages))):
        return f"resolved it for the packages {list(entry.requested)}, not {sorted(set(packages))}"
    missing = sorted(set(architectures) - {arch for arch, _ in entry.architectures})
    if missing:
        return f"has no {', '.join(missing)} packages for it"
    return None


@dataclass(frozen=True)
class DebLayerGroup:
    name: str  # the package's name, or SHARED_LAYER
    debs: tuple[LockedDeb, ...]


def group_layers(debs: Sequence[LockedDeb], own_layer_size: int) -> list[DebLayerGroup]:
    """The layers of a closure: one per package of at least `own_layer_size` bytes (by name),
    then the rest in one shared layer (left out when empty)."""
    ordered = sorted(debs, key=lambda d: d.name)
    own = [DebLayerGroup(d.name, (d,)) for d in ordered if d.size >= own_layer_size]
    rest = tuple(d for d in ordered if d.size < own_layer_size)
    return own + ([DebLayerGroup(SHARED_LAYER, rest)] if rest else [])
