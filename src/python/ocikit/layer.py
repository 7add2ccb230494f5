"""Deterministic image layers from a directory tree: plan the entries, then stream the blob.

    entries = plan_layer("files", "/app", uid=0, gid=0, mode_policy="normalize")
    entries = add_symlinks(entries, "/app", {"bin/python": "/usr/bin/python3"}, uid=0, gid=0)
    with open("layer.tar.gz", "wb") as out:
        result = build_layer(entries, out, compression="gzip", level=None, mtime=0, threads=2)

The same tree, destination, owner, policy, compression, level and mtime always give the same
blob, whatever the file creation order, the timestamps and owners on disk, the machine's core
count (`threads`) or the locale. The blob is written once; its digest and the tar's diff_id are
hashed on the way out (see ocikit.tarwriter and ocikit.compress for the byte-level format).

Paths are `str`. A file name that is not valid UTF-8 is carried with "surrogateescape" (PEP 383):
each undecodable byte 0xNN becomes the lone surrogate U+DCNN, and
`path.encode("utf-8", "surrogateescape")` gives the original bytes back; the tar stores those
original bytes (PAX `hdrcharset=BINARY`), so the name round-trips exactly.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import AbstractSet, BinaryIO, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ocikit import compress, tarwriter
from ocikit.errors import OcikitError
from ocikit.media_types import LAYER_MEDIA_TYPE_BY_COMPRESSION

MODE_POLICIES = ("normalize", "preserve")
COMPRESSIONS = compress.COMPRESSIONS
_MAX_ID = 1 << 32


class LayerError(OcikitError):
    """A layer cannot be built from these inputs; the message says why, for the user."""


@dataclass(frozen=True)
class LayerEntry:
    path: str  # in the image, relative, POSIX, no leading or trailing "/": "app/bin/tool"
    kind: str  # "file", "dir", "symlink" or "hardlink" (to an earlier entry's path)
    mode: int  # permission bits (& 0o7777)
    uid: int
    gid: int
    size: int  # bytes of content; 0 for dirs and symlinks
    source: Optional[str]  # the file on disk to read (files only), else None
    linkname: str = ""  # a symlink's target, verbatim; a hard link's path; "" for files and dirs


@dataclass(frozen=True)
class LayerResult:
    media_type: str
    digest: str  # "sha256:..." of the blob as written
    size: int  # bytes of the blob
    diff_id: str  # "sha256:..." of the uncompressed tar
    uncompressed_size: int


def _encoded(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def validate_destination(destination: object) -> str:
    """`destination` if absolute and normalised ("/", "/app", "/opt/my app"), else LayerError."""
    if not isinstance(destination, str) or not _is_normalised_destination(destination):
        raise LayerError(
            f"invalid layer destination {destination!r}: expected an absolute, normalised path "
            "such as '/' or '/app' (no '.', '..', '//' or trailing '/')"
        )
    return destination


def _is_normalised_destination(destination: str) -> bool:
    if not destination.startswith("/") or "\0" in destination or not _encodable(destination):
        return False
    return destination == "/" or all(p not in ("", ".", "..") for p in destination[1:].split("/"))


def _check_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_ID:
        raise LayerError(f"invalid {name} {value!r}: expected an integer from 0 to {_MAX_ID - 1}")
    return value


def plan_layer(
    root: str,
    destination: str,
    uid: int = 0,
    gid: int = 0,
    mode_policy: str = "normalize",
    executables: Optional[Iterable[str]] = None,
) -> List[LayerEntry]:
    """Every entry of the layer mapping the tree at `root` to `destination` in the image.

    Ancestors of `destination` are not in the layer (they keep what lower layers set);
    `destination` itself (unless "/") and everything below get `uid`:`gid`. "normalize": directories 0755, files
    0755 if any execute bit is set else 0644 (with `executables`, paths relative to `root`:
    0755 exactly for those); "preserve": the permission bits on disk.
    Symlinks stay symlinks (mode 0777) when their target is relative and resolves inside
    `root`; any other symlink, and fifos, sockets and devices, raise LayerError.
    Sorted bytewise by path (UTF-8), so parents precede children.
    """
    validate_destination(destination)
    if mode_policy not in MODE_POLICIES:
        raise LayerError(f"invalid mode_policy {mode_policy!r}: expected one of {', '.join(MODE_POLICIES)}")
    owner = _Owner.of(uid, gid, mode_policy == "preserve", executables)
    root_b, root_st = _layer_root(root)
    base = destination.strip("/")
    entries: List[LayerEntry] = []
    # Directories above `destination` are left out: re-emitting them would reset what a lower
    # layer set (a base's /tmp 1777, a /home/app owned by the app). Runtimes create missing
    # parents as root 0755.
    if base:
        entries.append(owner.entry(base, "dir", owner.dir_mode(root_st)))
    entries.extend(_walk(root_b, base, owner))
    entries.sort(key=lambda e: _encoded(e.path))
    return entries


def plan_tree(root: str, uid: int = 0, gid: int = 0, executables: Optional[Iterable[str]] = None) -> List[LayerEntry]:
    """The entries below `root` (not `root` itself), at their paths relative to it, unsorted,
    as plan_layer's "normalize" policy gives them (`executables` too): for callers that place
    parts of several trees in one layer (`ocikit.requirement_layers_cli`)."""
    root_b, _ = _layer_root(root)
    return list(_walk(root_b, "", _Owner.of(uid, gid, False, executables)))


@dataclass(frozen=True)
class _Owner:
    """Who owns a planned tree's entries, and whether their permission bits are kept."""

    uid: int
    gid: int
    preserve: bool
    executables: Optional[AbstractSet[str]] = None  # which files "normalize" makes 0755

    @classmethod
    def of(cls, uid: int, gid: int, preserve: bool, executables: Optional[Iterable[str]]) -> "_Owner":
        """Checked ids; `executables` None reads the execute bits on disk."""
        return cls(
            _check_id("uid", uid),
            _check_id("gid", gid),
            preserve,
            None if executables is None else frozenset(executables),
        )

    def entry(self, path: str, kind: str, mode: int, size: int = 0, source: Optional[str] = None) -> LayerEntry:
        return LayerEntry(path, kind, mode, self.uid, self.gid, size, source)

    def dir_mode(self, st: os.stat_result) -> int:
        return stat.S_IMODE(st.st_mode) if self.preserve else 0o755

    def file_mode(self, st: os.stat_result, rel: str) -> int:
        if self.preserve:
            return stat.S_IMODE(st.st_mode)
        if self.executables is not None:
            return 0o755 if rel in self.executables else 0o644
        return 0o755 if st.st_mode & 0o111 else 0o644


