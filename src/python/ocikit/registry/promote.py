"""Promotion: copy an image a registry holds to other repositories and registries, unchanged.

The source is named by digest (`registry/repository@sha256:...`): exactly those bytes are
copied, never a rebuild. For an index, the index and every platform's manifest; for each of
them, its cosign attachments (`sha256-<hex>.sig`, `.att`, `.sbom` tags) with their blobs. The
manifests are sent with the bytes the source served, so the digest at every destination is the
source's. Blobs a destination holds are skipped; on the source's own registry they are mounted
across repositories; otherwise each is fetched once into a temporary file (its sha256 checked as
it streams in) and uploaded from there, resumably when the session keeps an upload journal.

Order at each destination, as for a push: blobs, manifests by digest (children before their
index), attachments, our own signature when the session signs, then the tags.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Sequence, Union

from ocikit import media_types
from ocikit.errors import OcikitError
from ocikit.reference import Reference, parse_reference
from ocikit.registry.client import ManifestInfo, RepositoryClient
from ocikit.registry.concurrency import run_concurrently
from ocikit.registry.errors import AccessDeniedError, AuthenticationError, RegistryError, describe_error
from ocikit.registry.push import (
    PushedImage,
    PushSession,
    PushSummary,
    plan_destinations,
    put_manifests_by_digest,
    sign_manifests,
)
from ocikit.registry.push_stats import Counters, PushStats
from ocikit.registry.upload import upload_blob
from ocikit.signing.cosign import signature_tag

log = logging.getLogger(__name__)

ATTACHMENT_SUFFIXES = ("sig", "att", "sbom")
_MAX_DEPTH = 2  # an index of indexes, at most


class PromotionError(OcikitError):
    """A promotion that cannot be done as asked: an unpinned source, a digest the source lacks,
    a destination refusing an attachment tag."""


@dataclass(frozen=True)
class SourceImage:
    """What a promotion copies: the manifests (children first, the top last), the attachment
    manifests by tag, and every blob they name, by digest with its size."""

    reference: Reference
    manifests: tuple[ManifestInfo, ...]
    attachments: tuple[tuple[str, ManifestInfo], ...]
    blobs: tuple[tuple[str, int], ...]

    @property
    def top(self) -> ManifestInfo:
        return self.manifests[-1]


def pinned_source(source: Union[str, Reference]) -> Reference:
    ref = source if isinstance(source, Reference) else parse_reference(source)
    if not ref.digest:
        raise PromotionError(
            f"the source {ref} is not pinned by digest: promote "
            f"{ref.name}@sha256:<64 hex digits> (a tag can move between test and release)"
        )
    return ref


def read_source(client: RepositoryClient, ref: Reference) -> SourceImage:
    """Read the manifests and attachments to copy; a digest the source lacks is an error."""
    assert ref.digest
    if client.head_manifest(ref.digest) is None:
        raise PromotionError(
            f"{client.name} has no manifest {ref.digest}: the digest to promote must be one the source serves"
        )
    manifests = _manifest_tree(client, client.get_manifest(ref.digest), 0)
    attachments = []
    for manifest in manifests:
        for suffix in ATTACHMENT_SUFFIXES:
            tag = signature_tag(manifest.digest, suffix)
            if client.head_manifest(tag) is not None:
                attachments.append((tag, client.get_manifest(tag)))
    blobs: dict[str, int] = {}
    for manifest in [*manifests, *(m for _, m in attachments)]:
        blobs.update(_blobs_of(manifest))
    return SourceImage(ref, tuple(manifests), tuple(attachments), tuple(blobs.items()))


def _manifest_tree(client: RepositoryClient, manifest: ManifestInfo, depth: int) -> list[ManifestInfo]:
    if manifest.media_type not in media_types.INDEX_TYPES:
        return [manifest]
    out: list[ManifestInfo] = []
    for entry in json.loads(manifest.data or b"{}").get("manifests") or []:
        digest = str(entry["digest"])
        if client.head_manifest(digest) is None:
            raise PromotionError(
                f"{client.name}@{manifest.digest} names {digest}, which {client.name} lacks: "
                "an index is promoted with all of its manifests or not at all"
            )
        child = client.get_manifest(digest)
        if child.media_type in media_types.INDEX_TYPES and depth >= _MAX_DEPTH:
            raise PromotionError(f"{client.name}@{manifest.digest} nests indexes deeper than {_MAX_DEPTH}")
        out.extend(_manifest_tree(client, child, depth + 1))
    return [*out, manifest]


def _blobs_of(manifest: ManifestInfo) -> dict[str, int]:
    if manifest.media_type in media_types.INDEX_TYPES:
        return {}
    value = json.loads(manifest.data or b"{}")
    found = {}
    for descriptor in [value.get("config") or {}, *(value.get("layers") or [])]:
        if "digest" not in descriptor:
            continue
        if descriptor.get("urls") and "nondistributable" in str(descriptor.get("mediaType")):
            continue  # a foreign layer: fetched from its URLs by whoever pulls it, never copied
        found[str(descriptor["digest"])] = int(descriptor["size"])
    return found


def promote_image(
    session: PushSession, source: Union[str, Reference], destinations: Sequence[Union[str, Reference]]
) -> PushSummary:
    """Copy the image `source` names by digest to every destination (`registry/repo[:tag]`)."""
    started = time.monotonic()
    ref = pinned_source(source)
    plan = plan_destinations(ref.digest or "", destinations, "the source is")
    source_client = RepositoryClient(session.registry(ref.registry).transport, ref.repository)
    image = read_source(source_client, ref)
    counters = Counters()
    pushed = []
    with tempfile.TemporaryDirectory(prefix="ocikit-promote-") as scratch:
        copier = _BlobCopier(session, source_client, scratch, counters)
        for registry, repositories in plan.items():
            run = session.registry(registry)
            for repository, tags in repositories.items():
                same = registry == ref.registry
                client = RepositoryClient(
                    run.transport, repository, push=True, mount_sources=[ref.repository] if same else []
                )
                tasks = [functools.partial(copier.copy, client, d, s, same) for d, s in image.blobs]
                run_concurrently(tasks, session.jobs)
                _put_manifests(session, client, image, tags, counters)
                pushed.append(PushedImage(f"{registry}/{repository}@{image.top.digest}", image.top.digest, tuple(tags)))
    return PushSummary(
        image.top.digest, tuple(pushed), PushStats(**counters.values, seconds=time.monotonic() - started)
    )


class _BlobCopier:
    """Copies blobs from the source repository: mounted on its registry, else fetched once into
    `scratch` and uploaded from there to each destination that lacks them."""

    def __init__(self, session: PushSession, source: RepositoryClient, scratch: str, counters: Counters) -> None:
        self.session, self.source, self.scratch, self.counters = session, source, scratch, counters

    def copy(self, client: RepositoryClient, digest: str, size: int, same_registry: bool) -> None:
        session = self.session
        session.checkpoint()
        run = session.registry(client.transport.registry)
        run.acquire(digest, session.cancel)  # one thread per blob per registry, as for pushes
        try:
            if client.blob_size(digest) is not None:
                self.counters.add("blobs_present")
            elif same_registry and self._mounted(client, digest):
                self.counters.add("blobs_mounted")
            else:
                with session.slots:
                    sent = upload_blob(
                        client,
                        self._fetched(digest, size),
                        digest,
                        size,
                        chunk_size=session.chunk_size,
                        monolithic_max=session.monolithic_max,
                        journal=session.journal,
                    )
                self.counters.add("blobs_uploaded")
                self.counters.add("bytes_uploaded", sent)
            run.note(digest, client.repository)
        finally:
            run.release(digest)

    def _mounted(self, client: RepositoryClient, digest: str) -> bool:
        try:
            location = client.mount_blob(digest, self.source.repository)
        except (AuthenticationError, AccessDeniedError) as e:
            log.info("mounting %s from %s was not allowed (%s); copying it", digest, self.source.name, e)
            return False
        if location is not None:  # refused: the upload it opened is left to the registry's purge
            log.info("%s refused to mount %s from %s; copying it", client.name, digest, self.source.name)
        return location is None

    def _fetched(self, digest: str, size: int) -> str:
        path = os.path.join(self.scratch, digest.replace(":", "-"))
        if not os.path.exists(path):  # verified before it is renamed into place
            self.source.fetch_blob(digest, path, expected_size=size)
        return path


def _put_manifests(
    session: PushSession, client: RepositoryClient, image: SourceImage, tags: Sequence[str], counters: Counters
) -> None:
    session.checkpoint()
    put_manifests_by_digest(client, image.manifests, counters)
    for tag, attachment in image.attachments:
        present = client.head_manifest(tag)
        if present is not None and present.digest == attachment.digest:
            counters.add("attachments_present")
            continue
        try:
            client.put_manifest(tag, attachment.data or b"", attachment.media_type)
        except RegistryError as e:
            raise PromotionError(
                f"{client.name} refused the attachment tag {tag} of {image.reference.name}: {describe_error(e)}"
            ) from e
        counters.add("attachments_copied")
    if session.signer is not None:  # what a push of a layout signs: the index, and by option its children
        sign_manifests(session.signer, client, client.name, image.manifests, counters)
    session.checkpoint()
    for tag in tags:  # no checkpoint in between: all the image's tags or none
        client.put_manifest(tag, image.top.data or b"", image.top.media_type)
        counters.add("tags_pushed")


__all__ = ["ATTACHMENT_SUFFIXES", "PromotionError", "SourceImage", "pinned_source", "promote_image", "read_source"]
