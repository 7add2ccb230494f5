"""Which images a registry already serves: one HEAD per destination, all at once.

`pants publish` asks this before pushing anything, so that an image whose every tag already
names its digest costs one HEAD instead of a push. A destination counts as published only
when the registry answers its tag (or, without a tag, the digest) with exactly the image's
digest; anything else, a failure included, leaves the image to the push, which then checks
each blob and reports any error properly. When `publish` signs, the image must also be signed
by our key and attested (`SignatureCheck`): a signature is verified, not only found.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from ocikit.reference import is_listed, parse_reference, parse_registry
from ocikit.registry.auth import DefaultKeychain, Keychain
from ocikit.registry.client import RepositoryClient
from ocikit.registry.errors import describe_error
from ocikit.registry.transport import DEFAULT_TIMEOUT, RetryPolicy, Transport
from ocikit.signing.keys import VerifyKey
from ocikit.verify import OncePerKey

if TYPE_CHECKING:
    from ocikit.registry.attest import Predicate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DestinationState:
    destination: str
    published: bool
    detail: str  # what the registry answered: the digest it serves, "absent", or the error


def check_destinations(
    destinations: Iterable[tuple[str, str]],
    *,
    insecure_registries: Iterable[str] = (),
    keychain: Optional[Keychain] = None,
    jobs: int = 8,
    retry: RetryPolicy = RetryPolicy(attempts=2),
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    signature: Optional[SignatureCheck] = None,
    predicates: Optional[dict[str, Sequence["Predicate"]]] = None,
) -> dict[str, DestinationState]:
    """For each (destination, digest): does the registry serve that digest there (and, with a
    `signature` check, signed by our key and attested)? HEADs run on up to `jobs` threads, with
    one transport per registry."""
    wanted = dict(destinations)
    insecure = {parse_registry(r) for r in insecure_registries}
    keychain = keychain if keychain is not None else DefaultKeychain()
    refs = {d: parse_reference(d) for d in wanted}
    transports: dict[str, Transport] = {}
    for ref in refs.values():
        if ref.registry not in transports:
            api_host = ref.api_host
            transports[ref.registry] = Transport(
                api_host,
                keychain=keychain,
                retry=retry,
                timeout=timeout,
                pool_size=jobs,
                insecure=is_listed(ref.registry, insecure) or is_listed(api_host, insecure),
            )

    signature_gaps = OncePerKey()

    def check(destination: str) -> DestinationState:
        ref, digest = refs[destination], wanted[destination]
        client = RepositoryClient(transports[ref.registry], ref.repository)
        try:
            info = client.head_manifest(ref.tag or ref.digest or digest)
        except Exception as e:  # noqa: BLE001 - the push reports it; here it only means "push"
            return DestinationState(destination, False, describe_error(e))
        if info is None:
            return DestinationState(destination, False, "absent")
        if info.digest == digest and signature is not None:
            repository = f"{ref.registry}/{ref.repository}"
            attested = (predicates or {}).get(destination, ())
            # An image's tags in one repository share its signatures: verified once for all.
            key = (repository, digest, tuple((p.type, json.dumps(p.body, sort_keys=True)) for p in attested))
            gap = signature_gaps.get(key, lambda: signature.gap(client, repository, digest, attested))
            if gap:
                return DestinationState(destination, False, f"{info.digest}, {gap}")
        return DestinationState(destination, info.digest == digest, info.digest)

    try:
        with ThreadPoolExecutor(
            max_workers=max(1, min(jobs, len(wanted) or 1)), thread_name_prefix="ocikit-check"
        ) as pool:
            states = list(pool.map(check, list(wanted)))
    finally:
        for transport in transports.values():
            transport.close()
    return {s.destination: s for s in states}


@dataclass(frozen=True)
class SignatureCheck:
    """What makes a served image count as published when `publish` signs: a signature of its
    digest (and, by option, of each platform manifest) that verifies with our public key, and
    each attestation we would attach, signed by that key. `key` is None where the check has no
    public key (ocikit.signing.key_memo): then nothing counts, and the push decides."""

    key: Optional[VerifyKey]
    platform_manifests: bool = False

    def gap(
        self, client: RepositoryClient, reference: str, digest: str, predicates: Sequence["Predicate"]
    ) -> Optional[str]:
        """What is missing ("unsigned", "not attested", ...), or None."""
        from ocikit.registry.attest import verified_statements
        from ocikit.registry.sign import is_signed
        from ocikit.signing.dsse import statement

        if self.key is None:
            return "signature not checked (the signing key is new here: the push checks it)"
        try:
            for signed in [digest, *(self._children(client, digest) if self.platform_manifests else ())]:
                if is_signed(client, signed, [self.key]) is None:
                    return "unsigned" if signed == digest else f"platform manifest {signed} unsigned"
            wanted = {statement(reference, digest, p.type, p.body) for p in predicates}
            if wanted and not wanted <= {body for _, body in verified_statements(client, digest, [self.key])}:
                return "not attested"
        except Exception as e:  # noqa: BLE001 - then the push signs and attests, and reports any error
            return f"signature not checked: {describe_error(e)}"
        return None

    @staticmethod
    def _children(client: RepositoryClient, digest: str) -> list[str]:
        manifest = json.loads(client.get_manifest(digest).data or b"{}")
        return [m["digest"] for m in manifest.get("manifests") or ()]


def published_keys(images: Sequence[tuple[str, str, Sequence[str]]], states: dict[str, DestinationState]) -> list[str]:
    """The keys of the images (key, digest, destinations) whose every destination is published."""
    return [key for key, _, destinations in images if destinations and all(states[d].published for d in destinations)]


def published_summary(digest: str, destinations: Sequence[str]) -> dict:
    """The record of an image found published: what a push that found everything there
    writes (every repository's manifest present, nothing sent)."""
    from ocikit.registry.push import PushedImage, PushStats, PushSummary

    repositories: dict[str, list[str]] = {}
    for destination in destinations:
        ref = parse_reference(destination)
        tags = repositories.setdefault(f"{ref.registry}/{ref.repository}", [])
        if ref.tag:
            tags.append(ref.tag)
    pushed = tuple(PushedImage(f"{repo}@{digest}", digest, tuple(tags)) for repo, tags in repositories.items())
    return PushSummary(digest, pushed, PushStats(manifests_present=len(pushed))).to_json()


__all__ = ["DestinationState", "SignatureCheck", "check_destinations", "published_keys", "published_summary"]