def _layer_root(root: str) -> Tuple[bytes, os.stat_result]:
    root_b = os.fsencode(root)
    try:
        root_st = os.stat(root_b)  # follows a symlinked root
    except OSError as e:
        raise LayerError(f"layer root {root!r} cannot be read: {e.strerror or e}") from None
    if not stat.S_ISDIR(root_st.st_mode):
        raise LayerError(f"layer root {root!r} is not a directory")
    return root_b, root_st


def _walk(root_b: bytes, base: str, owner: _Owner) -> Iterator[LayerEntry]:
    """The entries below `root_b`, placed under `base`. Iterative (no recursion limit on deep
    trees); the caller's sort makes the order moot."""
    real_root = os.path.realpath(root_b)
    stack = [(root_b, b"")]
    while stack:
        dir_b, rel_dir_b = stack.pop()
        try:
            names = sorted(os.listdir(dir_b))
        except OSError as e:
            raise LayerError(f"cannot list {os.fsdecode(dir_b)!r}: {e.strerror or e}") from None
        for name_b in names:
            path_b = os.path.join(dir_b, name_b)
            rel_b = rel_dir_b + b"/" + name_b if rel_dir_b else name_b
            rel = rel_b.decode("utf-8", "surrogateescape")
            try:
                st = os.lstat(path_b)
            except OSError as e:
                raise LayerError(f"cannot stat {os.fsdecode(path_b)!r}: {e.strerror or e}") from None
            yield _entry(path_b, rel_b, base + "/" + rel if base else rel, st, owner, real_root)
            if stat.S_ISDIR(st.st_mode):
                stack.append((path_b, rel_b))


