"""Push OCI image layouts to registries, in go-containerregistry's order.

For each registry, repository after repository: HEAD each blob and skip what is there; mount
what another repository on the same registry is known to hold (pushed earlier in this session,
found there, or named in `mounts_from`); upload the rest, each blob once per registry. With
several jobs, layers and configs go up concurrently, the largest first (as go-containerregistry
uploads a config that it can read alongside the layers), so that the longest upload starts at
once and the small ones overlap it; the first blob's check and upload start go alone, so that a
refusal is one error, not one per job. With one job, layers then configs, in the manifests'
order. Then manifests by digest (children before their index), then each tag. The pushed
digest is exactly the layout's.

A `PushSession` pushes many layouts, from several threads at once (`ocikit.registry.push_many`),
sharing one transport per registry, the blob transfer slots, and what each repository holds:
a blob that several images share is worked on by one thread at a time per registry, so it is
uploaded once and mounted everywhere else.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Protocol, Sequence, Tuple, Union

from ocikit.layout import LayoutBlob, LayoutImage, read_layout_image
from ocikit.reference import Reference, is_listed, parse_reference, parse_registry
from ocikit.registry.attest import Predicate, attest_digest
from ocikit.registry.auth import DefaultKeychain, Keychain
from ocikit.registry.client import RepositoryClient
from ocikit.registry.concurrency import run_concurrently
from ocikit.registry.errors import RegistryConnectionError
from ocikit.registry.progress import Progress, format_bytes
from ocikit.registry.push_blobs import ASK, BlobSteps, PushCancelled, RegistryRun
from ocikit.registry.push_stats import Counters, PushStats
from ocikit.registry.sign import Signer, sign_digest
from ocikit.registry.transport import DEFAULT_TIMEOUT, RetryPolicy, Transport
from ocikit.registry.upload import DEFAULT_CHUNK_SIZE, MONOLITHIC_MAX
from ocikit.registry.upload_journal import UploadJournal

log = logging.getLogger(__name__)

MountSource = Union[str, Reference, Tuple[str, str]]


@dataclass(frozen=True)
class PushedImage:
    ref: str  # registry/repository@sha256:...
    digest: str
    tags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "digest": self.digest, "tags": list(self.tags)}


@dataclass(frozen=True)
class PushSummary:
    digest: str
    pushed: tuple[PushedImage, ...]
    stats: PushStats

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "pushed": [p.to_json() for p in self.pushed], "stats": self.stats.to_json()}

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


class PushSession:
    """Pushes layouts, one after another or several at once from different threads, with one
    transport per registry (one ping, one credential lookup, shared tokens and connections)
    and at most `jobs` blob transfers at a time over all of them.

    Setting `cancel` stops every push at its next checkpoint (before a blob, while its bytes
    are sent, before manifests, before tags) with PushCancelled; an image whose tagging has
    begun gets all its tags first, so none is left with some of its tags only. A registry
    that could not be reached (after retries) fails the session's later pushes to it at once."""

    def __init__(
        self,
        *,
        insecure_registries: Iterable[str] = (),
        jobs: int = 4,
        progress: Optional[Progress] = None,
        keychain: Optional[Keychain] = None,
        chunk_size: Optional[int] = DEFAULT_CHUNK_SIZE,
        monolithic_max: int = MONOLITHIC_MAX,
        retry: RetryPolicy = RetryPolicy(),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        cancel: Optional[threading.Event] = None,
        signer: Optional[Signer] = None,
        journal: Optional[UploadJournal] = None,
    ) -> None:
        self.jobs = max(1, jobs)
        self.journal = journal  # where broken uploads are recorded, to go on from in a later run
        if journal is not None:
            journal.prune()
        self.signer = signer
        self.progress = progress or Progress()
        self.cancel = cancel if cancel is not None else threading.Event()
        self.chunk_size, self.monolithic_max = chunk_size, monolithic_max
        self._insecure = {parse_registry(r) for r in insecure_registries}
        self._keychain = keychain if keychain is not None else DefaultKeychain()
        self._retry, self._timeout = retry, timeout
        self._runs: dict[str, RegistryRun] = {}
        self._lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(self.jobs)

    def __enter__(self) -> PushSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for run in self._runs.values():
                run.transport.close()
            self._runs.clear()

    def checkpoint(self) -> None:
        if self.cancel.is_set():
            raise PushCancelled()

    def registry(self, registry: str) -> RegistryRun:
        with self._lock:
            run = self._runs.get(registry)
            if run is None:
                api_host = Reference(registry, "_").api_host
                insecure = is_listed(registry, self._insecure) or is_listed(api_host, self._insecure)
                # Connections for the blob transfers and for the manifest and tag requests of
                # the images pushed alongside them.
                transport = Transport(
                    api_host,
                    keychain=self._keychain,
                    insecure=insecure,
                    timeout=self._timeout,
                    retry=self._retry,
                    pool_size=2 * self.jobs,
                )
                run = self._runs[registry] = RegistryRun(transport)
            return run

    def push(
        self,
        layout_dir: str,
        destinations: Sequence[Union[str, Reference]],
        mounts_from: Iterable[MountSource] = (),
        predicates: Sequence[Predicate] = (),
    ) -> PushSummary:
        """Push the image of one layout to every destination (see `push_layout`); with a signer,
        sign it and attach `predicates` as signed attestations."""
        started = time.monotonic()
        image = read_layout_image(layout_dir)
        plan = _plan(image, destinations)
        sources = _mount_sources(mounts_from)
        counters = Counters()
        pushed: list[PushedImage] = []
        for registry, repositories in plan.items():
            run = self.registry(registry)
            if run.broken is not None:
                raise RegistryConnectionError(
                    f"not tried: {registry} could not be reached earlier in this run ({run.broken})"
                )
            try:
                for repository, tags in repositories.items():
                    client = self._push_repository(run, repository, image, sources.get(registry, ()), counters)
                    self._sign_and_tag(client, f"{registry}/{repository}", tags, image, predicates, counters)
                    pushed.append(PushedImage(f"{registry}/{repository}@{image.digest}", image.digest, tuple(tags)))
            except RegistryConnectionError as e:
                run.broken = run.broken or str(e)
                raise
        stats = PushStats(**counters.values, seconds=time.monotonic() - started)
        return PushSummary(image.digest, tuple(pushed), stats)

    def _push_repository(
        self, run: RegistryRun, repository: str, image: LayoutImage, extra_sources: Sequence[str], counters: Counters
    ) -> RepositoryClient:
        extra = [s for s in extra_sources if s != repository]
        digests = [b.digest for b in (*image.layers, *image.configs)]
        client = RepositoryClient(
            run.transport, repository, push=True, mount_sources=[*run.holders(digests, repository), *extra]
        )
        steps = BlobSteps(self, run, client, extra, counters)
        batches = _upload_batches(image, self.jobs)
        first = next((b for batch in batches for b in batch), None)
        first_where: Any = ASK
        if first is not None:
            # The first blob's check and upload start go alone, before the jobs fan out: a refusal
            # (wrong credentials, no push access, a registry that times out) is then one error,
            # not one per job. Its upload itself overlaps the others'.
            first_where = steps.open_first(first)
        try:
            for blobs in batches:
                run_concurrently(
                    [functools.partial(steps.push, b, first_where if b is first else ASK) for b in blobs],
                    self.jobs,
                )
        finally:
            steps.release_unpushed()
        self.checkpoint()
        put_manifests_by_digest(client, image.manifests, counters)
        return client

    def _sign_and_tag(
        self,
        client: RepositoryClient,
        reference: str,
        tags: Sequence[str],
        image: LayoutImage,
        predicates: Sequence[Predicate],
        counters: Counters,
    ) -> None:
        """Sign and attest (before any tag names the image: a cluster admitting only signed
        images never sees it tagged and unsigned), then tag."""
        self.checkpoint()
        if self.signer is not None:
            sign_manifests(self.signer, client, reference, image.manifests, counters)
            attached, present = attest_digest(client, reference, image.top.digest, predicates, self.signer.key)
            counters.add("attestations_pushed", attached)
            counters.add("attestations_present", present)
        self.checkpoint()
        for tag in tags:  # no checkpoint in between: all the image's tags or none
            client.put_manifest(tag, image.top.data, image.top.media_type)
            counters.add("tags_pushed")
            log.info("tagged %s:%s", client.name, tag)


