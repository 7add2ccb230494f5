"""Pull an image by digest into an OCI image layout, for the requested platforms.

A reference must carry a digest: tags move. For an index (OCI or Docker manifest list), the
child manifest of each requested platform is chosen. Every blob is verified while it streams
(nothing of a mismatching blob is kept); manifests are kept byte for byte as served, so their
digests (Docker v2 ones included) do not change. `ocikit.layout.LayoutWriter` puts the layout
in place whole at the end, or leaves nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

from ocikit import media_types
from ocikit.errors import OcikitError
from ocikit.image import (
    Platform,
    PlatformError,
    describe_platforms,
    index_platforms,
    select_index_entry,
    select_platform,
)
from ocikit.layout import LayoutWriter
from ocikit.reference import Reference, parse_reference, parse_registry
from ocikit.registry._common import is_listed, run_concurrently
from ocikit.registry.auth import DefaultKeychain, Keychain
from ocikit.registry.client import ManifestInfo, RepositoryClient
from ocikit.registry.progress import Progress
from ocikit.registry.transport import DEFAULT_TIMEOUT, RetryPolicy, Transport

log = logging.getLogger(__name__)


class TagNotPinnedError(OcikitError, ValueError):
    """A pull named a tag without a digest. `pinned` is the reference to use instead."""

    def __init__(self, message: str, pinned: str) -> None:
        super().__init__(message)
        self.pinned = pinned


@dataclass(frozen=True)
class PulledManifest:
    platform: str
    digest: str
    media_type: str
    size: int
    config: str

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "digest": self.digest,
            "mediaType": self.media_type,
            "size": self.size,
            "config": self.config,
        }


@dataclass(frozen=True)
class PullResult:
    reference: str  # registry/repository@sha256:...
    digest: str
    media_type: str
    out_dir: str
    manifests: tuple[PulledManifest, ...]
    blobs_fetched: int
    bytes_fetched: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "mediaType": self.media_type,
            "out": self.out_dir,
            "manifests": [m.to_json() for m in self.manifests],
            "stats": {
                "blobs_fetched": self.blobs_fetched,
                "bytes_fetched": self.bytes_fetched,
                "seconds": round(self.seconds, 3),
            },
        }

    def format_text(self) -> str:
        lines = [f"pulled {self.reference} into {self.out_dir}"]
        lines += [f"  {m.platform}: {m.digest}" for m in self.manifests]
        lines.append(f"{self.blobs_fetched} blobs, {self.bytes_fetched} bytes, {self.seconds:.1f} s")
        return "\n".join(lines)


def open_repository(
    ref: Reference,
    *,
    insecure_registries: Iterable[str] = (),
    keychain: Optional[Keychain] = None,
    retry: RetryPolicy = RetryPolicy(),
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    jobs: int = 4,
) -> RepositoryClient:
    """A pull-only client for the reference's repository."""
    insecure = {parse_registry(r) for r in insecure_registries}
    transport = Transport(
        ref.api_host,
        keychain=keychain if keychain is not None else DefaultKeychain(),
        insecure=is_listed(ref.registry, insecure) or is_listed(ref.api_host, insecure),
        retry=retry,
        timeout=timeout,
        pool_size=jobs,
    )
    return RepositoryClient(transport, ref.repository)


def resolve_digest(client: RepositoryClient, ref: Reference) -> str:
    info = client.head_manifest(ref.identifier)
    if info is None:
        info = client.get_manifest(ref.identifier)
    return info.digest


