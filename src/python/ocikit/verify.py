"""What differs between two images, layer by layer and path by path, as diffoci compares them.

The two sides are this commit's image (its packaged layout) and the image a registry tag names;
`compare_images` reads both through an `ImageSource` (`LayoutSource` here, the registry's in
ocikit.registry.verify). Each platform's manifest is matched with the other side's manifest of
the same platform; their layers are compared by position: equal digests are the same layer,
equal diff_ids (as the configs state them) the same tar compressed another way, and any other
pair is listed entry by entry (`ocikit.tar_listing`, streamed) and compared by path: type,
mode, owner, size, content sha256 and link target. Timestamps are not compared (ours are fixed;
the diff_id still tells). Differences are described from the registry's image to this commit's:
"added" means only here.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ocikit import media_types
from ocikit.contracts.verify import ADDED, CHANGED, REMOVED, LayerDifference, PathDifference
from ocikit.digest import sha256_digest
from ocikit.image import Platform
from ocikit.layout import LayoutError, blob_path
from ocikit.tar_listing import TarEntry, list_layer

Listing = Mapping[str, TarEntry]


@dataclass(frozen=True)
class LayerRef:
    digest: str
    media_type: str
    size: int
    diff_id: Optional[str]  # from the config's rootfs; None when the config lacks it


@dataclass(frozen=True)
class PlatformManifest:
    platform: str
    digest: str
    layers: Tuple[LayerRef, ...]
    config: Mapping[str, Any]


class ImageSource:
    """Where one side's manifests and blobs come from (every byte verified by the source)."""

    def manifest(self, digest: str) -> bytes:
        raise NotImplementedError

    def blob(self, digest: str) -> bytes:
        """A small blob (a config)."""
        raise NotImplementedError

    def layer_file(self, layer: LayerRef):  # a context manager giving the blob's path on disk
        raise NotImplementedError


class LayoutSource(ImageSource):
    """An OCI image layout directory (what `pants package` writes)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _read(self, digest: str) -> bytes:
        with open(os.path.join(self.directory, blob_path(digest)), "rb") as f:
            data = f.read()
        if sha256_digest(data) != digest:
            raise LayoutError(f"{self.directory}: blob {digest} does not match its digest (corrupted layout?)")
        return data

    manifest = blob = _read

    @contextmanager
    def layer_file(self, layer: LayerRef) -> Iterator[str]:
        yield os.path.join(self.directory, blob_path(layer.digest))


class OncePerKey:
    """Computes each key's value once, however many threads ask for it at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: Dict[Any, threading.Lock] = {}
        self._values: Dict[Any, Any] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]


class ListingCache(OncePerKey):
    """Each layer listed once per run, whichever destinations and threads ask for it."""

    def listing(self, source: ImageSource, layer: LayerRef) -> Listing:
        def read() -> Listing:
            with source.layer_file(layer) as path:
                return list_layer(path)

        return self.get(layer.digest, read)


# -- reading both sides ---------------------------------------------------------------------


def platform_manifests(source: ImageSource, digest: str) -> List[PlatformManifest]:
    """The image manifests `digest` names: itself, or each platform's of an index."""
    top = json.loads(source.manifest(digest))
    if top.get("mediaType") not in media_types.INDEX_TYPES and "manifests" not in top:
        return [_platform_manifest(source, digest, top, None)]
    found: List[PlatformManifest] = []
    for entry in top.get("manifests") or []:
        if entry.get("mediaType") in media_types.INDEX_TYPES:
            continue  # a nested index: not an image of a platform
        child = str(entry["digest"])
        found.append(
            _platform_manifest(source, child, json.loads(source.manifest(child)), Platform.of_index_entry(entry))
        )
    return found


