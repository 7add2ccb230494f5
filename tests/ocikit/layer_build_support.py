"""Helpers shared by the layer tests (test_layer_build.py, test_layer_properties.py,
test_layer_plan.py): `write` (a file with its parents and mode), `members` (what tarfile reads
back from a layer) and `oci_layout` (an OCI image layout of given layers, for umoci).

(Named `layer_build_support` rather than `helpers`/`util`: test directories here have no
`__init__.py`, so module basenames must be unique across `tests/`.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

from ocikit.canonical_json import canonical_json
from ocikit.media_types import OCI_CONFIG, OCI_MANIFEST


def write(path, data=b"", mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def members(tar_bytes):
    """Everything tarfile reads back, by name:
    (type, mode, uid, gid, uname, gname, mtime, linkname, content)."""
    result = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf:
            content = tf.extractfile(m).read() if m.isfile() else None
            result[m.name] = (
                m.type,
                m.mode,
                m.uid,
                m.gid,
                m.uname,
                m.gname,
                m.mtime,
                m.linkname,
                content,
            )
    return result


def oci_layout(layout, layers, tag="tag"):
    """Write (or rewrite, for another tag) an OCI image layout at `layout` whose image `tag`
    has `layers`, a list of (blob bytes, LayerResult) in order; umoci can unpack it."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    for blob, result in layers:
        assert put(blob)["digest"] == result.digest
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [result.diff_id for _, result in layers]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": dict(mediaType=OCI_CONFIG, **put(config)),
            "layers": [
                {"mediaType": result.media_type, "digest": result.digest, "size": result.size} for _, result in layers
            ],
        }
    )
    index = {
        "schemaVersion": 2,
        "manifests": [
            dict(
                mediaType=OCI_MANIFEST,
                annotations={"org.opencontainers.image.ref.name": tag},
                **put(manifest),
            )
        ],
    }
    (layout / "index.json").write_bytes(canonical_json(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
