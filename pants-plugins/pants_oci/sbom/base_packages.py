"""A base image's layers -> the Debian packages they record, one cached process per layer blob
(a layer shared by several bases, or built on by several images, is read once)."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import CreateDigest, Digest, DigestContents, DigestSubset, FileContent, MergeDigests, PathGlobs
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from ocikit.contracts.sbom import DpkgLayerScan, DpkgScanRequest, SbomDpkgCommand
from ocikit.image import Layer, PlatformImage
from ocikit.layout import blob_path
from ocikit.sbom.dpkg import merge_layers, sbom_packages
from ocikit.sbom.model import SbomPackage
from pants_oci.util_rules.core import OcikitRunner

_REQUEST = "scan-request.json"
_OUT = "scan.json"


@dataclass(frozen=True)
class BasePackagesRequest:
    image: PlatformImage  # the base image of one platform
    blobs: Digest  # holding its layers at blobs/sha256/<hex>
    name: str  # how the SBOM names the base


@dataclass(frozen=True)
class BasePackages:
    packages: tuple[SbomPackage, ...]


@dataclass(frozen=True)
class BaseLayerScanRequest:
    layer: Layer
    blobs: Digest


@rule(desc="Read the Debian packages of a base image layer", level=LogLevel.DEBUG)
async def scan_base_layer(request: BaseLayerScanRequest, runner: OcikitRunner) -> DpkgLayerScan:
    descriptor = request.layer.descriptor
    if "nondistributable" in descriptor.media_type or "foreign" in descriptor.media_type:
        return DpkgLayerScan({}, {})  # never pulled (Windows base layers): nothing to read
    path = blob_path(descriptor.digest)
    scan = DpkgScanRequest(blob=path, media_type=descriptor.media_type)
    blob, spec = await MultiGet(
        Get(Digest, DigestSubset(request.blobs, PathGlobs([path]))),
        Get(Digest, CreateDigest([FileContent(_REQUEST, scan.dumps())])),
    )
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            SbomDpkgCommand(request=_REQUEST, out=_OUT).to_argv(),
            input_digest=await Get(Digest, MergeDigests([blob, spec])),
            output_files=(_OUT,),
            description=f"Read the Debian packages of layer {descriptor.digest[:19]}",
            level=LogLevel.DEBUG,
        ),
    )
    contents = await Get(DigestContents, Digest, result.output_digest)
    return DpkgLayerScan.loads(contents[0].content, f"the scan of layer {descriptor.digest}")


@rule(desc="Read the Debian packages of a base image", level=LogLevel.DEBUG)
async def base_packages(request: BasePackagesRequest) -> BasePackages:
    scans = await MultiGet(
        Get(DpkgLayerScan, BaseLayerScanRequest(layer, request.blobs)) for layer in request.image.layers
    )
    view = merge_layers(scans)
    where = f"the layers of {request.name} ({request.image.platform})"
    return BasePackages(sbom_packages(view, where))


def rules():
    return collect_rules()
