"""Independent checks for the end-to-end tests: OCI image layouts read directly (not with the
plugin's own readers), skopeo and umoci wrappers, and the filesystem trees a layer should
produce compared with what umoci unpacked.

(A unique basename: test directories here have no `__init__.py`.)
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from real_parts import require

# -------------------------------------------------------------------------------------------
# OCI image layouts, read directly (the plugin's own readers are not used: independent checks)
# -------------------------------------------------------------------------------------------

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


class Layout:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def index_json(self) -> dict:
        return json.loads((self.path / "index.json").read_text())

    def blob_path(self, digest: str) -> Path:
        algo, hexpart = digest.split(":", 1)
        return self.path / "blobs" / algo / hexpart

    def blob(self, digest: str) -> bytes:
        data = self.blob_path(digest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, f"blob {digest} is corrupt"
        return data

    def json_blob(self, digest: str) -> dict:
        return json.loads(self.blob(digest))

    def top(self) -> dict:
        """The one descriptor every entry of index.json names."""
        entries = self.index_json()["manifests"]
        assert entries, f"{self.path}/index.json is empty"
        digests = {e["digest"] for e in entries}
        assert len(digests) == 1, f"{self.path}/index.json names several images: {digests}"
        return entries[0]

    def tags(self) -> List[str]:
        return [
            e.get("annotations", {}).get("org.opencontainers.image.ref.name") for e in self.index_json()["manifests"]
        ]

    def manifests(self) -> List[Tuple[Optional[dict], dict]]:
        """`[(platform or None, manifest)]`: one for an image, one per entry for an index."""
        top = self.top()
        if top["mediaType"] == INDEX_MEDIA_TYPE:
            index = self.json_blob(top["digest"])
            return [(d.get("platform"), self.json_blob(d["digest"])) for d in index["manifests"]]
        return [(None, self.json_blob(top["digest"]))]

    def manifest(self) -> dict:
        (only,) = self.manifests()
        return only[1]

    def config(self, manifest: Optional[dict] = None) -> dict:
        manifest = manifest or self.manifest()
        return self.json_blob(manifest["config"]["digest"])

    def layer_digests(self, manifest: Optional[dict] = None) -> List[str]:
        manifest = manifest or self.manifest()
        return [layer["digest"] for layer in manifest["layers"]]

    def referenced_blobs(self) -> Dict[str, int]:
        """`{digest: size}` of every blob reachable from index.json."""
        out: Dict[str, int] = {}

        def visit(descriptor: dict) -> None:
            out[descriptor["digest"]] = descriptor["size"]
            if descriptor["mediaType"] == INDEX_MEDIA_TYPE:
                for child in self.json_blob(descriptor["digest"])["manifests"]:
                    visit(child)
            elif descriptor["mediaType"] == MANIFEST_MEDIA_TYPE:
                manifest = self.json_blob(descriptor["digest"])
                visit(manifest["config"])
                for layer in manifest["layers"]:
                    out[layer["digest"]] = layer["size"]

        for entry in self.index_json()["manifests"]:
            visit(entry)
        return out

    def stored_blobs(self) -> List[str]:
        return sorted(f"sha256:{p.name}" for p in (self.path / "blobs" / "sha256").iterdir())


def tree_bytes(root: Path) -> Dict[str, bytes]:
    """`{relative path: content}` of every file below `root`."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -------------------------------------------------------------------------------------------
# Independent tools
# -------------------------------------------------------------------------------------------


def run_tool(*argv: str, timeout: float = 120) -> str:
    require(argv[0])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"$ {' '.join(argv)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def skopeo_inspect(layout: Path, tag: str, *flags: str, global_flags: Sequence[str] = ()) -> dict:
    return json.loads(run_tool("skopeo", *global_flags, "inspect", *flags, f"oci:{layout}:{tag}"))


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    require("umoci", root=True)  # unpacking keeps owners: root only
    run_tool("umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle))
    return bundle / "rootfs"


# -------------------------------------------------------------------------------------------
# Filesystem trees: what a layer should produce vs what umoci unpacked
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: str  # "dir" or "file"
    mode: int
    uid: int
    gid: int
    content: Optional[bytes] = None

    def __repr__(self) -> str:
        extra = f" {len(self.content)}B" if self.content is not None else ""
        return f"<{self.kind} {self.mode:04o} {self.uid}:{self.gid}{extra}>"


@dataclass(frozen=True)
class LayerSpec:
    """A layer as the BUILD file describes it: `files` maps a path below `destination` to
    the source file in the build root."""

    destination: str
    uid: int
    gid: int
    files: Mapping[str, Path]


def expected_tree(layers: Iterable[LayerSpec]) -> Dict[str, Entry]:
    """The rootfs these layers should give, applied in order (a later entry wins)."""
    tree: Dict[str, Entry] = {}
    for layer in layers:
        dest = layer.destination.strip("/")
        parts = dest.split("/") if dest else []
        for i in range(1, len(parts)):
            tree["/".join(parts[:i])] = Entry("dir", 0o755, 0, 0)  # parents above destination
        if dest:
            tree[dest] = Entry("dir", 0o755, layer.uid, layer.gid)
        for rel, source in layer.files.items():
            rel_parts = rel.split("/")
            for i in range(1, len(rel_parts)):
                path = "/".join([*parts, *rel_parts[:i]])
                tree[path] = Entry("dir", 0o755, layer.uid, layer.gid)
            mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
            tree["/".join([*parts, rel])] = Entry("file", mode, layer.uid, layer.gid, source.read_bytes())
    return tree


def rootfs_tree(rootfs: Path) -> Dict[str, Entry]:
    tree: Dict[str, Entry] = {}
    for path in sorted(rootfs.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(rootfs).as_posix()
        if stat.S_ISDIR(st.st_mode):
            tree[rel] = Entry("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        elif stat.S_ISREG(st.st_mode):
            tree[rel] = Entry("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, path.read_bytes())
        else:
            tree[rel] = Entry("other", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return tree


def files_under(root: Path, subdir: str, strip: str = "") -> Dict[str, Path]:
    """`{path relative to root (minus `strip`): file}` for every file below root/subdir."""
    out = {}
    for path in sorted((root / subdir).rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            if strip:
                assert rel.startswith(strip + "/")
                rel = rel[len(strip) + 1 :]
            out[rel] = path
    return out


def diff_trees(expected: Mapping[str, Entry], actual: Mapping[str, Entry]) -> List[str]:
    problems = []
    for path in sorted(set(expected) | set(actual)):
        e, a = expected.get(path), actual.get(path)
        if e != a:
            problems.append(f"/{path}: expected {e!r}, got {a!r}")
    return problems
