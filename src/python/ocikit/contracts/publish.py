"""The contracts of `pants publish` between the plugin's rules and `ocikit published|push-run`.

A publish run checks a batch of images at once (`CheckPlan` -> `CheckResult`) and pushes the
batch's unpublished images in one process (`PushPlan`). Which images the run really holds is
not the batch: it is the images the publish goal asked the plugin for, each registered in the
run's directory as a `RunEntry` (ocikit.registry.run_record). A push pushes only images that
are both in its plan and registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from ocikit.contract import Contract

ALREADY_PUBLISHED = "already published"
TO_PUSH = "to push"
PUSHED = "pushed"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Attestation(Contract):
    """A predicate to attest about an image (in-toto statement, DSSE-signed), e.g. SLSA
    provenance or the image's SPDX document."""

    KIND = "publish-attestation"

    predicate_type: str
    predicate: Any


@dataclass(frozen=True)
class PublishImage(Contract):
    """One image of a batch: its layout (or, promoted, the registry image it is copied from),
    digest, where it goes and where its layers may be mounted from."""

    KIND = "publish-image"

    key: str  # the target's address
    layout: str  # the layout directory, relative to the push's --layouts directory ("" for a promotion)
    digest: str
    destinations: tuple[str, ...]
    mounts_from: tuple[str, ...] = ()
    attestations: tuple[Attestation, ...] = ()  # attached when the push signs
    # An `oci_promotion`: `registry/repository@digest` to copy from, instead of a layout.
    source: Optional[str] = None


@dataclass(frozen=True)
class Signing(Contract):
    """How `push-run` signs: the key's path (read by the push process only) and the variable
    holding its password (the value reaches the process's environment, never a file)."""

    KIND = "publish-signing"

    key: str
    password_env: str
    platform_manifests: bool = False


@dataclass(frozen=True)
class CheckPlan(Contract):
    """`ocikit published --plan`: the images whose destinations to look up."""

    KIND = "publish-check-plan"

    images: tuple[PublishImage, ...]
    insecure_registries: tuple[str, ...] = ()
    jobs: int = 4
    # With signing, an image counts as published only signed by our key (and attested). The
    # check only stats the key's file: its public half comes from ocikit.signing.key_memo.
    signing: Optional[Signing] = None


@dataclass(frozen=True)
class CheckResult(Contract):
    """What `ocikit published` prints: the batch's id (new on every run: it names the push's
    answer files) and the images whose every destination already serves their digest."""

    KIND = "publish-check-result"

    batch_id: str
    published: tuple[str, ...]
    checked: dict[str, str]  # destination -> what the registry answered (a digest, "absent", an error)
    records: dict[str, dict] = field(default_factory=dict)  # key -> its record, for each published image


@dataclass(frozen=True)
class PushPlan(Contract):
    """`ocikit push-run --plan`: the batch's images to push, and the run they belong to."""

    KIND = "publish-push-plan"

    batch_id: str
    run_dir: str  # the run's registrations (ocikit.registry.run_record)
    run_record: str  # dist/oci-publish.json
    images: tuple[PublishImage, ...]
    insecure_registries: tuple[str, ...] = ()
    jobs: int = 4
    signing: Optional[Signing] = None


@dataclass(frozen=True)
class RunEntry(Contract):
    """One image of a run, as the run record lists it."""

    KIND = "publish-run-entry"

    key: str
    digest: str
    destinations: tuple[str, ...]
    status: str  # ALREADY_PUBLISHED, TO_PUSH, PUSHED, FAILED or INTERRUPTED
    record: Optional[str] = None  # the image's own record: dist/<output path>.publish.json
    error: Optional[str] = None
    seconds: Optional[float] = None
    push: Optional[dict] = None  # the push's summary (ocikit.registry.push.PushSummary)

    def with_outcome(
        self, status: str, error: Optional[str] = None, seconds: Optional[float] = None, push: Optional[dict] = None
    ) -> "RunEntry":
        return replace(self, status=status, error=error, seconds=seconds, push=push)

    def for_record(self) -> dict:
        """The entry as dist/oci-publish.json shows it (no unset keys, no path of ours)."""
        shown = {"key": self.key, "digest": self.digest, "destinations": list(self.destinations), "status": self.status}
        for name in ("error", "seconds", "push"):
            value = getattr(self, name)
            if value is not None:
                shown[name] = value
        return shown
