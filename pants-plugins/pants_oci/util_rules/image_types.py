"""The request and result of building an `oci_image`, shared by the image and base rules."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import Digest
from pants.util.frozendict import FrozenDict

from ocikit.image import Blob, Descriptor, PlatformImage
from pants_oci.util_rules.layer_shards import LayerShardsRequest


@dataclass(frozen=True)
class OciImageRequest:
    address: Address


@dataclass(frozen=True)
class BuiltOciImage:
    address: Address
    images: tuple[PlatformImage, ...]
    index: Blob | None  # set when the image has several platforms
    blobs: Digest  # every blob of the image (its base's layers too) at blobs/sha256/<hex>
    mount_sources: tuple[str, ...] = ()  # registry/repository of pulled bases, for mounts
    base_repositories: tuple[str, ...] = ()  # repositories of oci_image bases (mount sources)
    # Each of its own layers' SHA1s of the files it holds, by SHA-256 (`BuiltOciLayer.file_sha1s`):
    # what its SBOM need not hash again, merged only there (sbom/files.py).
    layer_file_sha1s: tuple[FrozenDict[str, str], ...] = ()
    # How each of its `oci_layer`s (and its `dependencies` layer) was split into processes.
    layer_shards: tuple[LayerShardsRequest, ...] = ()

    @property
    def top(self) -> Descriptor:
        """What the layout's index.json names: the index, or the single manifest."""
        if self.index is not None:
            return self.index.descriptor
        manifest = self.images[0].manifest.descriptor
        return Descriptor(manifest.media_type, manifest.digest, manifest.size)
