"""Real Debian packages for the tests, and a local Debian archive made of them.

    debs = downloaded_debs(["bzip2", "tzdata"])        # apt-get download, cached per machine
    root = make_archive(tmp_path / "archive", debs)    # pool/ + dists/bookworm/main/binary-amd64
    with served(root) as url: ...                      # http://127.0.0.1:PORT, python http.server

`apt-get download` fetches from the archive apt uses on this machine (the only network these
helpers touch, once per package and machine, into ~/.cache/pants-oci/debs); the archive index
is written by Debian's own `dpkg-scanpackages`. `rebuilt_deb` makes another version of a
package with `dpkg-deb --build`, for "one package bumped" tests.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import lzma
import re
import shutil
import subprocess
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Mapping, Sequence

from python_tools import CACHE, _debian_mirror, _locked, require

SUITE = "bookworm"


def downloaded_debs(names: Sequence[str]) -> Dict[str, Path]:
    """The .deb of each package apt would install here, downloaded once per machine."""
    cache = CACHE / "debs"
    with _locked("debs"):
        cache.mkdir(parents=True, exist_ok=True)
        missing = [n for n in names if not list(cache.glob(f"{n}_*.deb"))]
        if missing:
            require("apt-get", "apt")
            partial = cache / "partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            subprocess.run(["apt-get", "download", *missing], cwd=partial, check=True, capture_output=True)
            for deb in partial.glob("*.deb"):
                deb.rename(cache / deb.name)
            shutil.rmtree(partial)
    found = {}
    for name in names:
        debs = sorted(cache.glob(f"{name}_*.deb"))
        assert len(debs) == 1, f"expected one cached .deb of {name}, found {debs}"
        found[name] = debs[0]
    return found


def foreign_debs(names: Sequence[str], architecture: str, suite: str = SUITE) -> Dict[str, Path]:
    """The .debs of `names` for another architecture than this machine's (which apt-get
    download cannot fetch without reconfiguring dpkg), from the same archive apt uses, as its
    `architecture` index names them; once per machine, checked by SHA-256."""
    from ocikit.debian.index import read_packages

    cache = CACHE / "debs" / architecture
    with _locked("debs"):
        cache.mkdir(parents=True, exist_ok=True)
        missing = [n for n in names if not list(cache.glob(f"{n}_*.deb"))]
        if missing:
            url = f"{_debian_mirror()}/dists/{suite}/main/binary-{architecture}/Packages.xz"
            with urllib.request.urlopen(url, timeout=120) as response:
                records = {r.name: r for r in read_packages(response.read(), "Packages.xz", architecture)}
            for name in missing:
                record = records[name]
                with urllib.request.urlopen(f"{_debian_mirror()}/{record.filename}", timeout=120) as response:
                    data = response.read()
                assert hashlib.sha256(data).hexdigest() == record.sha256, record.filename
                (cache / Path(record.filename).name).write_bytes(data)
    return {name: sorted(cache.glob(f"{name}_*.deb"))[0] for name in names}


def rebuilt_deb(deb: Path, version: str, out_dir: Path, compression: str = "xz") -> Path:
    """`deb` with its control `Version` set to `version` (and nothing else changed), built by
    dpkg-deb with its members compressed by `compression` (xz, gzip, zstd or none): a bumped
    package with the same files (owners kept: the tests run as root)."""
    tree = out_dir / f"tree-{deb.stem}-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["dpkg-deb", "--raw-extract", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M))
    # dpkg-scanpackages --arch reads only files named *_<arch>.deb and *_all.deb.
    name, _, arch = deb.stem.split("_")
    out = out_dir / f"{name}_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", f"-Z{compression}", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out


def make_archive(
    root: Path, debs: Mapping[str, Path] | Sequence[Path], suite: str = SUITE, architectures: Sequence[str] = ("amd64",)
) -> Path:
    """A Debian archive at `root` holding `debs`: `pool/main/<file>` and, for each architecture,
    `dists/<suite>/main/binary-<arch>/Packages.xz` written by dpkg-scanpackages."""
    require("dpkg-scanpackages", "dpkg-dev")
    pool = root / "pool" / "main"
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs.values() if isinstance(debs, Mapping) else debs:
        shutil.copyfile(deb, pool / deb.name)
    for arch in architectures:
        scan = subprocess.run(
            ["dpkg-scanpackages", "--arch", arch, "--multiversion", "pool"], cwd=root, check=True, capture_output=True
        )
        index = root / "dists" / suite / "main" / f"binary-{arch}"
        index.mkdir(parents=True, exist_ok=True)
        (index / "Packages.xz").write_bytes(lzma.compress(scan.stdout))
    return root


def mirrored_lockfile(lockfile: Path, root: Path) -> Path:
    """A local archive at `root` holding exactly the .debs `lockfile` pins, at their paths:
    builds from the lockfile then fetch over loopback. Each file comes once per machine from
    the Debian archive apt uses here (what `apt-get download` reads), checked by SHA-256."""
    from ocikit.debian.lockfile import parse_lockfile

    cache = CACHE / "debs-by-sha256"
    lock = parse_lockfile(lockfile.read_bytes(), str(lockfile))
    debs = {d.sha256: d for t in lock.targets for _, locked in t.architectures for d in locked}
    with _locked("debs"):
        cache.mkdir(parents=True, exist_ok=True)
        for sha256, deb in sorted(debs.items()):
            cached = cache / f"{sha256}.deb"
            if not cached.exists():
                with urllib.request.urlopen(f"{_debian_mirror()}/{deb.path}", timeout=120) as response:
                    data = response.read()
                assert hashlib.sha256(data).hexdigest() == sha256, f"{deb.path}: not the locked file"
                partial = cached.with_suffix(".partial")
                partial.write_bytes(data)
                partial.rename(cached)
    for sha256, deb in debs.items():
        target = root / deb.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache / f"{sha256}.deb", target)
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(root: Path) -> Iterator[str]:
    """`root` over HTTP on loopback while the block runs: its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
