"""One image layer from Debian packages: each package's data archive as the package has it
(paths, owners, modes, symlinks and hard links kept; timestamps set to the layer's `mtime`),
plus the record scanners read: `/var/lib/dpkg/status.d/<package>` (the control paragraph with
`Status: install ok installed`) and `<package>.md5sums`, as distroless images have them.

    entries = plan_deb_layer([DebFile("tzdata", "/cache/tzdata.deb", sha, size)], workdir)
    result = build_layer(entries, out, "gzip", None, mtime, threads)

Each file's content is extracted once into `workdir` (the tar writer reads files by path).
Packages are applied in name order. A directory two packages ship is written once, with the
first package's owner and mode (dpkg keeps the existing one too); any other path shipped twice
is an error naming both packages, since dpkg would refuse it without `Replaces`. Device files,
fifos and anything else a package should not ship are refused. Maintainer scripts are not run;
`ocikit.debian.scripts` says which of their effects a layer reproduces and warns about the rest.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import tarfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ocikit.debian.deb import DebError, check_sha256, control_files, iter_data
from ocikit.debian.scripts import SCRIPTS, reproduced_entries, skipped_effects
from ocikit.layer import LayerEntry, LayerError

STATUS_D = "var/lib/dpkg/status.d"
_STATUS_DIRS = ("var", "var/lib", "var/lib/dpkg", STATUS_D)
INSTALLED = "Status: install ok installed"


@dataclass(frozen=True)
class DebFile:
    """A .deb on disk and what the lockfile says it is."""

    package: str
    path: str
    sha256: str  # hex
    size: int


def member_path(name: str) -> str:
    """A data archive's member name as a layer path: `./usr/bin/x` -> `usr/bin/x`, `./` -> ""."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


def status_record(control: str) -> str:
    """The control paragraph as an installed package's status: `Status` right after `Package`,
    as dpkg writes it."""
    lines = [line for line in control.strip("\n").split("\n") if not line.lower().startswith("status:")]
    at = next((i + 1 for i, line in enumerate(lines) if line.lower().startswith("package:")), 0)
    return "\n".join(lines[:at] + [INSTALLED] + lines[at:]) + "\n"


def _entry(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, workdir: str, counter: Iterator[int], origin: str
) -> LayerEntry:
    mode, uid, gid = member.mode & 0o7777, member.uid, member.gid
    if member.isdir():
        return LayerEntry(path, "dir", mode, uid, gid, 0, None)
    if member.issym():
        return LayerEntry(path, "symlink", mode, uid, gid, 0, None, linkname=member.linkname)
    if member.islnk():
        return LayerEntry(path, "hardlink", mode, uid, gid, 0, None, linkname=member_path(member.linkname))
    if member.isreg():
        source = os.path.join(workdir, f"{next(counter):08d}")
        with open(source, "wb") as out:
            reader = tar.extractfile(member)
            assert reader is not None
            for block in iter(lambda: reader.read(1 << 20), b""):
                out.write(block)
        return LayerEntry(path, "file", mode, uid, gid, member.size, source)
    raise LayerError(
        f"{origin}: /{path} is a device, fifo or other special file: packages with those are not supported"
    )


def _deb_entries(deb: DebFile, workdir: str) -> List[LayerEntry]:
    origin = f"{deb.package} ({os.path.basename(deb.path)})"
    check_sha256(deb.path, deb.sha256, deb.size, origin)
    files = os.path.join(workdir, deb.package)
    os.makedirs(files)
    entries, counter = [], itertools.count()
    try:
        for tar, member in iter_data(deb.path, origin):
            path = member_path(member.name)
            if path:
                entries.append(_entry(tar, member, path, files, counter, origin))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DebError(f"{origin}: the data archive cannot be read ({type(e).__name__}: {e})") from None
    return entries


