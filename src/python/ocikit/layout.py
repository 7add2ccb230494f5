"""OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/<hex>`): the one
place that reads and writes them, as go-containerregistry's layout.Path.

Reading (`read_layout_image`) gives what a push sends: the manifests, verified byte for byte,
and the config and layer files, checked for presence and size (a registry verifies their
digests when each upload is committed). `LayoutWriter` builds a new layout next to its target
and puts it in place whole, or leaves nothing. `blob_path`, `OCI_LAYOUT_BYTES`,
`layout_index` and `index_json` are the pure parts the Pants plugin writes layouts with.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.digest import hex_of, is_digest, sha256_digest
from ocikit.errors import OcikitError

if TYPE_CHECKING:
    from ocikit.image import Descriptor

OCI_LAYOUT_BYTES = canonical_json({"imageLayoutVersion": media_types.OCI_LAYOUT_VERSION})

_MAX_MANIFEST_BYTES = 4 << 20


class LayoutError(OcikitError, ValueError):
    """The directory is not a usable OCI image layout."""


def blob_path(digest: str) -> str:
    """Where a blob lives inside a layout: blobs/sha256/<hex>."""
    return f"blobs/sha256/{hex_of(digest)}"


def index_json(entries: Sequence[Mapping[str, Any]]) -> bytes:
    """A layout's index.json listing `entries` (descriptors as JSON objects) in order."""
    return canonical_json({"schemaVersion": 2, "mediaType": media_types.OCI_INDEX, "manifests": list(entries)})


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
    return index_json(entries)


# -- reading ------------------------------------------------------------------------------


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
    """The one image `layout_dir` holds. index.json may list it several times (one entry per
    tag, all with the same digest): an image manifest, or an index whose children are there too."""
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
        return os.path.join(self.layout_dir, blob_path(digest))

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
            raise LayoutError(
                f"{self.layout_dir}: {referrer} says manifest {digest} has {size} bytes, it has {len(data)}"
            )
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
                self.visit(
                    str(child.get("digest")), child.get("mediaType"), int(child.get("size", -1)), f"index {digest}"
                )
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


# -- writing ------------------------------------------------------------------------------


class LayoutWriter:
    """A new layout for `target`, written in a temporary directory beside it.

        with LayoutWriter("base.oci") as layout:
            layout.write_blob(digest, manifest_bytes)
            client.fetch_blob(digest, layout.blob_file(digest))
            layout.commit([descriptor_json, ...])

    `commit` writes `oci-layout` and index.json and renames the whole into place, replacing an
    existing layout (or an empty directory) and refusing anything else, checked both on entry,
    before any work, and at commit. Leaving the block without a commit removes what was written.
    """

    def __init__(self, target: str) -> None:
        self.target = os.path.abspath(target)
        self._tmp = ""

    def __enter__(self) -> LayoutWriter:
        _check_replaceable(self.target)
        parent = os.path.dirname(self.target)
        os.makedirs(parent, exist_ok=True)
        self._tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self.target)}.tmp-", dir=parent)
        os.makedirs(os.path.join(self._tmp, "blobs", "sha256"))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = ""

    def blob_file(self, digest: str) -> str:
        """The file to write the blob `digest` into (its directory exists)."""
        if not self._tmp:
            raise RuntimeError("LayoutWriter used outside its `with` block or after commit")
        return os.path.join(self._tmp, blob_path(digest))

    def write_blob(self, digest: str, data: bytes) -> None:
        """Store `data`, exactly these bytes, as the blob `digest` (which they must hash to)."""
        if sha256_digest(data) != digest:
            raise LayoutError(
                f"blob {digest} cannot be written to {self.target}: its bytes hash to {sha256_digest(data)}"
            )
        with open(self.blob_file(digest), "wb") as f:
            f.write(data)

    def commit(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Write index.json listing `entries` and `oci-layout`, then replace the target."""
        if not self._tmp:
            raise RuntimeError("LayoutWriter used outside its `with` block or after commit")
        with open(os.path.join(self._tmp, "oci-layout"), "wb") as f:
            f.write(OCI_LAYOUT_BYTES)
        with open(os.path.join(self._tmp, "index.json"), "wb") as f:
            f.write(index_json(entries))
        _replace_dir(self._tmp, self.target)
        self._tmp = ""


def _check_replaceable(target: str) -> None:
    if os.path.lexists(target) and (
        not os.path.isdir(target) or (os.listdir(target) and not os.path.exists(os.path.join(target, "oci-layout")))
    ):
        raise FileExistsError(f"{target} exists and is not an OCI image layout; refusing to replace it")


def _replace_dir(new: str, target: str) -> None:
    _check_replaceable(target)
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=os.path.dirname(target))
    moved = os.path.join(old, "layout")
    os.rename(target, moved)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(moved, target)  # the old layout back in place; if that fails too, it stays in `old`
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)