def _entry(
    path_b: bytes, rel_b: bytes, image_path: str, st: os.stat_result, owner: _Owner, real_root: bytes
) -> LayerEntry:
    if stat.S_ISDIR(st.st_mode):
        return owner.entry(image_path, "dir", owner.dir_mode(st))
    if stat.S_ISREG(st.st_mode):
        mode = owner.file_mode(st, rel_b.decode("utf-8", "surrogateescape"))
        return owner.entry(image_path, "file", mode, st.st_size, os.fsdecode(path_b))
    if stat.S_ISLNK(st.st_mode):
        target_b = os.readlink(path_b)
        _check_symlink(path_b, rel_b, target_b, real_root)
        target = target_b.decode("utf-8", "surrogateescape")
        return LayerEntry(image_path, "symlink", 0o777, owner.uid, owner.gid, 0, None, linkname=target)
    raise LayerError(
        f"{os.fsdecode(path_b)!r} is a {_kind_name(st.st_mode)}: only regular files, "
        "directories and symlinks can go into a layer"
    )


def _check_symlink(path_b: bytes, rel_b: bytes, target_b: bytes, real_root: bytes) -> None:
    """Refuse a symlink whose target is absolute or leaves the tree, lexically or for real
    (a relative target can climb out through another symlink to a shallower directory)."""
    inside = not target_b.startswith(b"/")
    if inside:
        lexical = posixpath.normpath(posixpath.join(posixpath.dirname(rel_b), target_b))
        inside = lexical != b".." and not lexical.startswith(b"../")
    if inside:
        real = os.path.realpath(path_b)
        inside = real == real_root or real.startswith(real_root.rstrip(b"/") + b"/")
    if not inside:
        raise LayerError(
            f"symlink {os.fsdecode(path_b)!r} -> {os.fsdecode(target_b)!r} points outside the "
            "layer's directory tree: symlinks with an absolute target or one escaping the tree "
            "are refused (make the target relative and inside the tree, or copy the file)"
        )


def add_symlinks(
    entries: List[LayerEntry],
    destination: str,
    symlinks: Mapping[str, str],
    uid: int = 0,
    gid: int = 0,
) -> List[LayerEntry]:
    """`entries` (a plan of `destination`) plus declared symlinks, sorted as plan_layer sorts.

    `symlinks` maps a link's path relative to `destination` ("bin/python") to its target, kept
    verbatim and never resolved here: the container resolves it inside the image, so it may be
    absolute or point anywhere. Pants dereferences the symlinks of a source tree, hence links
    are declared rather than found. Each link is owned by `uid`:`gid` with mode 0777; its
    missing parent directories, `destination` included and nothing above it, are added as
    plan_layer adds a tree's (`uid`:`gid`, 0755). A link on a path the entries already hold, or
    one that would be the parent of another entry, is a LayerError naming both.
    """
    validate_destination(destination)
    uid = _check_id("uid", uid)
    gid = _check_id("gid", gid)
    if not isinstance(symlinks, Mapping):
        raise LayerError(f"invalid symlinks {symlinks!r}: expected an object mapping each link's path to its target")
    if not symlinks:
        return list(entries)
    base = destination.strip("/")
    declared = {
        (base + "/" + _link_path(link) if base else _link_path(link)): _link_target(link, target)
        for link, target in symlinks.items()
    }
    existing = {e.path: e for e in entries}
    tree_parents: Dict[str, str] = {}  # a path with entries below it -> one of them
    for path in existing:
        parts = path.split("/")
        for i in range(1, len(parts)):
            tree_parents.setdefault("/".join(parts[:i]), path)
    added: Dict[str, LayerEntry] = {}
    for path, target in sorted(declared.items(), key=lambda item: _encoded(item[0])):
        link = f"symlink /{path} -> {target!r}"
        if path in existing:
            raise LayerError(f"{link} is on a path the layer's files already have: {_show(existing[path])}")
        if path in tree_parents:
            raise LayerError(f"{link} would be the parent of {_show(existing[tree_parents[path]])}")
        parts = path.split("/")
        first_parent = len(base.split("/")) if base else 1
        for i in range(first_parent, len(parts)):
            parent = "/".join(parts[:i])
            if parent in declared:
                raise LayerError(f"symlink /{parent} -> {declared[parent]!r} would be the parent of {link}")
            if parent in existing and existing[parent].kind != "dir":
                raise LayerError(f"{link} would be below {_show(existing[parent])}")
            if parent not in existing:
                added.setdefault(parent, LayerEntry(parent, "dir", 0o755, uid, gid, 0, None))
        added[path] = LayerEntry(path, "symlink", 0o777, uid, gid, 0, None, linkname=target)
    return sorted(list(entries) + list(added.values()), key=lambda e: _encoded(e.path))


