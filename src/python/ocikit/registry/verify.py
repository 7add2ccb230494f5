"""`python -m ocikit verify --plan FILE`: what each destination of each image names in its
registry, compared with the image packaged here (a `VerifyPlan` in, a `VerifyResult` out).

For each destination, one HEAD says what the tag names. The same digest is a match, signed
when a cosign signature beside it (`sha256-HEX.sig`) verifies with one of the plan's public
keys. Another digest is compared with the packaged layout (`ocikit.verify.compare_images`):
manifests and configs fetched by digest, and each differing layer fetched by digest into a
temporary file (streamed and verified, never held in memory) and listed entry by entry. A
destination that fails (auth, network) is reported as an error without stopping the others.
Reads only: nothing is written to any registry.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ocikit.contracts.verify import (
    DIFFERS,
    ERROR,
    MATCHES_NO_KEYS,
    MATCHES_SIGNED,
    MATCHES_UNSIGNED,
    MISSING,
    PublicKey,
    TagVerdict,
    VerifyCommand,
    VerifyImage,
    VerifyPlan,
    VerifyResult,
)
from ocikit.reference import Reference, parse_reference, parse_registry
from ocikit.registry._common import is_listed
from ocikit.registry.auth import DefaultKeychain, Keychain
from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import describe_error
from ocikit.registry.transport import DEFAULT_TIMEOUT, RetryPolicy, Transport
from ocikit.signing.keys import VerifyKey
from ocikit.verify import ImageComparison, ImageSource, LayerRef, LayoutSource, ListingCache, OncePerKey, compare_images

log = logging.getLogger(__name__)

NamedKey = Tuple[str, VerifyKey]  # as [oci-verify].keys names its file, and one key of it


class RegistrySource(ImageSource):
    """One repository's manifests and blobs, each fetched by digest and verified; layers go to
    temporary files under `directory`, removed once listed."""

    def __init__(self, client: RepositoryClient, directory: str) -> None:
        self.client = client
        self.directory = directory

    def manifest(self, digest: str) -> bytes:
        return self.client.get_manifest(digest).data or b""

    def blob(self, digest: str) -> bytes:
        return self.client.fetch_blob_bytes(digest)

    @contextmanager
    def layer_file(self, layer: LayerRef) -> Iterator[str]:
        fd, path = tempfile.mkstemp(prefix="layer-", dir=self.directory)
        os.close(fd)
        try:
            log.info("fetching layer %s from %s", layer.digest, self.client.name)
            self.client.fetch_blob(layer.digest, path, expected_size=layer.size or None)
            yield path
        finally:
            if os.path.exists(path):
                os.unlink(path)


def load_keys(keys: Sequence[PublicKey]) -> List[NamedKey]:
    """Every public key of the plan's files; a file that holds none, or another kind of key, is
    an error naming the option and the file."""
    from ocikit.signing.keys import load_verify_keys

    return [
        (key.name, loaded)
        for key in keys
        for loaded in load_verify_keys(key.pem.encode(), f"[oci-verify].keys ({key.name})")
    ]


@dataclass
class _Run:
    transports: Dict[str, Transport]
    keys: List[NamedKey]
    directory: str
    max_paths: int
    listings: ListingCache
    comparisons: OncePerKey

    def client(self, ref: Reference) -> RepositoryClient:
        return RepositoryClient(self.transports[ref.registry], ref.repository)


def verify_plan(
    plan: VerifyPlan,
    *,
    keychain: Optional[Keychain] = None,
    retry: RetryPolicy = RetryPolicy(attempts=3),
    timeout: Tuple[float, float] = DEFAULT_TIMEOUT,
) -> VerifyResult:
    """The verdict of every destination of every image of `plan`, in the plan's order."""
    keys = load_keys(plan.keys)
    checks = [(image, destination) for image in plan.images for destination in image.destinations]
    insecure = {parse_registry(r) for r in plan.insecure_registries}
    keychain = keychain if keychain is not None else DefaultKeychain()
    jobs = max(1, plan.jobs)
    transports: Dict[str, Transport] = {}
    for _, destination in checks:
        ref = parse_reference(destination)
        if ref.registry not in transports:
            transports[ref.registry] = Transport(
                ref.api_host,
                keychain=keychain,
                retry=retry,
                timeout=timeout,
                pool_size=jobs,
                insecure=is_listed(ref.registry, insecure) or is_listed(ref.api_host, insecure),
            )
    try:
        with tempfile.TemporaryDirectory(prefix="ocikit-verify-") as directory:
            run = _Run(transports, keys, directory, plan.max_paths, ListingCache(), OncePerKey())
            with ThreadPoolExecutor(
                max_workers=min(jobs, len(checks) or 1), thread_name_prefix="ocikit-verify"
            ) as pool:
                verdicts = list(pool.map(lambda check: verify_destination(run, *check), checks))
    finally:
        for transport in transports.values():
            transport.close()
    return VerifyResult.of(verdicts)


