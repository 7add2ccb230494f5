"""Base images from registries: fetched by a process keyed by digest, cached like layers."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestContents, DigestSubset, PathGlobs, RemovePrefix
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from ocikit.contracts.pull import PullCommand
from ocikit.image import Descriptor, Platform, PlatformImage, pulled_platform_image
from ocikit.layout import blob_path
from ocikit.reference import Reference
from pants_oci.registries import OciRegistries
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.core import PULL_ENV, OcikitRunner

_OUT = "pulled"


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


def pull_command(request: PullImageRequest, registries: OciRegistries) -> PullCommand:
    return PullCommand(
        str(request.reference),
        out=_OUT,
        platforms=tuple(str(p) for p in request.platforms),
        insecure_registries=registries.insecure_addresses,
    )


async def _json_files(layout: Digest, paths: list[str]) -> dict[str, bytes]:
    contents = await Get(DigestContents, DigestSubset(layout, PathGlobs(paths)))
    return {fc.path: fc.content for fc in contents}


async def _platform_images(layout: Digest) -> tuple[PlatformImage, ...]:
    """The images a pulled layout holds: its index.json names one manifest per platform."""
    index = json.loads((await _json_files(layout, ["index.json"]))["index.json"])
    descriptors = [Descriptor.from_json(m) for m in index["manifests"]]
    manifests = await _json_files(layout, [blob_path(d.digest) for d in descriptors])
    config_paths = [blob_path(json.loads(manifests[blob_path(d.digest)])["config"]["digest"]) for d in descriptors]
    configs = await _json_files(layout, config_paths)
    return tuple(
        pulled_platform_image(d, manifests[blob_path(d.digest)], configs[path])
        for d, path in zip(descriptors, config_paths)
    )


@rule(desc="Pull a base image by digest", level=LogLevel.DEBUG)
async def pull_base_image(request: PullImageRequest, runner: OcikitRunner, oci: OciSubsystem) -> PulledImage:
    ref = request.reference
    # Only what the user set enters the cache key: no HOME, PATH or runtime dir.
    env = await Get(EnvironmentVars, EnvironmentVarsRequest([*PULL_ENV, *oci.env_vars]))
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            pull_command(request, oci.registries()).to_argv(),
            env=env,
            output_directories=(_OUT,),
            description=f"Pull {ref} for {request.what}",
            level=LogLevel.INFO,
            # Keyed by the digest: the verified result is the same forever.
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    layout = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    images = await _platform_images(layout)
    blobs = await Get(Digest, DigestSubset(layout, PathGlobs(["blobs/**"])))
    return PulledImage(ref, images, blobs)


def rules():
    return collect_rules()
