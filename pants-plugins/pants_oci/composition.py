"""Composing an image from its parts once they are built: pure functions, tested directly."""

from __future__ import annotations

import dataclasses
import json
from typing import Mapping, Sequence

from pants.engine.target import Field, Target

from ocikit.image import (
    Blob,
    ConfigMutations,
    Layer,
    Platform,
    PlatformImage,
    build_index,
    build_platform_image,
)
from pants_oci.bases import base_image_per_platform
from pants_oci.image_fields import (
    OciImageCmdField,
    OciImageEntrypointField,
    OciImageEnvField,
    OciImageExposedPortsField,
    OciImageLabelsField,
    OciImageStopSignalField,
    OciImageUserField,
    OciImageVolumesField,
    OciImageWorkdirField,
)


class AnnotationConflict(ValueError):
    pass


class EntrypointConflict(ValueError):
    pass


def config_mutations(target: Target) -> ConfigMutations:
    """What an `oci_image` target changes in its base's config."""

    def argv(field: type[Field]) -> tuple[str, ...] | None:
        value = target[field].value
        return tuple(value) if value is not None else None

    return ConfigMutations(
        entrypoint=argv(OciImageEntrypointField),
        cmd=argv(OciImageCmdField),
        env=tuple((target[OciImageEnvField].value or {}).items()),
        user=target[OciImageUserField].value,
        workdir=target[OciImageWorkdirField].value,
        labels=tuple(sorted((target[OciImageLabelsField].value or {}).items())),
        exposed_ports=tuple(target[OciImageExposedPortsField].value or ()),
        volumes=tuple(target[OciImageVolumesField].value or ()),
        stop_signal=target[OciImageStopSignalField].value,
    )


def with_layer_defaults(
    mutations: ConfigMutations,
    defaults: Sequence[tuple[str, tuple[str, ...] | None, Mapping[str, str]]],
) -> ConfigMutations:
    """The image's own config changes over the defaults its layer sets propose, each given as
    (who proposes it, entrypoint or None, env). The image's `entrypoint` wins; without one, the
    proposed entrypoint is taken (two different ones are an EntrypointConflict). Proposed env
    entries come first, so the image's own `env` overrides them in place."""
    entrypoint = mutations.entrypoint
    if entrypoint is None:
        proposed = {e: name for name, e, _ in defaults if e is not None}
        if len(proposed) > 1:
            raise EntrypointConflict(
                "its layers propose different entrypoints: "
                + "; ".join(f"{name}: {list(e)}" for e, name in proposed.items())
            )
        entrypoint = next(iter(proposed), None)
    env = [item for _, _, proposed_env in defaults for item in proposed_env.items()]
    return dataclasses.replace(mutations, entrypoint=entrypoint, env=(*env, *mutations.env))


def merge_annotations(own: Mapping[str, str], contributed: Sequence[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    """The target's annotations plus each contributor's (named by the first item of each pair).
    A key set twice is an AnnotationConflict naming both sources, never a silent override."""
    merged = dict(own)
    source = {key: "the `annotations` field" for key in own}
    for name, theirs in contributed:
        for key, value in theirs.items():
            if key in merged:
                raise AnnotationConflict(f"annotation {key!r} is set by {source[key]} and by {name}")
            merged[key] = value
            source[key] = name
    return merged


def compose_images(
    platforms: Sequence[Platform],
    base_images: Sequence[PlatformImage],
    layers: Sequence[Layer] | Mapping[Platform, Sequence[Layer]],
    mutations: ConfigMutations,
    created: str,
    annotations: Mapping[str, str],
) -> tuple[tuple[PlatformImage, ...], Blob | None]:
    """One image per platform on the base's image for that platform (none for scratch), and an
    index when there are several. BasePlatformError when the base lacks a platform. `layers`
    are the same for every platform, or given per platform (Debian packages differ by
    architecture)."""
    per_platform = layers if isinstance(layers, Mapping) else {p: layers for p in platforms}
    bases: Sequence[PlatformImage | None] = (
        base_image_per_platform(platforms, base_images) if base_images else [None] * len(platforms)
    )
    images = tuple(
        build_platform_image(
            platform,
            base,
            json.loads(base.config.data) if base else None,
            per_platform[platform],
            mutations,
            created,
            annotations,
        )
        for platform, base in zip(platforms, bases)
    )
    index = build_index(images, annotations) if len(images) > 1 else None
    return images, index
