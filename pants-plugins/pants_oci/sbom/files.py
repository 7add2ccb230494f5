"""First-party files (a digest and the address of each file's owner) -> SBOM files with both
digests: Pants' SHA-256, and the SHA1 that SPDX 2.3 requires.

The layer processes record the SHA1 of every file they write (`LayerDescriptor.file_sha1s`),
so an image's own files are usually all known. An `oci_layer`'s files are listed once per
layer process (`LayerSbomFilesRequest`, keyed by how the image built the layer, then
`LayerPartSbomFilesRequest` per shard): two images sharing a layer share its lists, and an edit
lists again only the shard it touched. The files of a layer another backend built are matched
against the image's SHA1s.

The rest is hashed here. A small tree (an app's code, typically: what is edited most) is hashed
in the rule, from the store, which costs less than a sandbox and a process; its contents stay in
pantsd's memory as long as the rule's result does, hence the bound. A larger tree is hashed by
cached processes keyed by the files (their contents never enter the rules' memory), in buckets
chosen by path: a one-file edit hashes that file's bucket again, not the layer.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, DigestContents, DigestEntries, FileContent, FileEntry
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.contracts.sbom import FileSha1s, SbomSha1Command
from ocikit.sbom.document import file_list
from ocikit.sbom.model import SbomFile
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.layer_shards import LayerShards, LayerShardsRequest
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart
from pants_oci.util_rules.worker_runner import OcikitRunner

_ROOT = "files"
_OUT = "sha1s.json"
# A bucket holds about this much: hashing costs little next to writing the files into a sandbox.
BUCKET_BYTES = 32 << 20
BUCKET_FILES = 1000
# At most this much is hashed in the rule (and held in memory with its result).
IN_MEMORY_BYTES = 8 << 20
IN_MEMORY_FILES = 1000


@dataclass(frozen=True)
class ContributedFilesRequest:
    files: Digest  # at their paths in the image, without the leading "/"
    owners: FrozenDict[str, str]  # path -> the address that put it there
    fallback_owner: str  # for a path `owners` lacks
    what: str  # how the processes are described: "oci_layer //app:layer"
    # The image whose layers recorded the files' SHA1s. Its address, not the SHA1s themselves:
    # a request is a key pantsd keeps, so it must stay small and the same across edits.
    image: Optional[Address] = None


# Where a ContributedFiles' `listing` digest holds its SbomFileList.
LISTING = "files.json"


@dataclass(frozen=True)
class ContributedFiles:
    """The files as an `ocikit.contracts.sbom.SbomFileList` at LISTING, made once per layer:
    the SBOM document's process reads it (no document passes through the rules)."""

    listing: Digest


@dataclass(frozen=True)
class FileSha1Request:
    files: Digest  # below _ROOT
    what: str


