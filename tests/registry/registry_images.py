"""Tiny OCI image layouts for registry tests, written by hand (independent of ocikit.layout).

The base layer is a tar of the static /bin/busybox as `bin/busybox`; each image's config runs
it (a test skips, naming busybox-static, when /bin/busybox is missing). Layouts that are never
run can use a small stand-in file instead (`runnable=False`) and need no busybox.
Multi-platform layouts add a small per-platform layer so that each platform's manifest and
config differ.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from real_parts import require

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
BUSYBOX = "/bin/busybox"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _tar(files: Dict[str, Tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(files):
            data, mode = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def busybox_layer() -> Tuple[bytes, str]:
    """(gzip blob, diff_id) of a layer holding bin/busybox."""
    require(BUSYBOX)
    return _base_layer(True)


@functools.lru_cache(maxsize=None)
def _base_layer(runnable: bool) -> Tuple[bytes, str]:
    if runnable:
        tar = _tar({"bin/busybox": (Path(BUSYBOX).read_bytes(), 0o755)})
    else:
        tar = _tar({"bin/stand-in": (b"a stand-in for busybox: this image is never run\n", 0o755)})
    return _gzip(tar), sha256(tar)


@dataclass(frozen=True)
class TestImage:
    layout: Path
    digest: str  # what index.json names
    media_type: str
    manifests: Dict[str, str]  # platform "os/arch" -> manifest digest
    blobs: List[str]  # every config and layer digest
    sizes: Dict[str, int]


class _Writer:
    def __init__(self, layout: Path) -> None:
        self.layout = layout
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.sizes: Dict[str, int] = {}

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        (self.layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        self.sizes[digest] = len(data)
        return digest


def write_image(
    layout: Path,
    *,
    platforms: Sequence[str] = ("linux/amd64",),
    tags: Sequence[str] = ("latest",),
    docker_types: bool = False,
    extra_layer_size: int = 0,
    seed: int = 0,
    label: str = "",
    runnable: bool = True,
) -> TestImage:
    """Write a layout. Several platforms give an index; `extra_layer_size` adds an
    uncompressed layer of that many random bytes (for chunked uploads); `seed`/`label` make
    otherwise equal images differ; `runnable=False` puts a stand-in file where busybox goes."""
    writer = _Writer(layout)
    layer_blob, layer_diff = busybox_layer() if runnable else _base_layer(False)
    layer_type, config_type, manifest_type = (
        (DOCKER_LAYER, DOCKER_CONFIG, DOCKER_MANIFEST) if docker_types else (OCI_LAYER_GZIP, OCI_CONFIG, OCI_MANIFEST)
    )
    base_digest = writer.blob(layer_blob)
    extra: Optional[Tuple[str, str, int]] = None
    if extra_layer_size:
        payload = random.Random(seed).getrandbits(8 * extra_layer_size).to_bytes(extra_layer_size, "little")
        tar = _tar({"data/random.bin": (payload, 0o644)})
        extra = (writer.blob(tar), sha256(tar), len(tar))
    manifests: Dict[str, Tuple[str, int]] = {}
    blobs = [base_digest] + ([extra[0]] if extra else [])
    for platform in platforms:
        os_name, arch, *variant = platform.split("/")
        layers = [{"mediaType": layer_type, "digest": base_digest, "size": len(layer_blob)}]
        diff_ids = [layer_diff]
        if extra:
            layers.append(
                {"mediaType": OCI_LAYER_TAR if not docker_types else DOCKER_LAYER, "digest": extra[0], "size": extra[2]}
            )
            diff_ids.append(extra[1])
        if len(platforms) > 1:
            tar = _tar({"etc/platform": (f"{platform} {label}\n".encode(), 0o644)})
            small = _gzip(tar)
            layers.append({"mediaType": layer_type, "digest": writer.blob(small), "size": len(small)})
            diff_ids.append(sha256(tar))
            blobs.append(layers[-1]["digest"])
        config = {
            "architecture": arch,
            "os": os_name,
            **({"variant": variant[0]} if variant else {}),
            "config": {
                "Entrypoint": ["/bin/busybox"],
                "Cmd": ["echo", f"hello from {platform}"],
                "Labels": {"test.label": label, "test.seed": str(seed)},
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "test", "created": "1970-01-01T00:00:00Z"}],
        }
        config_bytes = _json(config)
        config_digest = writer.blob(config_bytes)
        blobs.append(config_digest)
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": len(config_bytes)},
            "layers": layers,
        }
        manifest_bytes = _json(manifest)
        manifests[platform] = (writer.blob(manifest_bytes), len(manifest_bytes))
    if len(platforms) == 1:
        top_digest, top_size = manifests[platforms[0]]
        top_type = manifest_type
    else:
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": manifest_type,
                    "digest": d,
                    "size": s,
                    "platform": {
                        "os": p.split("/")[0],
                        "architecture": p.split("/")[1],
                        **({"variant": p.split("/")[2]} if p.count("/") == 2 else {}),
                    },
                }
                for p, (d, s) in manifests.items()
            ],
        }
        index_bytes = _json(index)
        top_digest, top_size, top_type = writer.blob(index_bytes), len(index_bytes), OCI_INDEX
    entries = [
        {
            "mediaType": top_type,
            "digest": top_digest,
            "size": top_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        for tag in tags
    ] or [{"mediaType": top_type, "digest": top_digest, "size": top_size}]
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
    return TestImage(
        layout,
        top_digest,
        top_type,
        {p: d for p, (d, _) in manifests.items()},
        list(dict.fromkeys(blobs)),
        writer.sizes,
    )


def attach(host: str, repository: str, digest: str, suffix: str) -> bytes:
    """A cosign-style attachment manifest under `sha256-HEX.<suffix>` beside `digest` (one
    config, one payload layer), pushed with ocikit's client. Returns the manifest's bytes."""
    from ocikit.registry.auth import DefaultKeychain
    from ocikit.registry.client import RepositoryClient
    from ocikit.registry.transport import Transport

    client = RepositoryClient(Transport(host, keychain=DefaultKeychain()), repository, push=True)
    payload = _json({"critical": {"image": {"docker-manifest-digest": digest}}, "kind": suffix})
    config = _json({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}})
    for blob in (payload, config):
        client.put_small_blob(blob)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": sha256(payload),
                    "size": len(payload),
                }
            ],
        }
    )
    algorithm, _, hex_ = digest.partition(":")
    client.put_manifest(f"{algorithm}-{hex_}.{suffix}", manifest, OCI_MANIFEST)
    client.transport.close()
    return manifest
