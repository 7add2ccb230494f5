"""What an `image:` value of a deploy manifest names, and what it is replaced with. Pure
functions, tested directly; the rules are in `util_rules/deploy_images.py`.

Three kinds, told apart by their form alone: an address (`//path:target`, `:target`), which
must name an `oci_image`; a reference with a registry host or a digest, someone else's image,
left as it is; anything else is the repository of one of our images (`team/web[:tag]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Mapping, Optional, Sequence

from pants.engine.addresses import Address
from pants.option.errors import OptionsError

from ocikit.reference import InvalidReference, names_a_registry, parse_reference
from ocikit.yaml_images import ImageValue
from pants_oci.registries import OciRegistries, OciRegistry


class ImageValueKind(Enum):
    address = "address"
    repository = "repository"
    external = "external"


@dataclass(frozen=True)
class ImageSpec:
    kind: ImageValueKind
    value: str
    repository: Optional[str] = None  # for `repository`: as written, without the tag
    tag: Optional[str] = None


class DeployImageError(ValueError):
    """An image value that cannot be resolved: the message names the target, file, line and value."""


def classify_image_value(value: str) -> ImageSpec:
    """What kind of thing an image value names; a DeployImageError (without the place: the
    caller adds it) when it is neither an address nor an image reference."""
    if value.startswith(("//", ":")):
        return ImageSpec(ImageValueKind.address, value)
    try:
        reference = parse_reference(value)
    except InvalidReference as e:
        raise DeployImageError(
            f"it is neither an `oci_image` address ('//path/to:target') nor an image reference ({e})"
        ) from None
    if reference.digest or names_a_registry(value):
        return ImageSpec(ImageValueKind.external, value)
    repository, _, tag = value.partition(":")
    return ImageSpec(ImageValueKind.repository, value, repository, tag or None)


@dataclass(frozen=True)
class KnownImage:
    """An `oci_image` a repository value may name: its address, repository and tags."""

    address: Address
    repository: str
    tags: tuple[str, ...]


def image_of_repository(spec: ImageSpec, images: Sequence[KnownImage]) -> KnownImage:
    """The one image whose repository `spec` names (with one of its tags, when it gives one)."""
    matching = [image for image in images if image.repository == spec.repository]
    if not matching:
        known = ", ".join(sorted({i.repository for i in images})) or "(none)"
        raise DeployImageError(
            f"it names no known image: {spec.repository!r} is the repository of no `oci_image` "
            f"(known: {known}). Name one by address ('//path/to:target') or by its repository; "
            f"write another image with its registry to leave it unchanged (e.g. "
            f"'docker.io/{spec.value if '/' in spec.value else 'library/' + spec.value}')"
        )
    if len(matching) > 1:
        raise DeployImageError(
            f"{spec.repository!r} is the repository of {len(matching)} images "
            f"({', '.join(sorted(str(i.address) for i in matching))}): name one by address"
        )
    image = matching[0]
    if spec.tag is not None and spec.tag not in image.tags:
        raise DeployImageError(
            f"{image.address} is tagged {', '.join(image.tags) or '(no tags)'}, not {spec.tag!r}: "
            "drop the tag (the digest names the image) or use one of its tags"
        )
    return image


def deploy_registry(registries: OciRegistries, requested: Optional[str], where: str) -> OciRegistry:
    """The registry resolved references point at: `requested` ('@alias'), else the only
    default one."""
    chosen = registries.select([requested] if requested else None, where)
    if len(chosen) != 1:
        defaults = ", ".join(f"@{r.alias}" for r in chosen)
        raise OptionsError(
            f"{where}: {'several default registries (' + defaults + ')' if chosen else 'no default registry'} "
            "in [oci].registries: choose the one the manifests point at with `registry='@alias'`"
        )
    return chosen[0]


def resolved_reference(registry: OciRegistry, repository: str, digest: str) -> str:
    return f"{registry.address}/{repository}@{digest}"


def describe_value(target: str, value: ImageValue) -> str:
    return f"The image value {value.value!r} at {value.where} of {target}"


def replacement_for(resolved: Mapping[str, str]):
    """The `replace_image_values` callback: the resolved reference of a value, or None."""
    return lambda value: resolved.get(value.value)
