"""Reading a `.deb`: an ar archive holding `debian-binary`, `control.tar[.xz|.gz|.zst]` and
`data.tar[.xz|.gz|.zst|.bz2]` (deb(5)). Members are read in place from the file, streamed,
never loaded whole.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Dict, Iterator, Tuple

from ocikit.errors import OcikitError

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


class DebError(OcikitError, ValueError):
    """A file that is not a readable .deb, or not the one the lockfile names."""


@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int  # of the member's data in the file
    size: int


def ar_members(f: BinaryIO, origin: str) -> Dict[str, ArMember]:
    """The members of the ar archive open in `f`, by name (GNU `name/` or BSD plain names)."""
    f.seek(0)
    if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise DebError(f"{origin}: not a .deb (no ar archive header)")
    members: Dict[str, ArMember] = {}
    offset = len(_AR_MAGIC)
    while True:
        f.seek(offset)
        header = f.read(_AR_HEADER)
        if not header:
            return members
        if len(header) != _AR_HEADER or header[58:60] != b"`\n":
            raise DebError(f"{origin}: a truncated or corrupt ar member header at byte {offset}")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise DebError(f"{origin}: an invalid ar member size at byte {offset}") from None
        members[name] = ArMember(name, offset + _AR_HEADER, size)
        offset += _AR_HEADER + size + (size & 1)


class _Slice(io.RawIOBase):
    """`size` bytes of `f` from `offset`, as a readable stream."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        self._f, self._pos, self._end = f, offset, offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._end - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _decompressed(stream: BinaryIO, name: str, origin: str) -> BinaryIO:
    if name.endswith(".xz"):
        return lzma.LZMAFile(stream)  # type: ignore[return-value]
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    if name.endswith(".bz2"):
        return bz2.BZ2File(stream)  # type: ignore[return-value]
    if name.endswith(".zst"):
        import zstandard  # a worker dependency; only zstd-compressed packages need it

        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    if name.endswith(".tar"):
        return stream
    raise DebError(f"{origin}: unsupported member compression {name!r}")


def _member(members: Dict[str, ArMember], prefix: str, origin: str) -> ArMember:
    found = [m for name, m in sorted(members.items()) if name == prefix or name.startswith(prefix + ".")]
    if len(found) != 1:
        raise DebError(f"{origin}: expected one {prefix}.* member, found {[m.name for m in found] or 'none'}")
    return found[0]


def open_tar(f: BinaryIO, prefix: str, origin: str) -> tarfile.TarFile:
    """The `control.tar*` or `data.tar*` member of the .deb open in `f`, as a streamed tar."""
    members = ar_members(f, origin)
    if "debian-binary" not in members:
        raise DebError(f"{origin}: not a .deb (no debian-binary member)")
    member = _member(members, prefix, origin)
    raw = io.BufferedReader(_Slice(f, member.offset, member.size), 1 << 20)
    stream = _decompressed(raw, member.name, origin)
    return tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape")


CONTROL_FILES = ("control", "md5sums", "preinst", "postinst")


def control_files(path: str, origin: str) -> Dict[str, bytes]:
    """The files of the control archive a layer uses: `control` (always there), and `md5sums`,
    `preinst`, `postinst` when the package has them."""
    found: Dict[str, bytes] = {}
    with open(path, "rb") as f, open_tar(f, "control.tar", origin) as tar:
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if member.isfile() and name in CONTROL_FILES:
                found[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    if "control" not in found:
        raise DebError(f"{origin}: the control archive has no control file")
    return found


def check_sha256(path: str, sha256: str, size: int, origin: str) -> None:
    """DebError unless the file at `path` has exactly this size and SHA-256 (hex)."""
    h, total = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            total += len(block)
    if total != size or h.hexdigest() != sha256:
        raise DebError(
            f"{origin}: SHA-256 mismatch: the lockfile says {sha256} ({size} bytes), the file is "
            f"{h.hexdigest()} ({total} bytes)"
        )


def iter_data(path: str, origin: str) -> Iterator[Tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """The members of the package's data archive, in archive order (a stream: read each file's
    content through the yielded TarFile before moving on)."""
    with open(path, "rb") as f, open_tar(f, "data.tar", origin) as tar:
        for member in tar:
            yield tar, member
