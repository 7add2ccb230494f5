"""Refresh the base-image lockfile from the registries: what each tracked tag names now.

The steps: for each reference the build tracks, ask its registry what the tag names (unless
only some entries are refreshed and this is not one of them), read the manifest each platform
built on it uses, and compare with the old entry. Entries no build tracks any more go; a tag
the registry no longer has keeps its old entry, with a warning saying whether the pinned
digest is still there. Any other registry failure fails the whole refresh (nothing written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ocikit import media_types
from ocikit.contracts.lockfile import TrackedImage
from ocikit.errors import OcikitError
from ocikit.image import Platform, PlatformError, select_index_entry, select_platform
from ocikit.lockfile import BaseImageLock, LockEntry, lock_key, new_lock
from ocikit.reference import Reference, parse_reference
from ocikit.registry.auth import Keychain
from ocikit.registry.client import ManifestInfo, RepositoryClient
from ocikit.registry.errors import NotFoundError
from ocikit.registry.pull import open_repository


class RefreshError(OcikitError, ValueError):
    """The refresh cannot give a complete lockfile; nothing is written."""


@dataclass(frozen=True)
class EntryChange:
    reference: str
    status: str  # added, updated, unchanged, kept, removed
    old: Optional[str] = None
    new: Optional[str] = None
    note: str = ""

    def format_text(self) -> str:
        """`updated   REF  sha256:old -> sha256:new`; one digest when it did not move."""
        moved = self.new if self.old == self.new else f"{self.old or '(none)'} -> {self.new or '(removed)'}"
        return f"{self.status:<9} {self.reference}  {moved}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class RefreshResult:
    lock: BaseImageLock
    changes: tuple[EntryChange, ...]
    warnings: tuple[str, ...]


class RegistryImages:
    """Manifests by tag or digest, one client per repository."""

    def __init__(self, insecure_registries: Iterable[str] = (), keychain: Optional[Keychain] = None) -> None:
        self._insecure = tuple(insecure_registries)
        self._keychain = keychain
        self._clients: dict[str, RepositoryClient] = {}

    def _client(self, ref: Reference) -> RepositoryClient:
        if ref.name not in self._clients:
            self._clients[ref.name] = open_repository(ref, insecure_registries=self._insecure, keychain=self._keychain)
        return self._clients[ref.name]

    def manifest(self, ref: Reference, identifier: str) -> Optional[ManifestInfo]:
        """The manifest a tag or digest names, with its bytes; None if the registry lacks it."""
        try:
            return self._client(ref).get_manifest(identifier)
        except NotFoundError:
            return None

    def config_platform(self, ref: Reference, manifest: ManifestInfo) -> Platform:
        config = (json.loads(manifest.data or b"{}").get("config") or {}).get("digest")
        return Platform.from_json(json.loads(self._client(ref).fetch_blob_bytes(str(config))))

    def close(self) -> None:
        for client in self._clients.values():
            client.transport.close()


def lock_entry(
    images: RegistryImages, ref: Reference, top: ManifestInfo, platforms: Sequence[str]
) -> tuple[LockEntry, list[str]]:
    """The entry for `top` (what `ref` names): the manifest each of `platforms` would build on,
    and warnings for the platforms it lacks (builds for those fail, naming what it has)."""
    chosen: dict[str, str] = {}
    warnings = []
    what = f"{ref.name}@{top.digest}"
    if top.media_type in media_types.INDEX_TYPES:
        index = json.loads(top.data or b"{}")
        for wanted in platforms:
            try:
                entry, have = select_index_entry(index, Platform.parse(wanted), what)
            except PlatformError as e:
                warnings.append(f"{lock_key(ref)}: {e}")
                continue
            chosen[str(have)] = str(entry["digest"])
    else:
        have = images.config_platform(ref, top)
        chosen[str(have)] = top.digest
        for wanted in platforms:
            if select_platform(Platform.parse(wanted), [have]) is None:
                warnings.append(f"{lock_key(ref)}: {what} is a single {have} image, not {wanted}")
    return LockEntry(lock_key(ref), top.digest, top.media_type, tuple(sorted(chosen.items()))), warnings


def _records_platforms(entry: LockEntry, platforms: Sequence[str]) -> bool:
    """Does `entry` record exactly the manifests `platforms` build on (so nothing to fetch)?"""
    if not entry.is_index:
        return True  # a single manifest records its own platform whatever builds on it
    recorded = [Platform.parse(p) for p, _ in entry.platforms]
    picked = {select_platform(Platform.parse(p), recorded) for p in platforms}
    return None not in picked and picked == set(range(len(recorded)))


def refresh_lock(
    old: BaseImageLock, tracked: Sequence[TrackedImage], images: RegistryImages, only: Optional[Sequence[str]] = None
) -> RefreshResult:
    """The new lock: every tracked reference resolved (with `only`, just those and new ones;
    the others keep their digest), untracked entries removed."""
    wanted = {t.reference: t for t in tracked}
    selected = None if only is None else {lock_key(parse_reference(o)) for o in only}
    unknown = sorted((selected or set()) - set(wanted))
    if unknown:
        raise RefreshError(
            f"asked to refresh {', '.join(unknown)}, which no oci_pull tracks; tracked: "
            f"{', '.join(sorted(wanted)) or '(none)'}"
        )
    entries, changes, warnings = [], [], []
    for key in sorted(wanted):
        request, previous = wanted[key], old.get(parse_reference(key))
        if previous is not None and selected is not None and key not in selected:
            entry, notes = _keep(images, previous, request)
            change = EntryChange(key, "unchanged", previous.digest, entry.digest, "not refreshed")
        else:
            entry, change, notes = _resolve(images, previous, request)
        entries.append(entry)
        changes.append(change)
        warnings += notes
    for gone in old.entries:
        if gone.reference not in wanted:
            changes.append(EntryChange(gone.reference, "removed", gone.digest, None, "no oci_pull tracks it"))
    return RefreshResult(new_lock(entries), tuple(sorted(changes, key=lambda c: c.reference)), tuple(warnings))


def _keep(images: RegistryImages, previous: LockEntry, request: TrackedImage) -> tuple[LockEntry, list[str]]:
    """An entry that is not refreshed: its digest stays; its platforms are read from that
    digest (never from the tag) when the builds now use other ones."""
    if _records_platforms(previous, request.platforms):
        return previous, []
    ref = parse_reference(previous.reference)
    top = images.manifest(ref, previous.digest)
    if top is None:
        return previous, [
            f"{previous.reference}: the registry no longer has {previous.digest}; its platforms could not be updated"
        ]
    return lock_entry(images, ref, top, request.platforms)


def _resolve(
    images: RegistryImages, previous: Optional[LockEntry], request: TrackedImage
) -> tuple[LockEntry, EntryChange, list[str]]:
    ref = parse_reference(request.reference)
    assert ref.tag
    top = images.manifest(ref, ref.tag)
    if top is None:
        users = f" (used by {', '.join(request.users)})" if request.users else ""
        if previous is None:
            raise RefreshError(f"{request.reference}{users}: the registry has no such tag; check the reference")
        if images.manifest(ref, previous.digest) is not None:
            note = f"the registry no longer has the tag; it still has {previous.digest}"
        else:
            note = (
                f"the registry has neither the tag nor {previous.digest}: builds that are not "
                "cached will fail to pull it; point the oci_pull at a tag that exists"
            )
        warning = f"{request.reference}{users}: {note}; keeping the old entry"
        return previous, EntryChange(request.reference, "kept", previous.digest, previous.digest, note), [warning]
    entry, warnings = lock_entry(images, ref, top, request.platforms)
    if previous is None:
        change = EntryChange(request.reference, "added", None, entry.digest)
    elif previous.digest == entry.digest:
        note = "platforms updated" if previous != entry else ""
        change = EntryChange(request.reference, "unchanged", previous.digest, entry.digest, note)
    else:
        change = EntryChange(request.reference, "updated", previous.digest, entry.digest)
    return entry, change, warnings
