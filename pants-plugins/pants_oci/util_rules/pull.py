"""Base images from registries: fetched by a process keyed by digest, cached like layers."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants_oci.registries import parse_registries
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.core import PULL_ENV, OcikitRunner
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestContents, DigestSubset, PathGlobs, RemovePrefix
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from ocikit import media_types
from ocikit.image import Blob, Descriptor, Layer, Platform, PlatformImage
from ocikit.layout import blob_path
from ocikit.reference import Reference

_OUT = "pulled"

# A layer's bytes do not change with the media type's vendor prefix.
_LAYER_TYPE_MAP = {media_types.DOCKER_LAYER_GZIP: media_types.OCI_LAYER_GZIP}


@dataclass(frozen=True)
class PullImageRequest:
    reference: Reference  # with a digest
    platforms: tuple[Platform, ...]
    what: str


@dataclass(frozen=True)
class PulledImage:
    reference: Reference
    images: tuple[PlatformImage, ...]
    blobs: Digest  # blobs/sha256/<hex> for every manifest, config and layer pulled


@rule(desc="Pull a base image by digest", level=LogLevel.DEBUG)
async def pull_base_image(
    request: PullImageRequest, runner: OcikitRunner, oci: OciSubsystem
) -> PulledImage:
    ref = request.reference
    insecure = [r.address for r in parse_registries(oci.registries) if r.insecure]
    args = ["pull", str(ref), "--out", _OUT]
    for platform in request.platforms:
        args += ["--platform", str(platform)]
    for address in insecure:
        args += ["--insecure-registry", address]
    # Only what the user set enters the cache key: no HOME, PATH or runtime dir.
    env = await Get(EnvironmentVars, EnvironmentVarsRequest([*PULL_ENV, *oci.env_vars]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            args,
            env=env,
            output_directories=(_OUT,),
            description=f"Pull {ref} for {request.what}",
            level=LogLevel.INFO,
            # Keyed by the digest: the verified result is the same forever.
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    layout = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    index_contents = await Get(DigestContents, DigestSubset(layout, PathGlobs(["index.json"])))
    index = json.loads(index_contents[0].content)
    descriptors = [Descriptor.from_json(m) for m in index["manifests"]]
    manifests = await Get(
        DigestContents, DigestSubset(layout, PathGlobs([blob_path(d.digest) for d in descriptors]))
    )
    manifest_bytes = {fc.path: fc.content for fc in manifests}
    manifest_json = [json.loads(manifest_bytes[blob_path(d.digest)]) for d in descriptors]
    configs = await Get(
        DigestContents,
        DigestSubset(layout, PathGlobs([blob_path(m["config"]["digest"]) for m in manifest_json])),
    )
    config_bytes = {fc.path: fc.content for fc in configs}
    images = []
    for descriptor, manifest in zip(descriptors, manifest_json):
        config_desc = Descriptor.from_json(manifest["config"])
        config_data = config_bytes[blob_path(config_desc.digest)]
        diff_ids = json.loads(config_data)["rootfs"]["diff_ids"]
        layers = tuple(
            Layer(
                Descriptor(
                    _LAYER_TYPE_MAP.get(l["mediaType"], l["mediaType"]), l["digest"], int(l["size"])
                ),
                diff_id,
            )
            for l, diff_id in zip(manifest["layers"], diff_ids)
        )
        images.append(
            PlatformImage(
                platform=descriptor.platform or Platform("linux", "amd64"),
                config=Blob(config_data, Descriptor(media_types.OCI_CONFIG, config_desc.digest, config_desc.size)),
                manifest=Blob(manifest_bytes[blob_path(descriptor.digest)], descriptor),
                layers=layers,
            )
        )
    blobs = await Get(Digest, DigestSubset(layout, PathGlobs(["blobs/**"])))
    return PulledImage(ref, tuple(images), blobs)


def rules():
    return collect_rules()