def _platform_manifest(
    source: ImageSource, digest: str, manifest: Mapping[str, Any], platform: Optional[Platform]
) -> PlatformManifest:
    config = json.loads(source.blob(str(manifest["config"]["digest"])))
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    layers = tuple(
        LayerRef(
            str(layer["digest"]),
            str(layer.get("mediaType") or ""),
            int(layer.get("size") or 0),
            str(diff_ids[i]) if i < len(diff_ids) else None,
        )
        for i, layer in enumerate(manifest.get("layers") or [])
    )
    name = str(platform or Platform.from_json(config)) or "unknown"
    return PlatformManifest(name, digest, layers, config)


# -- pure comparisons -----------------------------------------------------------------------


def match_platforms(
    here: Sequence[PlatformManifest], registry: Sequence[PlatformManifest]
) -> Tuple[List[Tuple[PlatformManifest, PlatformManifest]], List[str]]:
    """Pairs of manifests to compare, and notes on the platforms only one side has. Two
    single-platform images are compared whatever their platforms (a note says when those differ)."""
    if len(here) == 1 and len(registry) == 1:
        notes = []
        if here[0].platform != registry[0].platform:
            notes.append(f"platform {here[0].platform} here, {registry[0].platform} in the registry")
        return [(here[0], registry[0])], notes
    theirs = {m.platform: m for m in registry}
    ours = {m.platform for m in here}
    pairs = [(m, theirs[m.platform]) for m in here if m.platform in theirs]
    notes = [f"platform {m.platform} only here" for m in here if m.platform not in theirs]
    notes += [f"platform {m.platform} only in the registry" for m in registry if m.platform not in ours]
    return pairs, notes


def pair_layers(
    here: PlatformManifest, registry: PlatformManifest
) -> List[Tuple[int, Optional[LayerRef], Optional[LayerRef]]]:
    """(index, here's layer, the registry's layer) for each position whose layers differ; a side
    with fewer layers has None there."""
    count = max(len(here.layers), len(registry.layers))
    pairs = []
    for i in range(count):
        ours = here.layers[i] if i < len(here.layers) else None
        theirs = registry.layers[i] if i < len(registry.layers) else None
        if ours is None or theirs is None or ours.digest != theirs.digest:
            pairs.append((i, ours, theirs))
    return pairs


