"""A streaming, deterministic tar writer: exactly the bytes Python's tarfile writes in PAX_FORMAT.

Every member header is what `tarfile.TarInfo.tobuf(tarfile.PAX_FORMAT, "utf-8",
"surrogateescape")` returns for a TarInfo with the same name, type, mode, uid, gid, size, mtime,
linkname, empty uname/gname. For the common case (a short ASCII name and link target, numbers
that fit their octal fields) the 512-byte ustar header is built here directly, about 2.5x faster
than tarfile; anything else (names or link targets over 100 bytes, non-ASCII or non-UTF-8 names,
files of 8 GiB or more, huge ids) goes through tarfile's own header code, which prepends a PAX
extended header. The archive ends like `TarFile.close()` ends it: two zero blocks, then zero
padding up to a multiple of the 10240-byte record size. Tests check all of this against tarfile.

Member names are `str`; bytes that are not UTF-8 are carried as lone surrogates (PEP 383,
"surrogateescape"), which tarfile writes back as the original bytes under `hdrcharset=BINARY`.

The stream is produced in fixed-size chunks (`iter_tar_chunks`), file contents read straight
into them in pieces of at most `READ_SIZE`, so memory stays flat however large the layer is.
"""

from __future__ import annotations

import hashlib
import tarfile
from typing import Dict, Iterable, Iterator, Optional

from ocikit.errors import OcikitError

BLOCKSIZE = tarfile.BLOCKSIZE  # 512
RECORDSIZE = tarfile.RECORDSIZE  # 10240
READ_SIZE = 1 << 20

_NUL = b"\0"
# The 8 bytes after the link name: the POSIX magic "ustar\0" and version "00".
_MAGIC = tarfile.POSIX_MAGIC
# uname (32) + gname (32) + devmajor (8) + devminor (8) + prefix (155) + padding to 512 (12).
_TAIL = _NUL * (32 + 32 + 8 + 8 + 155 + 12)
_CHKSUM_BLANK = b"        "
_EMPTY_SHA256 = hashlib.sha256().hexdigest()
_EMPTY_SHA1 = hashlib.sha1().hexdigest()

_TYPE_BY_KIND = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    # A hard link names an earlier member of the same archive (Debian packages ship them).
    "hardlink": tarfile.LNKTYPE,
}
_MAX_ID = 8**7  # uid/gid: 7 octal digits
_MAX_NUM = 8**11  # size/mtime: 11 octal digits


class TarWriteError(OcikitError):
    """A source file could not be read as planned (vanished, changed size, unreadable)."""


def header(name: str, kind: str, mode: int, uid: int, gid: int, size: int, mtime: int, linkname: str = "") -> bytes:
    """The header block(s) of one member, byte-identical to tarfile's PAX_FORMAT output.

    `name` is the member path without a trailing slash; directories get one, as tarfile does.
    """
    typeflag = _TYPE_BY_KIND[kind]
    if kind == "dir" and not name.endswith("/"):
        name += "/"
    fast = fast_header(name, typeflag, mode, uid, gid, size, mtime, linkname)
    if fast is not None:
        return fast
    return tarfile_header(name, typeflag, mode, uid, gid, size, mtime, linkname)


def fast_header(
    name: str, typeflag: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, linkname: str
) -> Optional[bytes]:
    """A plain ustar header when no PAX record is needed, else None.

    tarfile's PAX writer emits no extended header exactly when the name and link name are ASCII
    and at most 100 characters, and uid/gid/size/mtime are integers fitting their octal fields;
    the ustar block it then writes is reproduced here field by field.
    """
    if (
        len(name) > 100
        or len(linkname) > 100
        or not name.isascii()
        or not linkname.isascii()
        or not (0 <= uid < _MAX_ID and 0 <= gid < _MAX_ID)
        or not (0 <= size < _MAX_NUM and 0 <= mtime < _MAX_NUM)
    ):
        return None
    block = b"".join(
        (
            name.encode("ascii").ljust(100, _NUL),
            b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777, uid, gid, size, mtime),
            _CHKSUM_BLANK,
            typeflag,
            linkname.encode("ascii").ljust(100, _NUL),
            _MAGIC,
            _TAIL,
        )
    )
    # tarfile's checksum: the unsigned byte sum with the checksum field counted as spaces,
    # written as six octal digits, NUL, and the field's last space kept.
    return b"%s%06o\0%s" % (block[:148], sum(block), block[155:])