class _Manifest(Protocol):
    """A manifest's digest, bytes and media type (a layout's, or one a registry served)."""

    @property
    def digest(self) -> str: ...

    @property
    def data(self) -> Optional[bytes]: ...

    @property
    def media_type(self) -> str: ...


def put_manifests_by_digest(client: RepositoryClient, manifests: Sequence[_Manifest], counters: Counters) -> None:
    """PUT each manifest by digest (children before their index) unless the repository has it."""
    for manifest in manifests:
        existing = client.head_manifest(manifest.digest)
        if existing is not None and existing.digest == manifest.digest:
            counters.add("manifests_present")
            continue
        client.put_manifest(manifest.digest, manifest.data or b"", manifest.media_type)
        counters.add("manifests_pushed")
        log.info("pushed manifest %s to %s", manifest.digest, client.name)


def sign_manifests(
    signer: Signer, client: RepositoryClient, reference: str, manifests: Sequence[_Manifest], counters: Counters
) -> None:
    """Sign the top manifest (the last) and, as `signer` says, the platform manifests before it."""
    children = [m.digest for m in manifests[:-1]]
    for digest in signer.digests(manifests[-1].digest, children):
        signed = sign_digest(client, reference, digest, signer.key)
        counters.add("signatures_pushed" if signed else "signatures_present")


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
    journal: Optional[UploadJournal] = None,
) -> PushSummary:
    """Push the image of an OCI layout to every destination (`registry/repo[:tag]`).

    Several destinations may share a repository (one tag each); a destination without a tag is
    pushed by digest only; a destination with a digest must name the layout's digest.
    `chunk_size` None sends each large blob in one PATCH; a size splits it into PATCHes.
    With a `journal`, a broken upload is recorded there and resumed by a later push.
    """
    with PushSession(
        insecure_registries=insecure_registries,
        jobs=jobs,
        progress=progress,
        keychain=keychain,
        chunk_size=chunk_size,
        monolithic_max=monolithic_max,
        retry=retry,
        timeout=timeout,
        journal=journal,
    ) as session:
        return session.push(layout_dir, destinations, mounts_from)


def _plan(image: LayoutImage, destinations: Sequence[Union[str, Reference]]) -> dict[str, dict[str, list[str]]]:
    return plan_destinations(image.digest, destinations, "the layout holds")


def plan_destinations(
    digest: str, destinations: Iterable[Union[str, Reference]], holding: str
) -> dict[str, dict[str, list[str]]]:
    """registry -> repository -> tags, from `registry/repo[:tag][@digest]` destinations; a digest
    there must be `digest` (`holding` says whose, in the error)."""
    plan: dict[str, dict[str, list[str]]] = {}
    for destination in destinations:
        ref = destination if isinstance(destination, Reference) else parse_reference(destination)
        if ref.digest and ref.digest != digest:
            raise ValueError(f"destination {ref} names digest {ref.digest}, but {holding} {digest}")
        tags = plan.setdefault(ref.registry, {}).setdefault(ref.repository, [])
        if ref.tag and ref.tag not in tags:
            tags.append(ref.tag)
    if not plan:
        raise ValueError("no destination given: name at least one REGISTRY/REPOSITORY[:TAG]")
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
