"""OCI image layout directories: `oci-layout`, `index.json`, `blobs/sha256/<hex>`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.digest import hex_of
from ocikit.image import Descriptor

OCI_LAYOUT_BYTES = canonical_json({"imageLayoutVersion": media_types.OCI_LAYOUT_VERSION})


def blob_path(digest: str) -> str:
    """Where a blob lives inside a layout: blobs/sha256/<hex>."""
    return f"blobs/sha256/{hex_of(digest)}"


def layout_index(top: Descriptor, tags: Sequence[str], repository: str | None) -> bytes:
    """The layout's index.json: one entry per tag, each naming `top` (a manifest or an index).

    `org.opencontainers.image.ref.name` holds the tag, which is what `skopeo oci:DIR:TAG` and
    `umoci --image DIR:TAG` select by; containerd's `io.containerd.image.name` holds repo:tag.
    """
    entries: list[dict[str, Any]] = []
    for tag in tags or ():
        annotations = {media_types.REF_NAME: tag}
        if repository:
            annotations[media_types.CONTAINERD_IMAGE_NAME] = f"{repository}:{tag}"
        entries.append({**top.to_json(), "annotations": annotations})
    if not entries:
        entries.append(top.to_json())
    return canonical_json(
        {"schemaVersion": 2, "mediaType": media_types.OCI_INDEX, "manifests": entries}
    )


@dataclass(frozen=True)
class LayoutImage:
    """What a layout directory holds at its top: the descriptor named by index.json and tags."""

    top: Descriptor
    tags: tuple[str, ...]


def read_layout(path: str) -> LayoutImage:
    with open(os.path.join(path, "index.json"), "rb") as f:
        index = json.load(f)
    descriptors = [Descriptor.from_json(m) for m in index.get("manifests", [])]
    if not descriptors:
        raise ValueError(f"{path}/index.json lists no manifests")
    digests = {d.digest for d in descriptors}
    if len(digests) != 1:
        raise ValueError(f"{path}/index.json names several images ({sorted(digests)}); expected one")
    tags = tuple(dict(d.annotations).get(media_types.REF_NAME, "") for d in descriptors)
    first = descriptors[0]
    return LayoutImage(Descriptor(first.media_type, first.digest, first.size), tuple(t for t in tags if t))


def read_blob(path: str, digest: str) -> bytes:
    with open(os.path.join(path, blob_path(digest)), "rb") as f:
        return f.read()
