"""What an `oci_image` is built on: the `base` field's three forms, and a base image per platform.

Pure functions, tested directly; the rules in `util_rules/base.py` fetch what they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

from ocikit.image import Platform, PlatformImage, select_platform
from ocikit.reference import Reference, names_a_registry
from pants_oci.field_validation import parse_pinned_reference

SCRATCH = "scratch"


class BaseKind(Enum):
    scratch = "scratch"
    address = "address"  # an oci_image or oci_pull target
    reference = "reference"  # a registry image pinned by digest


@dataclass(frozen=True)
class BaseSpec:
    kind: BaseKind
    value: str
    reference: Reference | None = None


def parse_base(field: Any, value: str | None) -> BaseSpec:
    """Classify a `base` value. A registry reference (a digest, or a first component that names
    a registry host as docker reads it) must be pinned by digest; anything else is an address.
    `field` (a Field or FieldName) is named in errors."""
    value = value or SCRATCH
    if value == SCRATCH:
        return BaseSpec(BaseKind.scratch, value)
    if _is_reference(value):
        return BaseSpec(BaseKind.reference, value, parse_pinned_reference(field, value))
    return BaseSpec(BaseKind.address, value)


def base_address(value: str | None) -> str | None:
    """The `base` value when it names a target, else None. Never raises: a bad reference is
    reported by the image rule, not by dependency inference."""
    value = value or SCRATCH
    return None if value == SCRATCH or _is_reference(value) else value


def _is_reference(value: str) -> bool:
    return not value.startswith((":", "//")) and ("@" in value or names_a_registry(value))


class BasePlatformError(ValueError):
    def __init__(self, platform: Platform, available: Sequence[Platform]) -> None:
        super().__init__(f"no {platform} image among {', '.join(map(str, available))}")
        self.platform = platform
        self.available = tuple(available)


def base_image_per_platform(
    platforms: Sequence[Platform], base_images: Sequence[PlatformImage]
) -> tuple[PlatformImage, ...]:
    """For each requested platform, the base image a container runtime would pick for it
    (`linux/arm64` takes a `linux/arm64/v8` base). BasePlatformError for the first it lacks."""
    offered = [image.platform for image in base_images]
    chosen = []
    for platform in platforms:
        position = select_platform(platform, offered)
        if position is None:
            raise BasePlatformError(platform, offered)
        chosen.append(base_images[position])
    return tuple(chosen)


def describe_cycle(chain: Sequence[Any], repeated: Any) -> str | None:
    """`a -> b -> a` when `repeated` is already in the chain of bases followed so far."""
    if repeated not in chain:
        return None
    loop = [*chain[list(chain).index(repeated) :], repeated]
    return " -> ".join(str(item) for item in loop)
