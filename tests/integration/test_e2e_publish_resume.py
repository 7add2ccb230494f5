"""`pants publish` broken off mid-upload, then run again: the second run sends only the rest of
the blob, from the session the first recorded in the workers' named cache (never in dist/).
The real ./pants, the real registry behind a fault proxy, skopeo reading the image back."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import threading
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from real_parts import needs
from registry_fixtures import skopeo, start_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.registry,
    pytest.mark.slow,
    needs("docker-registry", "skopeo"),
]

MiB = 1 << 20
SIZE = 40 * MiB  # random, so the gzip layer is a little larger: two PATCHes of 32 MiB at most
CHUNK = 32 * MiB  # ocikit.registry.upload.RESUMABLE_CHUNK_SIZE

BUILD = """\
files(name="blob", sources=["big.bin"])
oci_layer(name="big", dependencies=[":blob"], destination="/data")
oci_image(name="img", layers=[":big"], repository="e2e/resume", image_tags=["v1"])
"""


def _journal(named_caches: Path) -> list:
    return sorted(named_caches.glob("ocikit_python_*/uploads/*.json"))


def test_a_publish_broken_off_mid_upload_goes_on_where_the_registry_left_it(
    build_root: BuildRoot, tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
    from fault_proxy import Fault, FaultProxy

    payload = random.Random(24).getrandbits(8 * SIZE).to_bytes(SIZE, "little")
    cut = threading.Event()
    patches = []

    def decide(seen):
        if cut.is_set():
            return Fault(status=503)  # the connection is gone for the rest of the first run
        if seen.method == "PATCH":
            patches.append(seen)
            if len(patches) == 2:  # the first 32 MiB are in; the rest never reaches the registry
                cut.set()
                return Fault(status=503)
        return None

    with (
        scratch_dir(build_root, "e2e_resume", {"BUILD": BUILD, "big.bin": payload}),
        start_registry(tmp_path / "registry", "none") as registry,
        FaultProxy(registry.host, decide) as proxy,
    ):
        build_root.package("e2e_resume:img")  # publish itself writes no layout to dist/
        flag = f"--oci-registries={{'r': {{'address': '{proxy.host}', 'default': True}}}}"
        first = build_root.run("publish", flag, "e2e_resume:img")
        assert first.returncode != 0, first.describe()
        [record_path] = _journal(build_root.named_caches)
        recorded = json.loads(record_path.read_text())
        assert recorded["confirmed"] == CHUNK and recorded["registry"] == proxy.host
        assert not [p for p in build_root.dist("").rglob("*") if "upload" in p.name]

        cut.clear()
        second = build_root.run("publish", flag, "e2e_resume:img")
        assert second.returncode == 0, second.describe()
        stats = json.loads(build_root.dist("e2e_resume/img.publish.json").read_text())["stats"]
        layer = max(
            (p for p in build_root.dist("e2e_resume/img/blobs/sha256").iterdir()), key=lambda p: p.stat().st_size
        )
        size = layer.stat().st_size
        assert size - CHUNK <= stats["bytes_uploaded"] <= size - CHUNK + 4096, stats  # the rest, and the config
        assert _journal(build_root.named_caches) == []
        out = tmp_path / "copy"
        skopeo(
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            f"docker://{registry.host}/e2e/resume:v1",
            f"oci:{out}:x",
        )
        copied = out / "blobs" / "sha256" / layer.name
        assert hashlib.sha256(copied.read_bytes()).hexdigest() == layer.name
        assert os.path.getsize(copied) == size
