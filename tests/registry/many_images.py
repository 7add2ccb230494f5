"""Many small OCI layouts that share one large layer, written by hand (independent of
ocikit.layout), for the tests of pushing many images in one run.

Each image has the shared layer (hard-linked between layouts, so 50 layouts of a 20 MB layer
take 20 MB of disk) and its own config; with `own_layer` also a small layer of its own.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

from registry_images import OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST, _json
from registry_images import sha256 as _digest


@dataclass(frozen=True)
class SmallImage:
    layout: Path
    digest: str
    shared: str  # the shared layer's digest
    blobs: List[str]


def shared_layer(directory: Path, size: int, seed: int = 7) -> Path:
    """A file of `size` random bytes (not a real tar: registries do not look inside layers)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"shared-{size}-{seed}.bin"
    if not path.exists():
        path.write_bytes(random.Random(seed).randbytes(size))
    return path


def write_small_images(
    root: Path, count: int, shared: Path, *, tags: Sequence[str] = ("latest",), own_layer: bool = False, label: str = ""
) -> List[SmallImage]:
    shared_bytes_digest = _digest(shared.read_bytes())
    images = []
    for i in range(count):
        layout = root / f"img{i:03d}"
        blobs_dir = layout / "blobs" / "sha256"
        blobs_dir.mkdir(parents=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        os.link(shared, blobs_dir / shared_bytes_digest.split(":")[1])
        layers = [{"mediaType": OCI_LAYER_TAR, "digest": shared_bytes_digest, "size": shared.stat().st_size}]
        blobs = [shared_bytes_digest]
        if own_layer:
            data = f"image {i} {label}\n".encode() * 10
            d = _digest(data)
            (blobs_dir / d.split(":")[1]).write_bytes(data)
            layers.append({"mediaType": OCI_LAYER_TAR, "digest": d, "size": len(data)})
            blobs.append(d)
        config = _json(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"image": str(i), "label": label}},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            }
        )
        config_digest = _digest(config)
        (blobs_dir / config_digest.split(":")[1]).write_bytes(config)
        blobs.append(config_digest)
        manifest = _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": layers,
            }
        )
        digest = _digest(manifest)
        (blobs_dir / digest.split(":")[1]).write_bytes(manifest)
        entries = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": t},
            }
            for t in tags
        ]
        (layout / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        )
        images.append(SmallImage(layout, digest, shared_bytes_digest, blobs))
    return images


def write_publish_batch(
    directory: Path,
    images: Sequence[SmallImage],
    destinations: Sequence[Sequence[str]],
    *,
    batch_id: str = "run-1",
    register=None,
    layouts_root: Path = None,
):
    """What the plugin writes for one batch of a publish run: the check plan, the push plan
    (returned as paths) and the run's registrations, under `directory/dist` as in a build root.
    Every image is registered, unless `register` names the indexes of those the run asked for."""
    from ocikit.contracts.publish import TO_PUSH, CheckPlan, PublishImage, PushPlan, RunEntry
    from ocikit.registry.run_record import RunRecord

    root = layouts_root or directory
    contracts = tuple(
        PublishImage(f"t:{i}", os.path.relpath(im.layout, root), im.digest, tuple(d))
        for i, (im, d) in enumerate(zip(images, destinations))
    )
    dist = directory / "dist"
    run = RunRecord(str(dist / ".oci-publish" / "run-a"), str(dist / "oci-publish.json"))
    for i, image in enumerate(contracts):
        if register is None or i in register:
            run.register(
                RunEntry(image.key, image.digest, image.destinations, TO_PUSH, record=str(dist / f"{i}.publish.json"))
            )
    check = directory / f"check-{batch_id}.json"
    check.write_bytes(CheckPlan(contracts, (), 4).dumps())
    push = directory / f"plan-{batch_id}.json"
    push.write_bytes(PushPlan(batch_id, run.run_dir, run.path, contracts, (), 2).dumps())
    return check, push