def config_changes(here: Mapping[str, Any], registry: Mapping[str, Any]) -> List[str]:
    """The image config's keys that differ (`config.Env`, `created`, ...), leaving out the
    layers' own record (rootfs, history), which the layer comparison covers."""
    changed = []
    for key in sorted(set(here) | set(registry)):
        if key in ("rootfs", "history", "config"):
            continue
        if here.get(key) != registry.get(key):
            changed.append(key)
    ours, theirs = here.get("config") or {}, registry.get("config") or {}
    changed += [f"config.{k}" for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    return changed


def diff_listings(registry: Listing, here: Listing) -> List[PathDifference]:
    """Every path whose entry differs, sorted by path."""
    out = []
    for path in sorted(set(registry) | set(here)):
        old, new = registry.get(path), here.get(path)
        if old is None:
            out.append(PathDifference(path, ADDED, describe_entry(new)))  # type: ignore[arg-type]
        elif new is None:
            out.append(PathDifference(path, REMOVED, describe_entry(old)))
        else:
            changes = entry_changes(old, new)
            if changes:
                out.append(PathDifference(path, CHANGED, ", ".join(changes)))
    return out


def entry_changes(old: TarEntry, new: TarEntry) -> List[str]:
    """What changed between two entries of one path, each as `what old -> new`."""
    if old.kind != new.kind:
        return [f"type {old.kind} -> {new.kind}"]
    changes = []
    if old.sha256 != new.sha256 or old.size != new.size:
        changes.append(
            f"content ({old.size} -> {new.size} bytes)"
            if old.size != new.size
            else f"content (same size, {old.size} bytes)"
        )
    if old.linkname != new.linkname:
        changes.append(f"link {old.linkname} -> {new.linkname}")
    if old.mode != new.mode:
        changes.append(f"mode {old.mode:04o} -> {new.mode:04o}")
    if (old.uid, old.gid) != (new.uid, new.gid):
        changes.append(f"owner {old.uid}:{old.gid} -> {new.uid}:{new.gid}")
    return changes


def describe_entry(entry: TarEntry) -> str:
    what = entry.kind
    if entry.kind == "file":
        what += f", {entry.size} bytes"
    elif entry.linkname:
        what += f" -> {entry.linkname}"
    name = os.path.basename(entry.path)
    whiteout = f", whiteout of {name[len('.wh.') :]}" if name.startswith(".wh.") and name != ".wh..wh..opq" else ""
    return f"{what}, mode {entry.mode:04o}, owner {entry.uid}:{entry.gid}{whiteout}"


# -- the comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageComparison:
    notes: Tuple[str, ...]
    layers: Tuple[LayerDifference, ...]


def compare_images(
    here: ImageSource,
    here_digest: str,
    registry: ImageSource,
    registry_digest: str,
    *,
    listings: ListingCache,
    max_paths: int = 20,
    describe: Callable[[BaseException], str] = str,
) -> ImageComparison:
    """What differs between the two images, platform by platform. A layer that cannot be
    listed (not a tar, or its fetch failed) is reported with `describe(error)` and no paths."""
    pairs, notes = match_platforms(platform_manifests(here, here_digest), platform_manifests(registry, registry_digest))
    layers: List[LayerDifference] = []
    for ours, theirs in pairs:
        changed = config_changes(ours.config, theirs.config)
        if changed:
            notes.append(f"{ours.platform}: config differs: {', '.join(changed)}")
        for index, our_layer, their_layer in pair_layers(ours, theirs):
            layers.append(
                _layer_difference(
                    ours.platform, index, (here, our_layer), (registry, their_layer), listings, max_paths, describe
                )
            )
    if not layers and not notes:
        notes.append("layers and config are the same: the manifests differ (annotations, media types or encoding)")
    return ImageComparison(tuple(notes), tuple(layers))


def _layer_difference(
    platform: str,
    index: int,
    ours: Tuple[ImageSource, Optional[LayerRef]],
    theirs: Tuple[ImageSource, Optional[LayerRef]],
    listings: ListingCache,
    max_paths: int,
    describe: Callable[[BaseException], str],
) -> LayerDifference:
    (here, our_layer), (registry, their_layer) = ours, theirs
    base = LayerDifference(
        index,
        platform,
        "",
        here_digest=our_layer.digest if our_layer else None,
        here_diff_id=our_layer.diff_id if our_layer else None,
        registry_digest=their_layer.digest if their_layer else None,
        registry_diff_id=their_layer.diff_id if their_layer else None,
    )
    # The registry config's diff_id is its claim, not checked here: the verdict is "differs"
    # either way, and checking it would mean fetching a layer only to explain the difference.
    if our_layer and their_layer and our_layer.diff_id and our_layer.diff_id == their_layer.diff_id:
        return replace(
            base,
            summary=f"same diff_id, compressed differently ({_kind(their_layer)} in the "
            f"registry, {_kind(our_layer)} here)",
        )
    try:
        old = listings.listing(registry, their_layer) if their_layer else {}
        new = listings.listing(here, our_layer) if our_layer else {}
    except Exception as e:  # noqa: BLE001 - one unreadable layer must not hide the others
        return replace(base, summary=f"paths not compared: {describe(e)}")
    paths = diff_listings(old, new)
    if their_layer is None:
        summary = "only here"
    elif our_layer is None:
        summary = "only in the registry"
    elif paths:
        summary = "1 path differs" if len(paths) == 1 else f"{len(paths)} paths differ"
    else:
        summary = "same entries: the tars differ in what is not compared (timestamps, order, tar format)"
    limit = max(0, max_paths)
    return replace(base, summary=summary, paths=tuple(paths[:limit]), more_paths=max(0, len(paths) - limit))


def _kind(layer: LayerRef) -> str:
    media_type = layer.media_type
    for suffix, name in (("zstd", "zstd"), ("gzip", "gzip"), ("tar", "uncompressed")):
        if media_type.endswith(suffix):
            return name
    return media_type or "unknown media type"
