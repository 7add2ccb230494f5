"""Sharded layers through the real ./pants: the unpacked rootfs equals one layer's (umoci), an
edit re-runs one shard's process and `publish` uploads one shard, and the image's layer budget
with a pulled base of many layers (the real Distribution registry on loopback, skopeo)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile
from pathlib import Path

import pytest
from e2e_support import LAYER_PROCESS_PREFIX, BuildRoot, scratch_dir
from image_checks import Layout, diff_trees, rootfs_tree, umoci_unpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_fixtures import have_registry, skopeo, start_registry  # noqa: E402

pytestmark = pytest.mark.integration

BUILD = """\
files(name="data", sources=["data/**/*"])
oci_layer(name="sharded", dependencies=[":data"], destination="/srv/app", owner="1000:1000",
          shard_size="64KiB", symlinks={"current": "e2e_shards/data/d0", "bin/env": "/usr/bin/env"})
oci_layer(name="whole", dependencies=[":data"], destination="/srv/app", owner="1000:1000",
          shard_size="off", symlinks={"current": "e2e_shards/data/d0", "bin/env": "/usr/bin/env"})
oci_image(name="sharded_img", layers=[":sharded"], repository="e2e/shards")
oci_image(name="whole_img", layers=[":whole"])
"""


def data_files(count: int = 40) -> dict:
    rng = random.Random(7)
    files: dict = {
        f"data/d{i % 3}/e{i % 2}/f{i:03d}.bin": rng.randbytes(rng.randint(1000, 30000)) for i in range(count)
    }
    files["data/d1/run.sh"] = "#!/bin/sh\n"
    return {"BUILD": BUILD, **files}


def links(rootfs: Path) -> dict:
    return {p.relative_to(rootfs).as_posix(): os.readlink(p) for p in rootfs.rglob("*") if p.is_symlink()}


def test_a_sharded_layer_unpacks_to_the_rootfs_of_one_layer(build_root: BuildRoot, tmp_path: Path) -> None:
    with scratch_dir(build_root, "e2e_shards", data_files()) as directory:
        (directory / "data/d1/run.sh").chmod(0o755)
        build_root.package("e2e_shards:sharded_img", "e2e_shards:whole_img")
        sharded, whole = (
            Layout(build_root.dist("e2e_shards/sharded_img")),
            Layout(build_root.dist("e2e_shards/whole_img")),
        )
        assert len(sharded.layer_digests()) > 3 and len(whole.layer_digests()) == 1
        one = umoci_unpack(whole.path, "latest", tmp_path / "whole")
        many = umoci_unpack(sharded.path, "latest", tmp_path / "sharded")
        problems = diff_trees(rootfs_tree(one), rootfs_tree(many))
        assert not problems, "the shards unpack to another tree:\n" + "\n".join(problems)
        assert links(many) == links(one) == {"srv/app/current": "e2e_shards/data/d0", "srv/app/bin/env": "/usr/bin/env"}
        st = (many / "srv/app/e2e_shards/data/d1/run.sh").stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o755, 1000, 1000)
        st = (many / "srv").stat()  # above the destination: not in any shard
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o755, 0, 0)


def test_a_files_mode_comes_from_pants_not_from_how_its_sandbox_got_it(build_root: BuildRoot) -> None:
    """Pants hardlinks inputs of 512 KiB or more from its store into a sandbox, with the
    store's mode 0555: a large data file must still be 0644 in the layer, and a large
    executable 0755, sharded or whole (else the bytes depend on whether hardlinking worked)."""
    big = random.Random(3).randbytes(600 * 1024)
    files = {"BUILD": BUILD, "data/big.bin": big, "data/bigexec": big + b"x", "data/small.txt": "s\n"}
    with scratch_dir(build_root, "e2e_shards", files) as directory:
        (directory / "data/bigexec").chmod(0o755)
        build_root.package("e2e_shards:sharded_img", "e2e_shards:whole_img")
        for name in ("sharded_img", "whole_img"):
            layout = Layout(build_root.dist(f"e2e_shards/{name}"))
            modes = {}
            for digest in layout.layer_digests():
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layout.blob(digest)))) as tar:
                    modes.update({m.name.rsplit("/", 1)[-1]: m.mode for m in tar if m.isfile()})
            assert (modes["big.bin"], modes["bigexec"], modes["small.txt"]) == (0o644, 0o755, 0o644), name


def registry_needed() -> None:
    if not have_registry():
        pytest.fail("this test needs the Distribution registry: apt-get install docker-registry")


@pytest.mark.registry
def test_an_edit_reruns_one_shard_and_publish_uploads_one_shard(build_root: BuildRoot, tmp_path: Path) -> None:
    registry_needed()
    with (
        start_registry(tmp_path / "registry", "none") as registry,
        scratch_dir(build_root, "e2e_shards", data_files()) as directory,
    ):
        flag = f"--oci-registries={{'e2e': {{'address': '{registry.host}', 'default': True}}}}"
        build_root.package("e2e_shards:sharded_img")
        first = build_root.run("publish", flag, "e2e_shards:sharded_img")
        assert first.returncode == 0, first.describe()
        before = Layout(build_root.dist("e2e_shards/sharded_img")).layer_digests()

        edited = directory / "data/d2/e1/f005.bin"
        edited.write_bytes(bytes(b ^ 0xFF for b in edited.read_bytes()))  # same size
        rebuilt = build_root.package("e2e_shards:sharded_img")
        (process,) = rebuilt.layer_processes_run
        assert process.startswith(f"{LAYER_PROCESS_PREFIX}oci_layer e2e_shards:sharded (shard "), process
        # The shard, and the image's SBOM document.
        assert rebuilt.counters["local_execution_requests"] == 2, rebuilt.describe()
        layout = Layout(build_root.dist("e2e_shards/sharded_img"))
        after = layout.layer_digests()
        (changed,) = [a for a, b in zip(after, before) if a != b]
        published = build_root.run("publish", flag, "e2e_shards:sharded_img")
        assert published.returncode == 0, published.describe()
        record = json.loads(build_root.dist("e2e_shards/sharded_img.publish.json").read_text())
        sizes = layout.referenced_blobs()
        expected = sizes[changed] + sizes[layout.manifest()["config"]["digest"]]
        assert (record["stats"]["blobs_uploaded"], record["stats"]["bytes_uploaded"]) == (2, expected), record


def many_layer_image(layout: Path, count: int) -> None:
    """An OCI layout of `count` tiny gzip layers, written directly (an independent writer)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layers, diff_ids = [], []
    for n in range(count):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"layers/{n:03d}")
            info.size = 4
            tar.addfile(info, io.BytesIO(f"{n:03d}\n".encode()))
        diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
        layers.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(gzip.compress(raw.getvalue(), mtime=0))}
        )
    config = put(
        json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        ).encode()
    )
    manifest = put(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": layers,
            }
        ).encode()
    )
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        **manifest,
                        "annotations": {"org.opencontainers.image.ref.name": "1"},
                    }
                ],
            }
        )
    )


