"""Base images tracked by tag in the lockfile, through the real ./pants and the Distribution
registry on loopback: `generate-lockfiles` adds, keeps and moves entries; builds use only the
lockfile, never asking the registry what a tag names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from e2e_support import BuildRoot, scratch_dir
from image_checks import Layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_fixtures import have_registry, skopeo, start_registry  # noqa: E402
from registry_images import write_image  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.registry]

DIR = "e2e_lock"
LOCKFILE = f"{DIR}/base-images.lock.yaml"

BUILD = """\
oci_pull(name="base", image="{host}/library/base:1")
oci_pull(name="other", image="{host}/library/other:1")
oci_image(name="app", base=":base", entrypoint=["/bin/busybox", "true"], repository="e2e/app")
oci_image(name="multi", base=":other", platforms=["linux/amd64", "linux/arm64"], repository="e2e/multi")
"""


def ok(build_root: BuildRoot, *args: str):
    run = build_root.run(*args)
    assert run.returncode == 0, run.describe()
    return run


def copy_in(registry, image, reference: str) -> None:
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{image.layout}:1", f"docker://{reference}")


def test_generate_lockfiles_pins_tags_and_builds_read_only_the_lockfile(build_root: BuildRoot, tmp_path: Path) -> None:
    if not have_registry():
        pytest.fail("this test needs docker-registry (Debian package docker-registry); `.ci/run` installs it")
    platforms = ("linux/amd64", "linux/arm64/v8")
    images = {
        name: write_image(tmp_path / name, platforms=platforms, tags=("1",), label=name)
        for name in ("base-a", "base-b", "other-a", "other-b")
    }
    with (
        start_registry(tmp_path / "registry", "none") as registry,
        scratch_dir(build_root, DIR, {"BUILD": BUILD.format(host=registry.host)}),
    ):
        base, other = f"{registry.host}/library/base:1", f"{registry.host}/library/other:1"
        copy_in(registry, images["base-a"], base)
        copy_in(registry, images["other-a"], other)
        flag = f"--oci-base-image-lockfile={LOCKFILE}"

        missing = build_root.run(flag, "package", f"{DIR}:app")
        assert missing.returncode != 0
        assert (
            f"The `image` field in target {DIR}:base has the value '{base}', a tag without a digest, and "
            f"the base-image lockfile {LOCKFILE} has no entry for {base}. Run `pants generate-lockfiles "
            "--resolve=oci-base-images` to add it"
        ) in missing.output, missing.describe()

        added = ok(build_root, flag, "generate-lockfiles", "--resolve=oci-base-images")
        assert f"oci-base-images: added     {base}  (none) -> {images['base-a'].digest}" in added.output
        assert f"oci-base-images: added     {other}  (none) -> {images['other-a'].digest}" in added.output
        lockfile = build_root.path / LOCKFILE
        text = lockfile.read_text()
        assert "# Regenerate: pants generate-lockfiles --resolve=oci-base-images\n" in text
        assert (
            f'  "{other}":\n    digest: "{images["other-a"].digest}"\n'
            f'    mediaType: "application/vnd.oci.image.index.v1+json"\n    platforms:\n'
            f'      "linux/amd64": "{images["other-a"].manifests["linux/amd64"]}"\n'
            f'      "linux/arm64/v8": "{images["other-a"].manifests["linux/arm64/v8"]}"\n'
        ) in text
        assert f'  "{base}":\n    digest: "{images["base-a"].digest}"' in text

        # The lockfile is in the build graph: regenerating it marks the images built on it changed.
        dependents = ok(build_root, flag, "dependents", "--transitive", LOCKFILE)
        assert dependents.stdout.split() == [
            f"{DIR}:_oci-base-images_lockfile",
            f"{DIR}:app",
            f"{DIR}:base",
            f"{DIR}:multi",
            f"{DIR}:other",
        ]  # the generator of the file's `_lockfile` target, the pulls, the images

        first = ok(build_root, flag, "package", f"{DIR}:app")
        built_a = first.packaged[f"{DIR}/app"][1]
        base_a = json.loads(
            (images["base-a"].layout / "blobs/sha256" / images["base-a"].manifests["linux/amd64"][7:]).read_text()
        )
        assert Layout(build_root.dist(f"{DIR}/app")).layer_digests() == [layer["digest"] for layer in base_a["layers"]]

        # The tag moves; builds keep the locked digest and never ask the registry about the tag.
        copy_in(registry, images["base-b"], base)
        mark = registry.mark()
        again = ok(build_root, flag, "package", f"{DIR}:app")
        assert again.packaged[f"{DIR}/app"][1] == built_a
        assert not [r for r in registry.requests_since(mark) if r.path.endswith("/manifests/1")]

        moved = ok(build_root, flag, "generate-lockfiles", "--resolve=oci-base-images")
        assert (
            f"oci-base-images: updated   {base}  {images['base-a'].digest} -> {images['base-b'].digest}" in moved.output
        )
        assert f"oci-base-images: unchanged {other}  {images['other-a'].digest}" in moved.output
        rebuilt = ok(build_root, flag, "package", f"{DIR}:app")
        assert rebuilt.packaged[f"{DIR}/app"][1] != built_a
        text_b = lockfile.read_bytes()

        ok(build_root, flag, "generate-lockfiles")
        assert lockfile.read_bytes() == text_b, "tags that did not move change no byte"

        # Only some entries: the other moved tag keeps its digest.
        copy_in(registry, images["base-a"], base)
        copy_in(registry, images["other-b"], other)
        partial = ok(build_root, flag, f"--oci-refresh-base-images=['{other}']", "generate-lockfiles")
        assert (
            f"oci-base-images: updated   {other}  {images['other-a'].digest} -> {images['other-b'].digest}"
            in partial.output
        )
        assert f"oci-base-images: unchanged {base}  {images['base-b'].digest} (not refreshed)" in partial.output
        ok(build_root, flag, "package", f"{DIR}:multi")
        index = Layout(build_root.dist(f"{DIR}/multi")).top()
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"

        # A hand edit that still parses: a platform's manifest the locked index does not hold.
        edited = lockfile.read_text().replace(
            images["other-b"].manifests["linux/amd64"], images["other-a"].manifests["linux/amd64"]
        )
        lockfile.write_text(edited)
        wrong = build_root.run(flag, "package", f"{DIR}:multi")
        assert wrong.returncode != 0
        assert (
            f"{LOCKFILE}: the entry {other} does not match the image it pins: linux/amd64: the lockfile says "
            f"{images['other-a'].manifests['linux/amd64']}, {images['other-b'].digest} holds "
            f"{images['other-b'].manifests['linux/amd64']}. Run `pants generate-lockfiles "
            "--resolve=oci-base-images`."
        ) in wrong.output, wrong.describe()
