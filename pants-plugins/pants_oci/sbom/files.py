"""First-party files (a digest and the address of each file's owner) -> SBOM files with both
digests: Pants' SHA-256, and the SHA1 that SPDX 2.3 requires, hashed by a cached process
keyed by the files (their contents never enter the rules' memory)."""

from __future__ import annotations

from dataclasses import dataclass

from pants_oci.util_rules.core import OcikitRunner
from pants.engine.fs import EMPTY_DIGEST, AddPrefix, Digest, DigestContents, DigestEntries, FileEntry
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from ocikit.sbom.model import SbomFile
from ocikit.sbom.worker import FileSha1s

_ROOT = "files"
_OUT = "sha1s.json"


@dataclass(frozen=True)
class ContributedFilesRequest:
    files: Digest  # at their paths in the image, without the leading "/"
    owners: FrozenDict[str, str]  # path -> the address that put it there
    fallback_owner: str  # for a path `owners` lacks
    what: str  # how the process is described: "oci_layer //app:layer"


@dataclass(frozen=True)
class ContributedFiles:
    files: tuple[SbomFile, ...]  # sorted by path


@rule(desc="Hash the first-party files of an OCI image for its SBOM", level=LogLevel.DEBUG)
async def hash_contributed_files(request: ContributedFilesRequest, runner: OcikitRunner) -> ContributedFiles:
    if request.files == EMPTY_DIGEST:
        return ContributedFiles(())
    placed = await Get(Digest, AddPrefix(request.files, _ROOT))
    entries, result = await MultiGet(
        Get(DigestEntries, Digest, request.files),
        Get(
            ProcessResult,
            Process,
            runner.process(
                ("sbom", "sha1", "--root", _ROOT, "--out", _OUT),
                input_digest=placed,
                output_files=(_OUT,),
                description=f"Hash the files of {request.what} for the SBOM",
                level=LogLevel.DEBUG,
            ),
        ),
    )
    contents = await Get(DigestContents, Digest, result.output_digest)
    sha1 = FileSha1s.loads(contents[0].content, f"the SHA1s of {request.what}").sha1
    return ContributedFiles(
        tuple(
            SbomFile(
                path=f"/{entry.path}",
                sha256=entry.file_digest.fingerprint,
                sha1=sha1[entry.path],
                contributor=request.owners.get(entry.path, request.fallback_owner),
            )
            for entry in sorted(entries, key=lambda e: e.path)
            if isinstance(entry, FileEntry)
        )
    )


def rules():
    return collect_rules()