@pytest.mark.registry
def test_a_base_with_most_of_the_layer_budget(build_root: BuildRoot, tmp_path: Path) -> None:
    """A base of 120 layers: a large layer on it is not split (a warning says so); eight more
    layers would pass the 127 runtimes accept, which fails naming where the layers come from."""
    registry_needed()
    many_layer_image(tmp_path / "base", 120)
    with start_registry(tmp_path / "registry", "none") as registry:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'base'}:1", f"docker://{registry.host}/many:1")
        digest = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/many:1").stdout)[
            "Digest"
        ]
        build = data_files()
        eight = [f"l{n}" for n in range(8)]
        build["BUILD"] += "\n".join(
            [
                f'oci_pull(name="base", image="{registry.host}/many:1@{digest}")',
                'oci_image(name="on_base", base=":base", layers=[":sharded"])',
                *(f'oci_layer(name="{name}", symlinks={{"{name}": "x"}})' for name in eight),
                f'oci_image(name="too_many", base=":base", layers={[":" + name for name in eight]})',
            ]
        )
        with scratch_dir(build_root, "e2e_shards", build):
            fits = build_root.run("package", "e2e_shards:on_base")
            assert fits.returncode == 0, fits.describe()
            assert len(Layout(build_root.dist("e2e_shards/on_base")).layer_digests()) == 121
            assert (
                "oci_image e2e_shards:on_base: its layers are not split into shards, to keep it at 64 "
                f"layers or fewer (120 from its base {registry.host}/many:1@{digest}, 1 of its own)" in fits.output
            ), fits.describe()
            refused = build_root.run("package", "e2e_shards:too_many")
    assert refused.returncode != 0
    assert (
        "oci_image e2e_shards:too_many would have 128 layers (120 from its base "
        f"{registry.host}/many:1@{digest}, 8 of its own), more than the 127 container runtimes "
        "accept. Merge some of its layers into one `oci_layer`, or build it on a base with fewer "
        "layers." in refused.output
    ), refused.describe()