def bucket_count(files: int, size: int) -> int:
    """How many buckets a tree is hashed in: a power of two, so that a tree growing past a
    bound splits each bucket in two rather than moving most files to another bucket."""
    wanted = max(1, -(-size // BUCKET_BYTES), -(-files // BUCKET_FILES))
    return 1 << (wanted - 1).bit_length()


def bucket_of(path: str, buckets: int) -> int:
    return int.from_bytes(hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()[:8], "big") % buckets


@rule(desc="Hash files for an OCI image's SBOM", level=LogLevel.DEBUG)
async def hash_files(request: FileSha1Request, runner: OcikitRunner) -> FileSha1s:
    result = await Get(
        ProcessResult,
        Process,
        runner.process(
            SbomSha1Command(root=_ROOT, out=_OUT).to_argv(),
            input_digest=request.files,
            output_files=(_OUT,),
            description=f"Hash the files of {request.what} for the SBOM",
            level=LogLevel.DEBUG,
        ),
    )
    contents = await Get(DigestContents, Digest, result.output_digest)
    return FileSha1s.loads(contents[0].content, f"the SHA1s of {request.what}")


async def _bucketed_sha1s(entries: list[FileEntry], size: int, what: str) -> dict[str, str]:
    count = bucket_count(len(entries), size)
    buckets: dict[int, list[FileEntry]] = defaultdict(list)
    for entry in entries:
        buckets[bucket_of(entry.path, count)].append(FileEntry(f"{_ROOT}/{entry.path}", entry.file_digest))
    digests = await MultiGet(Get(Digest, CreateDigest(buckets[b])) for b in sorted(buckets))
    hashed = await MultiGet(
        Get(FileSha1s, FileSha1Request(d, what if count == 1 else f"{what} (bucket {b + 1} of {count})"))
        for b, d in zip(sorted(buckets), digests)
    )
    return {path: value for found in hashed for path, value in found.sha1.items()}


@dataclass(frozen=True)
class ImageFileSha1s:
    by_sha256: FrozenDict[str, str]  # every file its own layers hold


@rule(desc="Gather the SHA1s an OCI image's layers recorded", level=LogLevel.DEBUG)
async def image_file_sha1s(request: OciImageRequest) -> ImageFileSha1s:
    """Merged once per image, for all its layers' SBOM requests, and only when an SBOM is
    written: the image build itself keeps each layer's mapping as it came."""
    built = await Get(BuiltOciImage, OciImageRequest, request)
    return ImageFileSha1s(FrozenDict((k, v) for sha1s in built.layer_file_sha1s for k, v in sha1s.items()))


async def _unknown_sha1s(request: ContributedFilesRequest, entries: list[FileEntry]) -> dict[str, str]:
    if not entries:
        return {}
    size = sum(e.file_digest.serialized_bytes_length for e in entries)
    if size <= IN_MEMORY_BYTES and len(entries) <= IN_MEMORY_FILES:
        digest = await Get(Digest, CreateDigest(entries))
        contents = await Get(DigestContents, Digest, digest)
        return {fc.path: hashlib.sha1(fc.content).hexdigest() for fc in contents}
    return await _bucketed_sha1s(entries, size, request.what)


async def _sbom_files(
    request: ContributedFilesRequest, entries: list[FileEntry], known: Mapping[str, str], prefix: str = ""
) -> ContributedFiles:
    """`entries` (paths in `request.files`) as SBOM files at `/<prefix><path>`: the SHA1s
    `known` by SHA-256, the others hashed."""
    sha1 = {e.path: known[e.file_digest.fingerprint] for e in entries if e.file_digest.fingerprint in known}
    sha1.update(await _unknown_sha1s(request, [e for e in entries if e.path not in sha1]))
    files = tuple(
        SbomFile(
            path=f"/{prefix}{entry.path}",
            sha256=entry.file_digest.fingerprint,
            sha1=sha1[entry.path],
            contributor=request.owners.get(entry.path, request.fallback_owner),
        )
        for entry in sorted(entries, key=lambda e: e.path)
    )
    return ContributedFiles(await Get(Digest, CreateDigest([FileContent(LISTING, file_list(files).dumps())])))


def _files(entries: Iterable[object]) -> list[FileEntry]:
    return [e for e in entries if isinstance(e, FileEntry)]


@rule(desc="Hash the first-party files of an OCI image for its SBOM", level=LogLevel.DEBUG)
async def hash_contributed_files(request: ContributedFilesRequest) -> ContributedFiles:
    if request.files == EMPTY_DIGEST:
        return await _sbom_files(request, [], {})
    entries = _files(await Get(DigestEntries, Digest, request.files))
    known = (await Get(ImageFileSha1s, OciImageRequest(request.image))).by_sha256 if request.image else FrozenDict()
    return await _sbom_files(request, entries, known)


@dataclass(frozen=True)
class LayerSbomFilesRequest:
    """An `oci_layer`'s files, as the image that asks built the layer (`BuiltOciImage.layer_shards`):
    the same key reaches the image build's own, memoized layer processes and their SHA1s."""

    layer: LayerShardsRequest


@dataclass(frozen=True)
class LayerSbomFiles:
    """One listing (`ContributedFiles.listing`) per process of the layer: its shards hold
    disjoint paths, so the document merges them as it merges layers."""

    listings: tuple[Digest, ...]


@dataclass(frozen=True)
class LayerPartSbomFilesRequest:
    """One layer process's files (the whole layer, or one shard). Keyed by the part and its own
    owners only: an edit lists again the shard it touched, not the rest of the layer."""

    part: LayerPart
    owners: FrozenDict[str, str]  # the part's paths -> the address that put each there
    fallback_owner: str
    prefix: str  # the destination, as the start of a path in the image ("srv/app/", or "")


@rule(desc="List the files of an OCI layer for its image's SBOM", level=LogLevel.DEBUG)
async def layer_sbom_files(request: LayerSbomFilesRequest) -> LayerSbomFiles:
    layer = request.layer.layer.layer
    inputs, shards = await MultiGet(
        Get(LayerInputs, OciLayerRequest, layer), Get(LayerShards, LayerShardsRequest, request.layer)
    )
    parts = [part for part, _ in shards.parts]
    entries = await MultiGet(Get(DigestEntries, Digest, part.files) for part in parts)
    prefix = layer.destination.strip("/")
    listed = await MultiGet(
        Get(
            ContributedFiles,
            LayerPartSbomFilesRequest(
                part,
                FrozenDict((e.path, inputs.owners[e.path]) for e in _files(found) if e.path in inputs.owners),
                str(layer.address),
                f"{prefix}/" if prefix else "",
            ),
        )
        for part, found in zip(parts, entries)
    )
    return LayerSbomFiles(tuple(found.listing for found in listed))


@rule(desc="List the files of an OCI layer's process for its image's SBOM", level=LogLevel.DEBUG)
async def layer_part_sbom_files(request: LayerPartSbomFilesRequest) -> ContributedFiles:
    entries, built = await MultiGet(
        Get(DigestEntries, Digest, request.part.files), Get(BuiltOciLayer, LayerPart, request.part)
    )
    # Only a file the process did not record (a layer cached before SHA1s were recorded) is hashed.
    hashing = ContributedFilesRequest(request.part.files, request.owners, request.fallback_owner, request.part.what)
    return await _sbom_files(hashing, _files(entries), built.file_sha1s, request.prefix)


def rules():
    return collect_rules()
