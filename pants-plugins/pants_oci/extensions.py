"""Extension points: how another backend adds to `oci_image` without editing its rules.

All are unions, like Pants' own `DockerImageTagsRequest`: subclass the request, register it
with `UnionRule`, and write a rule from your subclass to the result type.

    class SbomRequest(OciImageExtensionRequest):
        pass

    @rule
    async def sbom_layer(request: SbomRequest) -> OciImageExtension:
        ...

    def rules():
        return [*collect_rules(), UnionRule(OciImageExtensionRequest, SbomRequest)]
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.environment import EnvironmentName
from pants.engine.fs import EMPTY_DIGEST, Digest
from pants.engine.target import Target
from pants.engine.unions import union
from pants.util.frozendict import FrozenDict

from ocikit.image import Platform, PlatformImage
from ocikit.sbom.model import SbomPackage
from pants_oci.util_rules.layers import BuiltOciLayer
from pants_oci.util_rules.settings import LayerCompression


@union(in_scope_types=[EnvironmentName])
@dataclass(frozen=True)
class OciLayersRequest:
    """Turns a target listed in an image's `layers` field into image layers.

    `oci_layer` targets are built in; an implementation makes another target type acceptable
    there (the first whose `is_applicable` says yes is used). Layers must be built with
    `compression`, which the image decides; `platforms` (the image's) and `base_images` (one per
    platform, none for scratch) let an implementation check what it needs, e.g. the base's
    Python version. They are built before the image's `oci_layer`s, whose shards fit in the
    layer budget their count leaves (`pants_oci.shards`)."""

    target: Target
    compression: LayerCompression
    base_images: tuple[PlatformImage, ...] = ()
    platforms: tuple[Platform, ...] = ()

    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        raise NotImplementedError(f"{cls.__name__} must say which targets it turns into layers")


@dataclass(frozen=True)
class OciLayers:
    """The layers, and config defaults the image takes where it sets none itself: the
    `entrypoint` when the image has no `entrypoint` field (two different ones are an error),
    and `env` entries under the image's own `env`. Layers that differ by platform (Debian
    packages of each architecture) go in `platform_layers` instead, one entry for each of the
    request's `platforms`."""

    layers: tuple[BuiltOciLayer, ...]
    entrypoint: tuple[str, ...] | None = None
    env: FrozenDict[str, str] = FrozenDict()
    platform_layers: FrozenDict[Platform, tuple[BuiltOciLayer, ...]] = FrozenDict()

    def for_platform(self, platform: Platform) -> tuple[BuiltOciLayer, ...]:
        return self.platform_layers[platform] if self.platform_layers else self.layers

    @property
    def most_layers(self) -> int:
        """The layer count of the platform with the most (for the image's layer budget)."""
        return max((len(v) for v in self.platform_layers.values()), default=len(self.layers))


@union(in_scope_types=[EnvironmentName])
@dataclass(frozen=True)
class OciImageExtensionRequest:
    """Adds layers and manifest annotations to each `oci_image` it applies to.

    Every applicable implementation runs; their layers go after the image's own (in the order
    of the implementations' class names, so the result never depends on registration order),
    and their annotations are merged into the manifest's. An annotation key set twice (by the
    target and an extension, or by two extensions) is an error. Their layers count in the
    image's layer budget, like those of `OciLayersRequest`."""

    target: Target  # the oci_image
    compression: LayerCompression

    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return True


@dataclass(frozen=True)
class OciImageExtension:
    layers: tuple[BuiltOciLayer, ...] = ()
    annotations: FrozenDict[str, str] = FrozenDict()


@union(in_scope_types=[EnvironmentName])
@dataclass(frozen=True)
class OciPackageOutputsRequest:
    """Adds files that `pants package` writes next to an image's layout (an SBOM, provenance):
    they never change a layer or the image's digest.

    Every applicable implementation runs (in the order of their class names), while the image
    builds: one that needs the built image asks for it (`Get(BuiltOciImage,
    OciImageRequest(target.address))`, the image build's own, memoized) after starting what does
    not. Each returns its files at their paths below `dist/`, named after `output_path` (the
    layout directory's path, e.g. `f"{output_path}.spdx.json"`). Two implementations writing
    one path is an error."""

    target: Target  # the oci_image
    output_path: str  # the layout directory, relative to dist/

    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return True


@dataclass(frozen=True)
class OciPackageOutputs:
    digest: Digest = EMPTY_DIGEST  # the files, at their paths below dist/
    paths: tuple[str, ...] = ()  # the files it holds, for the `package` log


@union(in_scope_types=[EnvironmentName])
@dataclass(frozen=True)
class OciSbomContentsRequest:
    """What the layers another backend builds from a target in an image's `layers` hold, for the
    image's SBOM: the counterpart of `OciLayersRequest` (the first implementation whose
    `is_applicable` says yes is used; a target with none adds nothing to the SBOM)."""

    target: Target

    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        raise NotImplementedError(f"{cls.__name__} must say which targets it describes")


@dataclass(frozen=True)
class OciSbomContents:
    """First-party files, at their paths in the image without the leading `/`, each with the
    address that contributed it (`owners`), and the third-party packages the layers install."""

    files: Digest = EMPTY_DIGEST
    owners: FrozenDict[str, str] = FrozenDict()  # path in `files` -> a Pants address
    packages: tuple[SbomPackage, ...] = ()