def tarfile_header(
    name: str, typeflag: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, linkname: str
) -> bytes:
    """The header as tarfile itself writes it (PAX extended header when needed)."""
    info = tarfile.TarInfo(name)
    info.type = typeflag
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.size = size
    info.mtime = mtime
    info.linkname = linkname
    info.uname = ""
    info.gname = ""
    try:
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    except ValueError as e:  # pragma: no cover - every field is checked before planning
        raise TarWriteError(f"cannot write a tar header for {name!r}: {e}") from None


def padding(size: int) -> bytes:
    """Zero bytes that pad member data of `size` bytes to a whole block."""
    return _NUL * (-size % BLOCKSIZE)


def end_of_archive(offset: int) -> bytes:
    """What TarFile.close() appends at `offset`: two zero blocks, then record padding."""
    end = offset + 2 * BLOCKSIZE
    return _NUL * (2 * BLOCKSIZE + (-end % RECORDSIZE))


def iter_tar_chunks(
    entries: Iterable, mtime: int, chunk_size: int = READ_SIZE, file_sha1s: Optional[Dict[str, str]] = None
) -> Iterator[bytearray]:
    """The archive of `entries` as consecutive chunks of exactly `chunk_size` bytes (the last
    one shorter or equal). The chunking never changes the bytes, only how they are cut.

    Each chunk is a fresh bytearray the caller may keep (nothing here touches it again). File
    contents are read straight into it (`readinto`, no intermediate copies), at most
    min(READ_SIZE, chunk_size) bytes at a time.

    `entries` need the attributes of ocikit.layer.LayerEntry: path, kind, mode, uid, gid, size,
    source (for files), linkname.

    With `file_sha1s`, each regular file's SHA1 is recorded there under its SHA-256 (hex, as
    Pants names a file's content): what an SBOM needs of every file, hashed from the bytes the
    layer reads anyway instead of by a second pass over the files.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    chunk = _Chunk(chunk_size)
    offset = 0
    for e in entries:
        hdr = header(e.path, e.kind, e.mode, e.uid, e.gid, e.size, mtime, e.linkname)
        yield from chunk.add(hdr)
        offset += len(hdr)
        if e.kind == "file" and e.size:
            yield from chunk.add_file(e.source, e.size, file_sha1s)
            pad = padding(e.size)
            yield from chunk.add(pad)
            offset += e.size + len(pad)
        elif e.kind == "file" and file_sha1s is not None:
            file_sha1s[_EMPTY_SHA256] = _EMPTY_SHA1
    yield from chunk.add(end_of_archive(offset))
    if chunk.fill:
        yield chunk.buf[: chunk.fill]


class _Chunk:
    """The chunk being filled; full ones are handed out and replaced by new buffers."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._fresh()

    def _fresh(self) -> None:
        self.buf = bytearray(self.size)
        self.view = memoryview(self.buf)
        self.fill = 0

    def _take(self) -> bytearray:
        full = self.buf
        self.view.release()
        self._fresh()
        return full

    def add(self, data: bytes) -> Iterator[bytearray]:
        pos, n = 0, len(data)
        while pos < n:
            k = min(n - pos, self.size - self.fill)
            self.view[self.fill : self.fill + k] = data[pos : pos + k]
            self.fill += k
            pos += k
            if self.fill == self.size:
                yield self._take()

    def add_file(self, source: str, size: int, sha1s: Optional[Dict[str, str]] = None) -> Iterator[bytearray]:
        """Exactly `size` bytes of `source`; the file must be exactly that long. With `sha1s`,
        the file's SHA1 is recorded there by its SHA-256."""
        hashers = (hashlib.sha256(), hashlib.sha1()) if sha1s is not None else ()
        try:
            with open(source, "rb", buffering=0) as f:
                remaining = size
                while remaining:
                    k = min(remaining, self.size - self.fill, READ_SIZE)
                    n = f.readinto(self.view[self.fill : self.fill + k])
                    if not n:
                        raise TarWriteError(
                            f"{source!r} shrank while the layer was written: "
                            f"planned {size} bytes, found {size - remaining}"
                        )
                    for h in hashers:
                        h.update(self.view[self.fill : self.fill + n])
                    self.fill += n
                    remaining -= n
                    if self.fill == self.size:
                        yield self._take()
                if f.read(1):
                    raise TarWriteError(f"{source!r} grew while the layer was written: planned {size} bytes")
            if sha1s is not None:
                sha1s[hashers[0].hexdigest()] = hashers[1].hexdigest()
        except OSError as e:
            raise TarWriteError(f"cannot read {source!r}: {e.strerror or e}") from None