def _link_path(link: object) -> str:
    ok = isinstance(link, str) and link != "" and "\0" not in link
    if ok:
        assert isinstance(link, str)
        ok = all(p not in ("", ".", "..") for p in link.split("/")) and _encodable(link)
    if not ok:
        raise LayerError(
            f"invalid symlink path {link!r}: expected a normalised path relative to the layer's "
            "destination, such as 'bin/python' (no leading or trailing '/', no '.', '..' or '//')"
        )
    return link  # type: ignore[return-value]


def _link_target(link: str, target: object) -> str:
    if not isinstance(target, str) or target == "" or "\0" in target or not _encodable(target):
        raise LayerError(
            f"invalid target {target!r} for symlink {link!r}: expected a non-empty string, "
            "absolute or relative, such as '/usr/bin/python3' or '../lib/tool'"
        )
    return target


def _encodable(path: str) -> bool:
    try:
        _encoded(path)
    except UnicodeEncodeError:
        return False
    return True


def _show(entry: LayerEntry) -> str:
    if entry.kind == "symlink":
        return f"the symlink /{entry.path} -> {entry.linkname!r}"
    return f"the {'directory' if entry.kind == 'dir' else 'file'} /{entry.path}"


def _kind_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"  # pragma: no cover


def build_layer(
    entries: List[LayerEntry],
    out: BinaryIO,
    compression: str = "gzip",
    level: Optional[int] = None,
    mtime: int = 0,
    threads: Optional[int] = None,
    file_sha1s: Optional[Dict[str, str]] = None,
) -> LayerResult:
    """Stream the layer blob of `entries` into `out` and describe it.

    `level` None picks the default (gzip 1, zstd 3; ignored for "none"); `threads` None uses
    every core. The bytes never depend on `threads`. With `file_sha1s`, every regular file's
    SHA1 is recorded there by its SHA-256 (`tarwriter.iter_tar_chunks`).
    """
    if compression not in COMPRESSIONS:
        raise LayerError(f"invalid compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    try:
        level = compress.resolve_level(compression, level)
    except ValueError as e:
        raise LayerError(str(e)) from None
    if threads is None:
        threads = os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise LayerError(f"invalid threads {threads!r}: expected an integer >= 1")
    if isinstance(mtime, bool) or not isinstance(mtime, int) or not 0 <= mtime < 1 << 63:
        raise LayerError(f"invalid mtime {mtime!r}: expected an integer number of seconds >= 0")
    chunks = tarwriter.iter_tar_chunks(entries, mtime, compress.GZIP_CHUNK, file_sha1s)
    try:
        r = compress.compress_to(chunks, out, compression, level, threads)
    except tarwriter.TarWriteError as e:
        raise LayerError(str(e)) from None
    return LayerResult(
        media_type=LAYER_MEDIA_TYPE_BY_COMPRESSION[compression],
        digest=r.digest,
        size=r.size,
        diff_id=r.diff_id,
        uncompressed_size=r.uncompressed_size,
    )
