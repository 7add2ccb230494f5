"""SLSA v1 provenance of an image, from what the build graph knows: a pure function.

Deterministic by design: the same inputs give the same predicate, so a re-publish of an
unchanged image finds its attestation already there and attests nothing again. That is why it
records the target and the build's inputs but not the command line or a time of invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

BUILD_TYPE = "urn:pants-oci:buildType:oci_image:v1"
BUILDER_ID = "urn:pants-oci:builder:pants"


@dataclass(frozen=True)
class LayerFact:
    platform: str
    diff_id: str
    digest: str
    created_by: str  # which target (or part of it) the layer holds


@dataclass(frozen=True)
class ProvenanceFacts:
    target: str
    pants_version: str
    plugin_version: str
    source_date_epoch: int
    compression: str
    base: str  # "scratch", a reference, or a target address
    base_digests: tuple[tuple[str, str], ...]  # (platform, manifest digest)
    layers: tuple[LayerFact, ...]
    lockfiles: tuple[tuple[str, str], ...] = ()  # (path from the build root, sha256 digest)


def _digest(value: str) -> dict[str, str]:
    algorithm, _, hex_ = value.partition(":")
    return {algorithm: hex_}


def provenance_predicate(facts: ProvenanceFacts) -> dict[str, Any]:
    dependencies: list[dict[str, Any]] = [
        {"name": f"base {platform}", "uri": facts.base, "digest": _digest(digest)}
        for platform, digest in facts.base_digests
    ]
    dependencies += [
        {
            "name": f"layer {n} {layer.platform}",
            "digest": _digest(layer.diff_id),
            "annotations": {"blob": layer.digest, "created_by": layer.created_by},
        }
        for n, layer in enumerate(facts.layers)
    ]
    dependencies += [{"uri": f"file:{path}", "digest": _digest(digest)} for path, digest in facts.lockfiles]
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"target": facts.target, "base": facts.base},
            "internalParameters": {
                "pants": facts.pants_version,
                "pants-oci": facts.plugin_version,
                "source_date_epoch": facts.source_date_epoch,
                "compression": facts.compression,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"pants": facts.pants_version, "pants-oci": facts.plugin_version}}
        },
    }


def layer_facts(platform: str, layers: Sequence[Any]) -> tuple[LayerFact, ...]:
    """Facts of an image's layers (ocikit.image.Layer values), in order."""
    return tuple(LayerFact(platform, layer.diff_id, layer.descriptor.digest, layer.created_by) for layer in layers)


def base_name(base: Optional[str]) -> str:
    return base or "scratch"