def verify_destination(run: _Run, image: VerifyImage, destination: str) -> TagVerdict:
    def verdict(status: str, detail: str, **more) -> TagVerdict:
        return TagVerdict(image.key, destination, status, image.digest, detail, **more)

    try:
        ref = parse_reference(destination)
        client = run.client(ref)
        info = client.head_manifest(ref.tag or image.digest)
        if info is None:
            return verdict(MISSING, _missing(client, ref))
        if info.digest == image.digest:
            status, detail = signature_status(client, image.digest, run.keys)
            return verdict(status, detail, registry_digest=info.digest)
        comparison: ImageComparison = run.comparisons.get(
            (image.layout, ref.name, info.digest),
            lambda: compare_images(
                LayoutSource(image.layout),
                image.digest,
                RegistrySource(client, run.directory),
                info.digest,
                listings=run.listings,
                max_paths=run.max_paths,
                describe=describe_error,
            ),
        )
        return verdict(
            DIFFERS, _differs(comparison), registry_digest=info.digest, notes=comparison.notes, layers=comparison.layers
        )
    except Exception as e:  # noqa: BLE001 - one destination failing must not hide the others
        log.debug("verifying %s failed: %s", destination, type(e).__name__)
        return verdict(ERROR, describe_error(e))


def signature_status(client: RepositoryClient, digest: str, keys: Sequence[NamedKey]) -> Tuple[str, str]:
    """MATCHES_SIGNED naming the key file whose key verifies a signature of `digest` in the
    client's repository; MATCHES_UNSIGNED saying what was found; MATCHES_NO_KEYS without keys."""
    from ocikit.registry.sign import existing_signatures
    from ocikit.signing.cosign import find_valid_signature, signature_tag

    if not keys:
        return MATCHES_NO_KEYS, "signatures not checked: set [oci-verify].keys"
    layers = existing_signatures(client, digest)
    payloads: Dict[str, bytes] = {}

    def fetch(payload_digest: str) -> bytes:
        if payload_digest not in payloads:
            payloads[payload_digest] = client.fetch_blob_bytes(payload_digest)
        return payloads[payload_digest]

    for name, key in keys:
        if find_valid_signature(layers, digest, key.verify, fetch) is not None:
            return MATCHES_SIGNED, f"signed with {name} ({key.key_id[:19]})"
    if not layers:
        return MATCHES_UNSIGNED, f"no signature: no {signature_tag(digest)} in {client.name}"
    count = f"{len(layers)} signature{'s' if len(layers) != 1 else ''}"
    return MATCHES_UNSIGNED, f"{count} in {client.name}, none verifies with a key of [oci-verify].keys"


def _differs(comparison: ImageComparison) -> str:
    count = len(comparison.layers)
    if not count:
        return "the tag names another image (same layers)"
    return f"the tag names another image ({count} layer{' differs' if count == 1 else 's differ'})"


def _missing(client: RepositoryClient, ref: Reference) -> str:
    """Whether the repository exists at all (one more request, made only for a missing tag)."""
    what = f"tag {ref.tag}" if ref.tag else "the image's digest"
    try:
        response = client.transport.request(
            "GET",
            f"/v2/{ref.repository}/tags/list",
            scopes=client.scopes,
            ok=(200, 404),
            what=f"listing the tags of {client.name}",
        )
        response.close()
    except Exception:  # noqa: BLE001 - only the wording depends on it
        return f"no {what} in {client.name}"
    if response.status_code == 404:
        return f"no repository {client.name}"
    return f"no {what} in {client.name}"


def main(args: argparse.Namespace) -> int:
    command = VerifyCommand.from_args(args)
    result = verify_plan(VerifyPlan.read(command.plan))
    sys.stdout.write(result.dumps().decode() + "\n")
    return 0


__all__ = ["RegistrySource", "load_keys", "main", "signature_status", "verify_destination", "verify_plan"]
