"""What a push sends, read from an OCI image layout: the manifests, configs and layers.

index.json names one image (several entries allowed, one per tag, all with the same digest):
an image manifest, or an index whose child manifests are in the layout too. Manifest bytes are
read and verified here; config and layer blobs are checked for presence and size (the registry
verifies their digests when each upload is committed).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from ocikit import media_types
from ocikit.digest import is_digest, sha256_digest

_MAX_MANIFEST_BYTES = 4 << 20


class LayoutError(ValueError):
    """The directory is not a usable OCI image layout."""


@dataclass(frozen=True)
class LayoutBlob:
    digest: str
    size: int
    media_type: str
    path: str


@dataclass(frozen=True)
class LayoutManifest:
    digest: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class LayoutImage:
    """The image a layout holds. `manifests` lists children before their index; the top last."""

    digest: str
    media_type: str
    manifests: tuple[LayoutManifest, ...]
    configs: tuple[LayoutBlob, ...]
    layers: tuple[LayoutBlob, ...]

    @property
    def top(self) -> LayoutManifest:
        return self.manifests[-1]


def read_layout_image(layout_dir: str) -> LayoutImage:
    if not os.path.isdir(layout_dir):
        raise LayoutError(f"{layout_dir} is not a directory (expected an OCI image layout)")
    marker = os.path.join(layout_dir, "oci-layout")
    if not os.path.isfile(marker):
        raise LayoutError(f"{layout_dir} is not an OCI image layout: it has no 'oci-layout' file")
    index = _read_json(os.path.join(layout_dir, "index.json"), layout_dir)
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise LayoutError(f"{layout_dir}/index.json lists no manifests")
    digests = {e.get("digest") for e in entries if isinstance(e, dict)}
    if len(digests) != 1 or len(entries) != sum(isinstance(e, dict) for e in entries):
        raise LayoutError(
            f"{layout_dir}/index.json names {len(digests)} different images ({', '.join(sorted(map(str, digests)))}); "
            "ocikit pushes a layout that names exactly one (one entry per tag)"
        )
    top = entries[0]
    reader = _Reader(layout_dir)
    reader.visit(str(top.get("digest")), top.get("mediaType"), int(top.get("size", -1)), "index.json")
    return LayoutImage(
        digest=reader.manifests[-1].digest,
        media_type=reader.manifests[-1].media_type,
        manifests=tuple(reader.manifests),
        configs=tuple(reader.configs.values()),
        layers=tuple(reader.layers.values()),
    )


class _Reader:
    def __init__(self, layout_dir: str) -> None:
        self.layout_dir = layout_dir
        self.manifests: list[LayoutManifest] = []
        self.seen: set[str] = set()
        self.configs: dict[str, LayoutBlob] = {}
        self.layers: dict[str, LayoutBlob] = {}

    def blob_path(self, digest: str, referrer: str) -> str:
        if not is_digest(digest):
            raise LayoutError(f"{self.layout_dir}: {referrer} names an invalid digest {digest!r}")
        return os.path.join(self.layout_dir, "blobs", "sha256", digest.split(":", 1)[1])

    def visit(self, digest: str, media_type: Optional[str], size: int, referrer: str) -> None:
        if digest in self.seen:
            return
        path = self.blob_path(digest, referrer)
        if not os.path.isfile(path):
            raise LayoutError(f"{self.layout_dir} misses blob {digest} (the manifest named by {referrer})")
        if os.path.getsize(path) > _MAX_MANIFEST_BYTES:
            raise LayoutError(f"{self.layout_dir}: manifest {digest} is larger than {_MAX_MANIFEST_BYTES} bytes")
        with open(path, "rb") as f:
            data = f.read()
        if sha256_digest(data) != digest:
            raise LayoutError(f"{self.layout_dir}: blob {digest} does not match its digest (corrupted layout?)")
        if size >= 0 and size != len(data):
            raise LayoutError(f"{self.layout_dir}: {referrer} says manifest {digest} has {size} bytes, it has {len(data)}")
        try:
            value = json.loads(data)
        except ValueError:
            raise LayoutError(f"{self.layout_dir}: manifest {digest} is not JSON") from None
        own_type = value.get("mediaType") if isinstance(value, dict) else None
        media_type = media_type or own_type
        if own_type and media_type != own_type:
            raise LayoutError(
                f"{self.layout_dir}: {referrer} says {digest} is {media_type} but it says it is {own_type}"
            )
        if media_type in media_types.INDEX_TYPES:
            for child in value.get("manifests") or []:
                self.visit(str(child.get("digest")), child.get("mediaType"), int(child.get("size", -1)),
                           f"index {digest}")
        elif media_type in media_types.MANIFEST_TYPES:
            config = value.get("config") or {}
            self.add_blob(self.configs, config, f"config of manifest {digest}")
            for layer in value.get("layers") or []:
                self.add_blob(self.layers, layer, f"layer of manifest {digest}")
        else:
            raise LayoutError(
                f"{self.layout_dir}: {referrer} names {digest} with media type {media_type!r}; expected "
                f"one of {', '.join(media_types.MANIFEST_TYPES + media_types.INDEX_TYPES)}"
            )
        self.seen.add(digest)
        self.manifests.append(LayoutManifest(digest, str(media_type), data))

    def add_blob(self, into: dict[str, LayoutBlob], descriptor: Any, what: str) -> None:
        if not isinstance(descriptor, dict):
            raise LayoutError(f"{self.layout_dir}: the {what} is not a descriptor")
        digest, size = str(descriptor.get("digest")), int(descriptor.get("size", -1))
        path = self.blob_path(digest, what)
        if not os.path.isfile(path):
            if descriptor.get("urls"):
                return  # a foreign / non-distributable layer: the registry is not given it
            raise LayoutError(f"{self.layout_dir} misses blob {digest} (the {what})")
        actual = os.path.getsize(path)
        if actual != size:
            raise LayoutError(f"{self.layout_dir}: the {what} says {digest} has {size} bytes; the file has {actual}")
        into.setdefault(digest, LayoutBlob(digest, size, str(descriptor.get("mediaType") or ""), path))


def _read_json(path: str, layout_dir: str) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise LayoutError(f"{layout_dir} is not an OCI image layout: it has no index.json") from None
    except ValueError:
        raise LayoutError(f"{path} is not valid JSON") from None
