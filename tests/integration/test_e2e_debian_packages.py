"""Debian packages through the real ./pants: `generate-lockfiles --resolve=oci-debian-packages`
against a local archive (dpkg-scanpackages over apt-get-downloaded .debs, on loopback), an image
built from the lockfile alone that podman runs, a no-op rebuild, and an archive that is down
while regenerating (the lockfile is left as it was)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from image_checks import Layout, run_tool, umoci_unpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from debian_archive import downloaded_debs, foreign_debs, make_archive, served  # noqa: E402
from real_parts import require  # noqa: E402

pytestmark = pytest.mark.integration

DIR = "e2e_debian"
LOCKFILE = f"{DIR}/debian-packages.lock.yaml"
REPOSITORY = "e2e/debian-bzip2"
RUN_ARGS = "--oci-run-args=['--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']"
BUILD = f"""\
oci_debian_packages(name="deps", packages=["bzip2"])
oci_image(
    name="img",
    layers=[":deps"],
    entrypoint=["/bin/bzip2", "--version"],
    platforms=["linux/amd64"],
    repository="{REPOSITORY}",
)
"""
PACKAGES = ("bzip2", "libbz2-1.0", "libc6", "libgcc-s1", "gcc-12-base")


def ok(build_root: BuildRoot, *args: str):
    run = build_root.run(*args)
    assert run.returncode == 0, run.describe()
    return run


def test_lock_build_run_and_an_archive_that_is_down(build_root: BuildRoot, tmp_path: Path) -> None:
    require("dpkg-scanpackages", "umoci", "podman", "runc")
    archive = make_archive(tmp_path / "archive", downloaded_debs(PACKAGES))
    lockfile_flag = f"--oci-debian-packages-lockfile={LOCKFILE}"
    with served(archive) as url, scratch_dir(build_root, DIR, {"BUILD": BUILD}):
        flags = (lockfile_flag, f"--oci-debian-archive={url}")
        missing = build_root.run(*flags, "package", f"{DIR}:img")
        assert missing.returncode != 0
        assert (
            f"The Debian package lockfile {LOCKFILE} has no entry for it ({DIR}:deps): run "
            "`pants generate-lockfiles --resolve=oci-debian-packages`"
        ) in missing.output, missing.describe()

        ok(build_root, *flags, "generate-lockfiles", "--resolve=oci-debian-packages")
        text = (build_root.path / LOCKFILE).read_text()
        assert "# Regenerate: pants generate-lockfiles --resolve=oci-debian-packages\n" in text
        assert all(f'        "{name}": {{version: ' in text for name in PACKAGES), text

        built = ok(build_root, *flags, "package", f"{DIR}:img")
        # libc6's postinst asks debconf questions a layer cannot answer: said, naming it.
        assert (
            f"[WARN] oci_debian_packages {DIR}:deps (libc6): libc6: maintainer scripts are not run: "
            "debconf configuration is not applied"
        ) in built.output, built.describe()
        assert sorted(built.layer_processes_run) == [
            f"Build layer of oci_debian_packages {DIR}:deps (libc6)",
            f"Build layer of oci_debian_packages {DIR}:deps (small packages)",
        ]
        layout = build_root.path / "dist" / DIR / "img"
        tag = Layout(layout).tags()[0]
        rootfs = umoci_unpack(layout, tag, tmp_path / "bundle")
        assert (rootfs / "bin/bzip2").is_file() and (rootfs / "bin/bzcat").stat().st_ino == (
            rootfs / "bin/bzip2"
        ).stat().st_ino
        assert (
            (rootfs / "var/lib/dpkg/status.d/bzip2")
            .read_text()
            .startswith("Package: bzip2\nStatus: install ok installed\n")
        )

        # Builds read only the lockfile: no resolution runs, only fetches of the pinned .debs.
        ran = [w.get("description") or "" for w in built.workunits if w.get("name") == "run_local_process"]
        assert not any(d.startswith("Resolve the Debian packages") for d in ran), ran
        assert sum(d.startswith("Fetch ") for d in ran) == len(PACKAGES), ran

        again = ok(build_root, *flags, "package", f"{DIR}:img")
        assert again.layer_processes_run == [] and again.packaged == built.packaged
        assert again.local_processes_besides_setup == 0, again.describe()

        ran = build_root.run(*flags, "run", RUN_ARGS, f"{DIR}:img")
        try:
            assert ran.returncode == 0, ran.describe()
            assert "bzip2, a block-sorting file compressor.  Version 1.0.8" in ran.output, ran.describe()
        finally:
            subprocess.run(
                [shutil.which("podman") or "podman", "rmi", "--ignore", f"{REPOSITORY}:latest"], capture_output=True
            )

    with served(tmp_path / "empty") as down:
        pass  # nothing listens there any more
    with scratch_dir(build_root, DIR, {"BUILD": BUILD}):
        (build_root.path / LOCKFILE).write_text("# the lockfile as it was\n")
        failed = build_root.run(
            lockfile_flag, f"--oci-debian-archive={down}", "generate-lockfiles", "--resolve=oci-debian-packages"
        )
        assert failed.returncode != 0
        assert (
            f"the Debian archive is unreachable: {down}/dists/bookworm/main/binary-amd64/Packages.xz" in failed.output
        )
        assert (build_root.path / LOCKFILE).read_text() == "# the lockfile as it was\n"


MULTI_BUILD = """\
oci_debian_packages(name="deps", packages=["bzip2"], architectures=["amd64", "arm64"])
oci_image(name="img", layers=[":deps"], platforms=["linux/amd64", "linux/arm64"], repository="e2e/debian-multi")
"""
_ELF_MACHINE = {62: "amd64", 183: "arm64"}  # e_machine: x86-64, AArch64


def _elf_architecture(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return _ELF_MACHINE[int.from_bytes(header[18:20], "little")]


def test_amd64_and_arm64_from_one_lockfile(build_root: BuildRoot, tmp_path: Path) -> None:
    require("dpkg-scanpackages", "umoci", "skopeo", "oci-image-tool")
    debs = [*downloaded_debs(PACKAGES).values(), *foreign_debs(PACKAGES, "arm64").values()]
    archive = make_archive(tmp_path / "archive", debs, architectures=("amd64", "arm64"))
    with served(archive) as url, scratch_dir(build_root, DIR, {"BUILD": MULTI_BUILD}):
        flags = (f"--oci-debian-packages-lockfile={LOCKFILE}", f"--oci-debian-archive={url}")
        ok(build_root, *flags, "generate-lockfiles", "--resolve=oci-debian-packages")
        text = (build_root.path / LOCKFILE).read_text()
        assert text.count('"bzip2": {version:') == 2 and '      "arm64":\n' in text
        ok(build_root, *flags, "package", f"{DIR}:img")
        layout = build_root.path / "dist" / DIR / "img"
        tag = Layout(layout).tags()[0]
        for arch in ("amd64", "arm64"):
            copy = tmp_path / f"copy-{arch}"
            # skopeo reads every blob of that platform and checks its digest.
            run_tool("skopeo", "copy", "--override-arch", arch, f"oci:{layout}:{tag}", f"oci:{copy}:{tag}")
            assert "Validation succeeded" in run_tool(
                "oci-image-tool", "validate", "--type", "image", "--ref", f"name={tag}", str(copy)
            )
            rootfs = umoci_unpack(copy, tag, tmp_path / f"bundle-{arch}")
            assert _elf_architecture(rootfs / "bin/bzip2") == arch
            record = (rootfs / "var/lib/dpkg/status.d/bzip2").read_text()
            assert f"\nArchitecture: {arch}\n" in record
