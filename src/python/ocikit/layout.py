"""OCI image layout directories: `oci-layout`, `index.json`, `blobs/sha256/<hex>`."""

from __future__ import annotations

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