def _status_entries(deb: DebFile, workdir: str, warnings: List[str]) -> List[LayerEntry]:
    files = control_files(deb.path, deb.package)
    scripts = {name: files[name].decode("utf-8", "replace") for name in SCRIPTS if name in files}
    warnings.extend(skipped_effects(deb.package, scripts))
    written: List[Tuple[str, bytes]] = [(deb.package, status_record(files["control"].decode("utf-8")).encode("utf-8"))]
    if "md5sums" in files:
        written.append((f"{deb.package}.md5sums", files["md5sums"]))
    entries = []
    for name, data in written:
        source = os.path.join(workdir, f"status.{name}")
        with open(source, "wb") as out:
            out.write(data)
        entries.append(LayerEntry(f"{STATUS_D}/{name}", "file", 0o644, 0, 0, len(data), source))
    return entries


def _merge(by_path: Dict[str, Tuple[str, LayerEntry]], package: str, entry: LayerEntry) -> None:
    seen = by_path.get(entry.path)
    if seen is None:
        by_path[entry.path] = (package, entry)
    elif not (seen[1].kind == "dir" and entry.kind == "dir"):
        raise LayerError(
            f"/{entry.path} is shipped by both {seen[0]} and {package}: put them in separate layers or leave one out"
        )


def plan_deb_layer(debs: Sequence[DebFile], workdir: str, warnings: Optional[List[str]] = None) -> List[LayerEntry]:
    """The entries of the layer holding `debs`, sorted as `ocikit.layer.plan_layer` sorts them.
    Each .deb's size and SHA-256 are checked before it is read (DebError on a mismatch).
    What the packages' maintainer scripts would have done is added to `warnings`
    (`ocikit.debian.scripts`)."""
    warnings = [] if warnings is None else warnings
    by_path: Dict[str, Tuple[str, LayerEntry]] = {}
    for deb in sorted(debs, key=lambda d: d.package):
        entries = _deb_entries(deb, workdir)
        entries += reproduced_entries(deb.package, entries, os.path.join(workdir, deb.package))
        for entry in entries + _status_entries(deb, workdir, warnings):
            _merge(by_path, deb.package, entry)
    for directory in _STATUS_DIRS:
        if directory not in by_path:
            by_path[directory] = ("", LayerEntry(directory, "dir", 0o755, 0, 0, 0, None))
    return order_hard_links(sorted((e for _, e in by_path.values()), key=lambda e: _encoded(e.path)))


def _encoded(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def order_hard_links(entries: List[LayerEntry]) -> List[LayerEntry]:
    """`entries` (sorted) where every hard link comes after the file it names: a tar hard link
    can only name an earlier member, and sorting by path may put a link (`usr/bin/perl`)
    before its file (`usr/bin/perl5.36`). Within each group of paths sharing one file, the
    first path becomes the file and the others link to it: the same tree once unpacked."""
    by_path = {e.path: e for e in entries}
    groups: Dict[str, List[str]] = {}
    for e in entries:
        if e.kind == "hardlink":
            target = by_path.get(e.linkname)
            if target is None or target.kind != "file":
                raise LayerError(f"hard link /{e.path} names /{e.linkname}, which is not a file of the layer")
            groups.setdefault(e.linkname, [e.linkname]).append(e.path)
    for target_path, paths in groups.items():
        first = min(paths, key=_encoded)
        if first == target_path:
            continue
        file = by_path[target_path]
        by_path[first] = LayerEntry(first, "file", file.mode, file.uid, file.gid, file.size, file.source)
        for path in paths:
            if path != first:
                e = by_path[path]
                by_path[path] = LayerEntry(path, "hardlink", e.mode, e.uid, e.gid, 0, None, linkname=first)
    return [by_path[e.path] for e in entries]


def installed_names(entries: Sequence[LayerEntry]) -> List[str]:
    """The packages whose status records `entries` hold (for messages and tests)."""
    prefix = STATUS_D + "/"
    return sorted(
        e.path[len(prefix) :] for e in entries if e.path.startswith(prefix) and not e.path.endswith(".md5sums")
    )
