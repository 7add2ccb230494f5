"""Push an OCI image layout to one or more repositories, in go-containerregistry's order.

For each registry, repository after repository: HEAD each blob and skip what is there; mount
what another repository on the same registry is known to hold (pushed earlier in this run, found
there, or named in `mounts_from`); upload the rest, each blob once per repository. With several
jobs, layers and configs go up concurrently, the largest first (as go-containerregistry uploads
a config that it can read alongside the layers), so that the longest upload starts at once and
the small ones overlap it; the first blob's check and upload start go alone, so that a refusal
is one error, not one per job. With one job, layers then configs, in the manifests' order.
Then manifests by digest (children before their index), then each tag. The pushed digest is
exactly the layout's.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

from ocikit.layout import LayoutBlob, LayoutImage, read_layout_image
from ocikit.reference import Reference, parse_reference, parse_registry
from ocikit.registry._common import is_listed, run_concurrently
from ocikit.registry.auth import DefaultKeychain, Keychain
from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import AccessDeniedError, AuthenticationError
from ocikit.registry.progress import Progress, format_bytes
from ocikit.registry.transport import DEFAULT_TIMEOUT, RetryPolicy, Transport
from ocikit.registry.upload import DEFAULT_CHUNK_SIZE, MONOLITHIC_MAX, upload_blob

log = logging.getLogger(__name__)

MountSource = Union[str, Reference, Tuple[str, str]]
_ASK = object()  # _push_blob: the blob was not checked (HEAD, mounts) yet
_NEW = object()  # _open_blob: the blob is to be uploaded into a new upload session


@dataclass(frozen=True)
class PushedImage:
    ref: str  # registry/repository@sha256:...
    digest: str
    tags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "digest": self.digest, "tags": list(self.tags)}


@dataclass(frozen=True)
class PushStats:
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    bytes_uploaded: int = 0
    manifests_pushed: int = 0
    manifests_present: int = 0
    tags_pushed: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class PushSummary:
    digest: str
    pushed: tuple[PushedImage, ...]
    stats: PushStats

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "pushed": [p.to_json() for p in self.pushed],
                "stats": self.stats.to_json()}

    def format_text(self) -> str:
        lines = []
        for image in self.pushed:
            tags = f" (tags: {', '.join(image.tags)})" if image.tags else ""
            lines.append(f"pushed {image.ref}{tags}")
        s = self.stats
        lines.append(
            f"blobs: {s.blobs_uploaded} uploaded, {s.blobs_mounted} mounted, {s.blobs_present} already "
            f"present; {format_bytes(s.bytes_uploaded)} sent; manifests: {s.manifests_pushed} pushed, "
            f"{s.manifests_present} already present; {s.tags_pushed} tags; {s.seconds:.1f} s"
        )
        return "\n".join(lines)


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {k: 0 for k in PushStats.__dataclass_fields__ if k != "seconds"}

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.values[key] += n


class _RegistryRun:
    """One registry's transport, and which repositories are known to hold which blobs."""

    def __init__(self, transport: Transport, extra_sources: Sequence[str]) -> None:
        self.transport = transport
        self.extra_sources = list(extra_sources)
        self.done_repositories: list[str] = []
        self._holders: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def note(self, digest: str, repository: str) -> None:
        with self._lock:
            holders = self._holders.setdefault(digest, [])
            if repository not in holders:
                holders.append(repository)

    def holder(self, digest: str, other_than: str) -> Optional[str]:
        with self._lock:
            return next((r for r in self._holders.get(digest, []) if r != other_than), None)


