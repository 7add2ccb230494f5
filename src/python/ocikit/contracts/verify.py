"""`python -m ocikit verify`: its command line, the plan it reads and the result it prints.

`pants oci-verify` packages each image, then one process checks every destination of every
image (`VerifyPlan` -> `VerifyResult`): what the tag names in the registry, whether a
signature there verifies with one of the public keys, and, for a tag naming another digest,
which layers and paths differ. The goal prints the result as a table and writes it, whole, to
dist/oci-verify.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract

# The result of one tag, as the table and dist/oci-verify.json show it.
MATCHES_SIGNED = "matches, signed"
MATCHES_UNSIGNED = "matches, unsigned"
MATCHES_NO_KEYS = "matches (no verify keys configured)"
DIFFERS = "differs"
MISSING = "missing"
ERROR = "error"
SKIPPED = "skipped"  # nothing to check: `skip_push`, or no registries
# What passes: with keys configured an unsigned match fails (`[oci-verify].keys` says a
# signature is expected); a skipped image has no tag to check.
PASSING = (MATCHES_SIGNED, MATCHES_NO_KEYS, SKIPPED)

# How a path changes from the registry's image to this commit's.
ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"


@dataclass(frozen=True)
class VerifyCommand(CommandLine):
    """Check what the registries hold for the images of a plan (`ocikit.registry.verify`)."""

    COMMAND = "verify"

    plan: str = option("--plan", "the images and destinations to check: a VerifyPlan as JSON", metavar="PLAN.json")


@dataclass(frozen=True)
class PublicKey(Contract):
    """A PEM file of `[oci-verify].keys` (public keys: no secret), named as the option names it."""

    KIND = "verify-public-key"

    name: str
    pem: str


@dataclass(frozen=True)
class VerifyImage(Contract):
    """One packaged image: its layout (relative to the process's directory), its digest, and
    the destinations `publish` would push it to."""

    KIND = "verify-image"

    key: str  # the target's address
    layout: str
    digest: str
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class VerifyPlan(Contract):
    KIND = "verify-plan"

    images: tuple[VerifyImage, ...]
    keys: tuple[PublicKey, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    jobs: int = 4
    max_paths: int = 20  # paths listed per differing layer; the rest are counted


@dataclass(frozen=True)
class PathDifference(Contract):
    """A path whose entry differs, from the registry's layer to this commit's: ADDED (only
    here), REMOVED (only in the registry) or CHANGED, with what changed."""

    KIND = "verify-path-difference"

    path: str
    change: str
    detail: str = ""


@dataclass(frozen=True)
class LayerDifference(Contract):
    """Layer `index` of one platform's manifest, where the two images' layers differ. A side
    without the layer (one image has fewer layers) has None."""

    KIND = "verify-layer-difference"

    index: int
    platform: str
    summary: str
    here_digest: Optional[str] = None
    here_diff_id: Optional[str] = None
    registry_digest: Optional[str] = None
    registry_diff_id: Optional[str] = None
    paths: tuple[PathDifference, ...] = ()
    more_paths: int = 0  # differing paths beyond those listed


@dataclass(frozen=True)
class TagVerdict(Contract):
    """What one destination (`registry/repository:tag`) holds compared with this commit's image."""

    KIND = "verify-tag-verdict"

    key: str
    reference: str
    status: str  # one of the constants above
    digest: str  # this commit's
    detail: str = ""
    registry_digest: Optional[str] = None
    notes: tuple[str, ...] = ()  # platforms and config keys that differ
    layers: tuple[LayerDifference, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in PASSING


@dataclass(frozen=True)
class VerifyResult(Contract):
    """What `ocikit verify` prints, and what dist/oci-verify.json holds (with skipped images)."""

    KIND = "verify-result"

    verdicts: tuple[TagVerdict, ...]
    ok: bool  # every verdict passes

    @classmethod
    def of(cls, verdicts) -> "VerifyResult":
        verdicts = tuple(verdicts)
        return cls(verdicts, all(v.ok for v in verdicts))
