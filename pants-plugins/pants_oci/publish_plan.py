"""What one `pants publish` sends where: pure functions over the images' fields and packages.

The publish rules gather each image's destinations and mount sources; these functions find two
targets aimed at one `registry/repository:tag` and write the contracts (ocikit's
`contracts.publish`) that `python -m ocikit published` and `push-run` read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

from pants.engine.addresses import Address
from pants.util.frozendict import FrozenDict

from ocikit.contracts.publish import (
    ALREADY_PUBLISHED,
    TO_PUSH,
    Attestation,
    CheckPlan,
    CheckResult,
    PublishImage,
    PushPlan,
    RunEntry,
    Signing,
)
from pants_oci.registries import OciRegistry
from pants_oci.stamping import Destination, StampError, StampValues, TemplatePattern, template_pattern


class OciPublishConflictError(Exception):
    """Two `oci_image` targets would write the same `registry/repository:tag`."""


@dataclass(frozen=True)
class ImagePlan:
    """One packaged image of a publish, with where it goes."""

    address: Address
    layout: str  # the layout's directory, relative to the packaged digest's root
    digest: str
    destinations: tuple[str, ...]
    mounts_from: tuple[str, ...]
    record: str  # where its publish record goes (an absolute path under dist/)
    attestations: tuple[tuple[str, str], ...] = ()  # (predicate type, JSON): attested when signing
    source: Optional[str] = None  # an `oci_promotion`'s `registry/repository@digest` (no layout)

    @property
    def key(self) -> str:
        return self.address.spec

    def contract(self) -> PublishImage:
        return PublishImage(
            self.key,
            self.layout,
            self.digest,
            self.destinations,
            self.mounts_from,
            tuple(Attestation(kind, json.loads(body)) for kind, body in self.attestations),
            self.source,
        )

    def run_entry(self, published: bool) -> RunEntry:
        return RunEntry(
            self.key, self.digest, self.destinations, ALREADY_PUBLISHED if published else TO_PUSH, record=self.record
        )


def push_destinations(address: str, repository: str, tags: tuple[str, ...]) -> tuple[str, ...]:
    if not tags:
        return (f"{address}/{repository}",)
    return tuple(f"{address}/{repository}:{tag}" for tag in tags)


def mount_sources(
    pulled_from: Sequence[str], base_repositories: Sequence[str], registries: Sequence[OciRegistry]
) -> tuple[str, ...]:
    """Where base layers may be mounted from instead of uploaded again: the repository a pulled
    base came from, and the repositories our own base images are published to on each registry."""
    sources = [*pulled_from, *(f"{r.address}/{repo}" for r in registries for repo in base_repositories)]
    return tuple(dict.fromkeys(sources))


@dataclass(frozen=True)
class TagClaims:
    """Every tagged destination of the repository's images, with its targets: `exact` when
    this run can stamp it whole, else a pattern (`patterns`) of what it can stamp to."""

    exact: FrozenDict[str, tuple[Address, ...]]
    patterns: tuple[tuple[Address, str, TemplatePattern], ...] = ()  # (target, template, pattern)


def _is_tagged(destination: str) -> bool:
    return ":" in destination.rsplit("/", 1)[-1]


def tag_claims(images: Iterable[tuple[Address, Sequence[str]]], values: Optional[StampValues] = None) -> TagClaims:
    """For every tagged destination (a template, pants_oci.stamping), the targets that would
    push to it. A destination without a tag pushes by digest only and cannot collide."""
    values = values or StampValues((), FrozenDict())
    owners: dict[str, set[Address]] = {}
    patterns: dict[tuple[Address, str], TemplatePattern] = {}
    for address, destinations in images:
        for destination in filter(_is_tagged, destinations):
            try:
                pattern = template_pattern(destination, values)
            except StampError:
                continue  # a bad template fails that image's own publish, naming it
            if pattern.unknown or pattern.has_digest:
                patterns[(address, destination)] = pattern
            else:
                owners.setdefault(pattern.partial, set()).add(address)
    return TagClaims(
        FrozenDict((d, tuple(sorted(a))) for d, a in sorted(owners.items())),
        tuple((a, d, p) for (a, d), p in sorted(patterns.items())),
    )


def _conflict(address: Address, others: Sequence[Address], destination: str) -> OciPublishConflictError:
    targets = sorted({address, *others})
    named = ", ".join(str(a) for a in targets[:-1]) + f" and {targets[-1]}"
    return OciPublishConflictError(
        f"{named} would {'both' if len(targets) == 2 else 'all'} be pushed to {destination}. "
        "Each `repository:tag` can name one image only, whichever targets a publish names: "
        "give all but one of them another `repository` or `image_tags` (or `skip_push=True`)."
    )


def refuse_conflicts(
    address: Address, destinations: Sequence[Union[str, Destination]], claims: TagClaims
) -> tuple[str, ...]:
    """Raise, naming the targets, when another target of the repository would push one of
    this image's tags: whichever was published last would win the tag. Returns warnings for
    what cannot be known in this run (another target's tag needs a variable that is unset).

    Another target's `{image.digest*}` is unknown without building it, so its template is a
    pattern: refused when it can stamp to this tag, except when both images share the same
    template, whose tags then differ whenever their digests' stamped prefixes do."""
    warnings = []
    for destination in destinations:
        reference, partial = (
            (destination, destination) if isinstance(destination, str) else (destination.reference, destination.partial)
        )
        others = [a for a in claims.exact.get(reference, ()) if a != address]
        if others:
            raise _conflict(address, others, reference)
        for other, template, pattern in claims.patterns:
            if other == address or not re.fullmatch(pattern.regex, reference):
                continue
            if pattern.unknown:
                warnings.append(
                    f"Cannot tell whether {other} is pushed to {reference} too (as {template}): {pattern.unknown[0]}."
                )
            elif pattern.partial != partial:
                raise OciPublishConflictError(
                    f"{address} would be pushed to {reference}, and {other} would be too if its image's digest "
                    f"stamps {template} to it (unknown until it is built). Each `repository:tag` can name one "
                    "image only: make their `image_tags` differ in their literal text, e.g. a prefix."
                )
    return tuple(warnings)


def check_plan(
    images: Sequence[ImagePlan], insecure: Sequence[str], jobs: int, signing: Optional[Signing] = None
) -> bytes:
    """The plan `ocikit published` reads."""
    return CheckPlan(tuple(i.contract() for i in images), tuple(sorted(set(insecure))), jobs, signing).dumps()


def push_plan(
    to_push: Sequence[ImagePlan],
    batch_id: str,
    run_dir: str,
    run_record: str,
    insecure: Sequence[str],
    jobs: int,
    signing: Optional[Signing] = None,
) -> bytes:
    """The plan `ocikit push-run` reads: the batch's images to push, and the run's record."""
    return PushPlan(
        batch_id, run_dir, run_record, tuple(i.contract() for i in to_push), tuple(sorted(set(insecure))), jobs, signing
    ).dumps()


def read_check_result(stdout: bytes) -> CheckResult:
    return CheckResult.loads(stdout, "the output of `ocikit published`")