def push_layout(
    layout_dir: str,
    destinations: Sequence[Union[str, Reference]],
    *,
    insecure_registries: Iterable[str] = (),
    jobs: int = 4,
    progress: Optional[Progress] = None,
    keychain: Optional[Keychain] = None,
    mounts_from: Iterable[MountSource] = (),
    chunk_size: Optional[int] = DEFAULT_CHUNK_SIZE,
    monolithic_max: int = MONOLITHIC_MAX,
    retry: RetryPolicy = RetryPolicy(),
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> PushSummary:
    """Push the image of an OCI layout to every destination (`registry/repo[:tag]`).

    Several destinations may share a repository (one tag each); a destination without a tag is
    pushed by digest only; a destination with a digest must name the layout's digest.
    `chunk_size` None sends each large blob in one PATCH; a size splits it into PATCHes.
    """
    started = time.monotonic()
    image = read_layout_image(layout_dir)
    plan = _plan(image, destinations)
    insecure = {parse_registry(r) for r in insecure_registries}
    keychain = keychain if keychain is not None else DefaultKeychain()
    progress = progress or Progress()
    sources = _mount_sources(mounts_from)
    counters = _Counters()
    pushed: list[PushedImage] = []
    for registry, repositories in plan.items():
        api_host = Reference(registry, "_").api_host
        transport = Transport(api_host, keychain=keychain,
                              insecure=is_listed(registry, insecure) or is_listed(api_host, insecure),
                              timeout=timeout, retry=retry, pool_size=jobs)
        try:
            run = _RegistryRun(transport, sources.get(registry, ()))
            for repository, tags in repositories.items():
                _push_repository(run, repository, tags, image, counters, progress, max(1, jobs),
                                 chunk_size, monolithic_max)
                run.done_repositories.append(repository)
                pushed.append(PushedImage(f"{registry}/{repository}@{image.digest}", image.digest, tuple(tags)))
        finally:
            transport.close()
    stats = PushStats(**counters.values, seconds=time.monotonic() - started)
    return PushSummary(image.digest, tuple(pushed), stats)


def _plan(image: LayoutImage, destinations: Sequence[Union[str, Reference]]) -> dict[str, dict[str, list[str]]]:
    if not destinations:
        raise ValueError("no destination given: name at least one REGISTRY/REPOSITORY[:TAG]")
    plan: dict[str, dict[str, list[str]]] = {}
    for destination in destinations:
        ref = destination if isinstance(destination, Reference) else parse_reference(destination)
        if ref.digest and ref.digest != image.digest:
            raise ValueError(f"destination {ref} names digest {ref.digest}, but the layout holds {image.digest}")
        tags = plan.setdefault(ref.registry, {}).setdefault(ref.repository, [])
        if ref.tag and ref.tag not in tags:
            tags.append(ref.tag)
    return plan


def _mount_sources(mounts_from: Iterable[MountSource]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in mounts_from:
        if isinstance(item, tuple):
            registry, repository = parse_registry(item[0]), item[1]
            parse_reference(f"{registry}/{repository}")  # validates the repository name
        else:
            ref = item if isinstance(item, Reference) else parse_reference(str(item))
            registry, repository = ref.registry, ref.repository
        if repository not in out.setdefault(registry, []):
            out[registry].append(repository)
    return out


def _upload_batches(image: LayoutImage, jobs: int) -> list[list[LayoutBlob]]:
    """The blobs to push, in the order to start them: one batch of layers and configs, largest
    first, for several jobs; for one job, the layers then the configs, in the manifests' order.
    Each digest once (a blob may be both a layer and a config)."""
    if jobs <= 1:
        layers = {b.digest: b for b in image.layers}
        return [list(layers.values()), [b for b in image.configs if b.digest not in layers]]
    blobs = {b.digest: b for b in (*image.layers, *image.configs)}
    return [sorted(blobs.values(), key=lambda b: b.size, reverse=True)]


def _push_repository(run: _RegistryRun, repository: str, tags: Sequence[str], image: LayoutImage,
                     counters: _Counters, progress: Progress, jobs: int, chunk_size: Optional[int],
                     monolithic_max: int) -> None:
    extra = [s for s in run.extra_sources if s != repository]
    sources = list(dict.fromkeys(run.done_repositories + extra))
    client = RepositoryClient(run.transport, repository, push=True, mount_sources=sources)
    batches = _upload_batches(image, jobs)
    first = next((b for batch in batches for b in batch), None)
    first_where: Any = _ASK
    if first is not None:
        # The first blob's check and upload start go alone, before the jobs fan out: a refusal
        # (wrong credentials, no push access, a registry that times out) is then one error,
        # not one per job. Its upload itself overlaps the others'.
        first_where = _open_blob(run, client, first, extra, counters)
        if first_where is _NEW:
            first_where = client.start_upload()
    for blobs in batches:
        run_concurrently(
            [lambda b=b: _push_blob(run, client, b, extra, counters, progress, chunk_size, monolithic_max,
                                    first_where if b is first else _ASK)
             for b in blobs],
            jobs,
        )
    for manifest in image.manifests:
        existing = client.head_manifest(manifest.digest)
        if existing is not None and existing.digest == manifest.digest:
            counters.add("manifests_present")
            continue
        client.put_manifest(manifest.digest, manifest.data, manifest.media_type)
        counters.add("manifests_pushed")
        log.info("pushed manifest %s to %s", manifest.digest, client.name)
    for tag in tags:
        client.put_manifest(tag, image.top.data, image.top.media_type)
        counters.add("tags_pushed")
        log.info("tagged %s:%s", client.name, tag)


def _open_blob(run: _RegistryRun, client: RepositoryClient, blob: LayoutBlob, extra_sources: Sequence[str],
               counters: _Counters) -> Any:
    """The steps before the bytes: HEAD the blob, and mount it if another repository holds it.
    Returns None when the repository holds it now; else where to upload it: the location of
    the upload a refused mount opened, or _NEW (no upload open yet)."""
    repository = client.repository
    if client.blob_size(blob.digest) is not None:
        run.note(blob.digest, repository)
        counters.add("blobs_present")
        log.info("%s already holds %s", client.name, blob.digest)
        return None
    source = run.holder(blob.digest, repository)
    if source is None:
        for candidate in extra_sources:
            if _holds(client, blob.digest, candidate):
                run.note(blob.digest, candidate)
                source = candidate
                break
    if source is None:
        return _NEW
    try:
        location = client.mount_blob(blob.digest, source)
    except (AuthenticationError, AccessDeniedError) as e:
        log.info("mounting %s from %s was not allowed (%s); uploading it", blob.digest, source, e)
        return client.start_upload()
    if location is None:
        run.note(blob.digest, repository)
        counters.add("blobs_mounted")
        log.info("mounted %s into %s from %s", blob.digest, client.name, source)
        return None
    log.info("%s refused to mount %s from %s; uploading it", client.name, blob.digest, source)
    return location


def _push_blob(run: _RegistryRun, client: RepositoryClient, blob: LayoutBlob, extra_sources: Sequence[str],
               counters: _Counters, progress: Progress, chunk_size: Optional[int], monolithic_max: int,
               where: Any = _ASK) -> None:
    """Push one blob; `where` is what `_open_blob` answered for it, when that was done already."""
    if where is _ASK:
        where = _open_blob(run, client, blob, extra_sources, counters)
    if where is None:
        return
    progress.started(blob.digest, blob.size, "uploading")
    sent = upload_blob(client, blob.path, blob.digest, blob.size, location=None if where is _NEW else where,
                       chunk_size=chunk_size, monolithic_max=monolithic_max,
                       on_bytes=lambda n: progress.advanced(blob.digest, n))
    progress.finished(blob.digest, "uploaded")
    run.note(blob.digest, client.repository)
    counters.add("blobs_uploaded")
    counters.add("bytes_uploaded", sent)
    log.info("uploaded %s to %s (%d bytes sent)", blob.digest, client.name, sent)


def _holds(client: RepositoryClient, digest: str, repository: str) -> bool:
    """Does another repository hold the blob? Not being allowed to look counts as no."""
    try:
        return client.blob_size(digest, repository=repository) is not None
    except (AuthenticationError, AccessDeniedError):
        return False
