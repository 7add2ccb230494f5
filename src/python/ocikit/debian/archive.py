"""A Debian archive over HTTP: its Packages indexes and its .deb files.

The archive is a root URL (a mirror such as `http://deb.debian.org/debian`, or a snapshot such
as `http://snapshot.debian.org/archive/debian/20250520T000000Z`) with the standard layout:
`dists/<suite>/main/binary-<arch>/Packages{.xz,.gz,}` and the `Filename`s they name. Nothing is
trusted from the network but what is checked: a .deb is kept only when its size and SHA-256
are the lockfile's (which took them from the index). Index signatures (Release.gpg) are not
verified: pin a snapshot URL, and review lockfile diffs, to know what you resolved against.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, List, Sequence, Tuple

from ocikit.debian.index import INDEX_NAMES, PackageRecord, read_packages
from ocikit.debian.lockfile import DebianLock, LockedDeb, new_target_lock
from ocikit.debian.resolve import PackageUniverse, ResolveError, resolve
from ocikit.errors import OcikitError

COMPONENT = "main"
TIMEOUT = 60.0


class ArchiveError(OcikitError):
    """The archive cannot be read, lacks an index, or served a file that is not the one locked."""


class _NotFound(ArchiveError):
    pass


def shown(url: str) -> str:
    """`url` without any user:password part, for messages."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def join(archive: str, path: str) -> str:
    return archive.rstrip("/") + "/" + path.lstrip("/")


def _open(url: str):
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise _NotFound(f"{shown(url)}: 404 Not Found") from None
        raise ArchiveError(f"{shown(url)}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise ArchiveError(f"the Debian archive is unreachable: {shown(url)}: {reason}") from None


def index_records(archive: str, suite: str, architecture: str) -> List[PackageRecord]:
    """The packages of `suite`'s main component for `architecture` (and `all`)."""
    base = join(archive, f"dists/{suite}/{COMPONENT}/binary-{architecture}/")
    for name in INDEX_NAMES:
        try:
            with _open(base + name) as response:
                data = response.read()
        except _NotFound:
            continue
        return read_packages(data, name, architecture)
    raise ArchiveError(
        f"the archive {shown(archive)} has no {architecture} index for {suite} "
        f"({shown(base)}{{{','.join(INDEX_NAMES)}}} not found): check the suite and the architecture"
    )


def locked(record: PackageRecord) -> LockedDeb:
    return LockedDeb(record.name, record.version, record.architecture, record.filename, record.size, record.sha256)


def lock_targets(archive: str, targets: Sequence[Tuple[str, str, Sequence[str], Sequence[str]]]) -> DebianLock:
    """Resolve each (target, suite, packages, architectures) against `archive`; each index is
    downloaded once. ArchiveError/ResolveError name the target."""
    universes: Dict[Tuple[str, str], PackageUniverse] = {}
    locks = []
    for target, suite, packages, architectures in targets:
        resolved = []
        for arch in sorted(set(architectures)):
            if (suite, arch) not in universes:
                universes[(suite, arch)] = PackageUniverse(index_records(archive, suite, arch))
            try:
                closure = resolve(universes[(suite, arch)], packages, arch)
            except ResolveError as e:
                raise ResolveError(f"{target} ({suite}, {arch}): {e}") from None
            resolved.append((arch, [locked(r) for r in closure]))
        locks.append(new_target_lock(target, suite, packages, resolved))
    return DebianLock(tuple(sorted(locks, key=lambda t: t.target)))


def download_deb(url: str, sha256: str, size: int, out: str, package: str) -> None:
    """Download `url` to `out` when its size and SHA-256 are the locked ones; else ArchiveError
    and nothing at `out`."""
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deb.", dir=directory)
    try:
        h, total = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as f, _open(url) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                total += len(block)
                if total > size:
                    break
                h.update(block)
                f.write(block)
        if total != size or h.hexdigest() != sha256:
            served = f"more than {size} bytes" if total > size else f"{h.hexdigest()} ({total} bytes)"
            raise ArchiveError(
                f"{package}: SHA-256 mismatch for {shown(url)}: the lockfile says {sha256} ({size} bytes), the "
                f"archive served {served}: the archive changed, or the lockfile was edited; regenerate the lockfile"
            )
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