def pull_image(
    reference: Union[str, Reference],
    platforms: Sequence[str],
    out_dir: str,
    *,
    insecure_registries: Iterable[str] = (),
    keychain: Optional[Keychain] = None,
    jobs: int = 4,
    progress: Optional[Progress] = None,
    retry: RetryPolicy = RetryPolicy(),
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> PullResult:
    """Fetch `registry/repo[:tag]@sha256:…` for `platforms` ("os/arch[/variant]") into `out_dir`."""
    started = time.monotonic()
    ref = reference if isinstance(reference, Reference) else parse_reference(reference)
    wanted = list(dict.fromkeys(Platform.parse(p) for p in platforms))
    progress = progress or Progress()
    client = open_repository(
        ref, insecure_registries=insecure_registries, keychain=keychain, retry=retry, timeout=timeout, jobs=jobs
    )
    try:
        if not ref.digest:
            shown = ref if ref.tag else ref.with_tag("latest")
            pinned = shown.with_digest(resolve_digest(client, shown))
            raise TagNotPinnedError(
                f"{shown} names a tag, which can move; pull by digest instead: {pinned}", str(pinned)
            )
        top = client.get_manifest(ref.digest)
        chosen = _choose(client, ref, top, wanted)
        return _write_layout(client, ref, top, chosen, out_dir, progress, jobs, started)
    finally:
        client.transport.close()


def _choose(
    client: RepositoryClient, ref: Reference, top: ManifestInfo, wanted: Sequence[Platform]
) -> list[tuple[Platform, ManifestInfo, dict[str, Any]]]:
    """(platform, manifest, platform JSON for index.json) per requested platform."""
    what = f"{ref.name}@{ref.digest}"
    if top.media_type in media_types.INDEX_TYPES:
        assert top.data is not None  # a GET (get_manifest) keeps the bytes
        index = json.loads(top.data)
        if not wanted:
            raise PlatformError(
                f"{what} is a multi-platform index: choose platforms among {describe_platforms(index_platforms(index))}"
            )
        chosen: list[tuple[Platform, ManifestInfo, dict[str, Any]]] = []
        for platform in wanted:
            entry, have = select_index_entry(index, platform, what)
            if any(m.digest == entry["digest"] for _, m, _ in chosen):
                continue  # two requested platforms name the same image (linux/arm64, linux/arm64/v8)
            manifest = client.get_manifest(str(entry["digest"]))
            if manifest.media_type not in media_types.MANIFEST_TYPES:
                raise PlatformError(f"{ref.name}@{entry['digest']} ({have}) is not an image manifest")
            chosen.append((have, manifest, dict(entry["platform"])))
        return chosen
    have = Platform.from_json(json.loads(client.fetch_blob_bytes(_config_of(top)["digest"])))
    for platform in wanted:
        if select_platform(platform, [have]) is None:
            raise PlatformError(f"{what} is a single {have} image, not {platform}")
    return [(have, top, have.to_json())]


def _write_layout(
    client: RepositoryClient,
    ref: Reference,
    top: ManifestInfo,
    chosen: Sequence[tuple[Platform, ManifestInfo, dict[str, Any]]],
    out_dir: str,
    progress: Progress,
    jobs: int,
    started: float,
) -> PullResult:
    wanted_blobs: dict[str, int] = {}
    for _, manifest, _ in chosen:
        value = json.loads(manifest.data or b"{}")
        for descriptor in [_config_of(manifest)] + list(value.get("layers") or []):
            if descriptor.get("urls") and "nondistributable" in str(descriptor.get("mediaType")):
                continue
            wanted_blobs[str(descriptor["digest"])] = int(descriptor["size"])
    fetched = [0]
    lock = threading.Lock()
    with LayoutWriter(out_dir) as layout:
        for manifest in [top] + [m for _, m, _ in chosen]:
            layout.write_blob(manifest.digest, manifest.data or b"")

        def fetch(digest: str, size: int) -> None:
            progress.started(digest, size, "downloading")
            n = client.fetch_blob(
                digest, layout.blob_file(digest), expected_size=size, on_bytes=lambda k: progress.advanced(digest, k)
            )
            progress.finished(digest, "downloaded")
            with lock:
                fetched[0] += n

        run_concurrently([functools.partial(fetch, d, s) for d, s in wanted_blobs.items()], max(1, jobs))
        layout.commit(
            [
                {"mediaType": m.media_type, "digest": m.digest, "size": m.size, "platform": platform_json}
                for _, m, platform_json in chosen
            ]
        )
    return PullResult(
        reference=f"{ref.name}@{top.digest}",
        digest=top.digest,
        media_type=top.media_type,
        out_dir=layout.target,
        manifests=tuple(
            PulledManifest(str(p), m.digest, m.media_type, m.size, _config_of(m)["digest"]) for p, m, _ in chosen
        ),
        blobs_fetched=len(wanted_blobs),
        bytes_fetched=fetched[0],
        seconds=time.monotonic() - started,
    )


def _config_of(manifest: ManifestInfo) -> dict[str, Any]:
    config = json.loads(manifest.data or b"{}").get("config")
    if not isinstance(config, dict) or "digest" not in config:
        raise ValueError(f"manifest {manifest.digest} has no config descriptor")
    return config
