"""What a layer blob holds, entry by entry, read as a stream: the tar is never in memory.

`list_layer(path)` opens a layer blob compressed with gzip (OCI or Docker media types, one or
several members), zstd (one or several frames) or nothing, by its first bytes rather than its
media type (registries serve odd ones), and lists each entry's type, mode, owner, size, link
target and, for a file, the sha256 of its content, hashed in chunks. Paths are absolute and
normalised (`./app/` and `app` are both `/app`), so layers written by other tools compare with
ours; a path written twice keeps its last entry, as extraction does.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Dict, cast

from ocikit.errors import OcikitError

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20

_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
}


class LayerReadError(OcikitError, ValueError):
    """A blob that is not a readable tar layer (another artifact, or corrupt)."""


@dataclass(frozen=True)
class TarEntry:
    path: str  # absolute, normalised: "/app/hello.txt"; "/" for the root
    kind: str  # file, dir, symlink, hardlink, char device, block device, fifo
    mode: int  # permission bits (& 0o7777)
    uid: int
    gid: int
    size: int = 0  # of a file's content
    sha256: str = ""  # of a file's content
    linkname: str = ""  # a link's target: verbatim for a symlink, normalised for a hard link


def normalize_path(name: str) -> str:
    # The leading "/" is stripped first: normpath keeps a double leading slash ("//app").
    return posixpath.normpath("/" + name.lstrip("/"))


def uncompressed(raw: BinaryIO) -> BinaryIO:
    """The tar stream of a layer blob open at its start (which must be seekable)."""
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == _GZIP_MAGIC:
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))  # typeshed: a BufferedIOBase only
    if head == _ZSTD_MAGIC:
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def list_layer(path: str) -> Dict[str, TarEntry]:
    """Every entry of the layer blob at `path`, by normalised path."""
    entries: Dict[str, TarEntry] = {}
    with open(path, "rb") as raw:
        try:
            stream = uncompressed(raw)
            # "r|": a stream, read once front to back; each file's content is read where it lies.
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
                for member in tar:
                    entry = _entry(tar, member)
                    entries[entry.path] = entry
        except (tarfile.TarError, EOFError, OSError, *_decompression_errors()) as e:
            raise LayerReadError(f"not a readable tar layer ({type(e).__name__}: {e})") from None
    return entries


def _decompression_errors() -> tuple:
    try:
        import zstandard
    except ImportError:  # then no zstd layer was opened either
        return ()
    return (zstandard.ZstdError,)


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo) -> TarEntry:
    kind = _KINDS.get(member.type, f"type {member.type!r}")
    path = normalize_path(member.name)
    common = dict(path=path, kind=kind, mode=member.mode & 0o7777, uid=member.uid, gid=member.gid)
    if kind == "file":
        return TarEntry(**common, size=member.size, sha256=_content_digest(tar, member))  # type: ignore[arg-type]
    if kind == "symlink":
        return TarEntry(**common, linkname=member.linkname)  # type: ignore[arg-type]
    if kind == "hardlink":
        return TarEntry(**common, linkname=normalize_path(member.linkname))  # type: ignore[arg-type]
    return TarEntry(**common)  # type: ignore[arg-type]


def _content_digest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    hasher = hashlib.sha256()
    content = tar.extractfile(member)
    if content is not None:
        while True:
            chunk = content.read(_CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()
