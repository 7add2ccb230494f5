"""The SBOMs `./pants package examples::` writes beside the layouts: valid for spdx-tools'
`pyspdxtools -i`, naming the digests `package` printed, and absent with `[oci].sbom_formats = []`;
with `cyclonedx` also a CycloneDX 1.5 document that CycloneDX's validator accepts.
(Their bytes across checkouts: test_e2e_rebuilds; an app's distributions and a Debian base's
packages: test_e2e_python_app.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cyclonedx_tool import cyclonedx_errors
from e2e_support import EXAMPLES, BuildRoot, ExamplesBuild, scratch_dir
from sbom_checks import Sbom, validate

pytestmark = pytest.mark.integration


def sbom_of(build: ExamplesBuild, name: str) -> Sbom:
    return Sbom(build.dist / f"{EXAMPLES[name][0]}.spdx.json")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_has_a_valid_sbom_describing_its_digest(examples_build: ExamplesBuild, name: str) -> None:
    sbom = sbom_of(examples_build, name)
    validate(sbom.path)
    image = sbom.described()
    assert image["versionInfo"] == examples_build.printed_digest(name)
    assert sbom.document["creationInfo"]["created"] == "1970-01-01T00:00:00Z"
    files = sbom.related(image, "CONTAINS")
    assert files and all(
        f["comment"].startswith("Put in the image by the Pants target examples/") for f in files if "fileName" in f
    )


def test_the_layered_example_lists_each_layers_files_with_their_targets(examples_build: ExamplesBuild) -> None:
    sbom = sbom_of(examples_build, "layered")
    files = {f["fileName"]: f["comment"] for f in sbom.related(sbom.described(), "CONTAINS")}
    assert files["./app/run.sh"] == "Put in the image by the Pants target examples/layered:app_relocated."
    assert any(name.startswith("./srv/examples/layered/assets/") for name in files)
    assert any(name.startswith("./opt/examples/layered/deps/") for name in files)


def test_derived_is_a_descendant_of_layered_by_digest(examples_build: ExamplesBuild) -> None:
    sbom = sbom_of(examples_build, "derived")
    (base,) = sbom.related(sbom.described(), "DESCENDANT_OF")
    assert base["versionInfo"] == examples_build.printed_digest("layered")
    assert sbom.purls(base) == [f"pkg:oci/layered@{base['versionInfo'].replace(':', '%3A')}?arch=amd64"]
    assert sbom.related(base, "CONTAINS") == []  # layered records no Debian packages


def test_multiarch_describes_its_index_and_a_package_per_platform(examples_build: ExamplesBuild) -> None:
    sbom = sbom_of(examples_build, "multiarch")
    index = sbom.described()
    layout = examples_build.layout("multiarch")
    platforms = {
        m["platform"]["architecture"]: m["digest"] for m in layout.json_blob(index["versionInfo"])["manifests"]
    }
    contained = {p["versionInfo"]: p for p in sbom.related(index, "CONTAINS") if "versionInfo" in p}
    assert sorted(contained) == sorted(platforms.values())
    assert contained[platforms["arm64"]]["comment"] == "Platform linux/arm64/v8."


def test_the_option_turns_the_sbom_off(build_root: BuildRoot, examples_build: ExamplesBuild) -> None:
    sbom = build_root.dist(f"{EXAMPLES['hello'][0]}.spdx.json")
    build_root.package("examples/hello:hello")
    sbom.unlink()
    off = build_root.run("package", "--oci-sbom-formats=[]", "examples/hello:hello")
    assert off.returncode == 0, off.describe()
    assert not sbom.exists() and "spdx.json" not in off.output
    assert off.packaged[EXAMPLES["hello"][0]][1] == examples_build.printed_digest("hello")
    build_root.package("examples/hello:hello")
    assert sbom.read_bytes() == examples_build.dist.joinpath(f"{EXAMPLES['hello'][0]}.spdx.json").read_bytes()


def test_cyclonedx_is_written_beside_spdx_with_the_same_facts(
    build_root: BuildRoot, examples_build: ExamplesBuild
) -> None:
    relpath = EXAMPLES["multiarch"][0]
    both = build_root.run("package", "--oci-sbom-formats=['spdx', 'cyclonedx']", "examples/multiarch:multiarch")
    assert both.returncode == 0, both.describe()
    cdx = build_root.dist(f"{relpath}.cdx.json")
    assert cyclonedx_errors(cdx) == ""
    first = cdx.read_bytes()
    bom = json.loads(first)
    top = bom["metadata"]["component"]
    assert top["version"] == examples_build.printed_digest("multiarch")
    spdx = Sbom(build_root.dist(f"{relpath}.spdx.json"))
    spdx_files = sorted(f["fileName"][1:] for f in spdx.document["files"])
    assert sorted(c["name"] for c in bom["components"] if c["type"] == "file") == spdx_files
    platforms = sorted(c["version"] for c in bom["components"] if c["type"] == "container")
    assert platforms == sorted(
        p["versionInfo"] for p in spdx.related(spdx.described(), "CONTAINS") if "versionInfo" in p
    )
    again = build_root.run("package", "--oci-sbom-formats=['cyclonedx', 'spdx']", "examples/multiarch:multiarch")
    assert again.returncode == 0, again.describe()
    assert cdx.read_bytes() == first
    cdx.unlink()


@pytest.fixture(scope="module")
def own_root(e2e_base: Path):
    """A root of its own without pantsd: the shared root's pantsd watching 1,200 files come and
    go could still be catching up when the next test writes its own."""
    root = BuildRoot.create(e2e_base / "pristine", e2e_base / "root-sbom", e2e_base / "state-sbom", pantsd=False)
    yield root
    root.stop()


_DOCUMENT = "Write the SBOM of oci_image e2e_sbom:img"


def test_a_large_layers_sha1s_come_from_its_layer_process_and_an_edit_hashes_nothing_else(
    own_root: BuildRoot,
) -> None:
    # More files than the rules would hash in memory: the layer process records every file's
    # SHA1 as it reads it, so no process hashes them a second time, cold or after an edit; the
    # one SBOM process writes the document.
    files = {f"data/f{i:04d}.txt": f"file {i}\n" for i in range(1200)}
    build = 'files(name="data", sources=["data/*"])\noci_image(name="img", dependencies=[":data"])\n'
    build_root = own_root
    with scratch_dir(build_root, "e2e_sbom", {"BUILD": build, **files}) as directory:
        first = build_root.package("e2e_sbom:img")
        assert first.sbom_processes_run == [_DOCUMENT] and len(first.layer_processes_run) == 1, first.describe()
        (directory / "data/f0007.txt").write_text("edited\n")
        edited = build_root.package("e2e_sbom:img")
        assert edited.sbom_processes_run == [_DOCUMENT] and len(edited.layer_processes_run) == 1, edited.describe()
        sbom = Sbom(build_root.dist("e2e_sbom/img.spdx.json"))
        validate(sbom.path)
        sha1 = {
            f["fileName"]: {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}["SHA1"]
            for f in sbom.document["files"]
        }
        assert sha1["./e2e_sbom/data/f0007.txt"] == hashlib.sha1(b"edited\n").hexdigest()
        assert sha1["./e2e_sbom/data/f1199.txt"] == hashlib.sha1(b"file 1199\n").hexdigest()
        names = set(sha1)
        assert len(names) == 1200 and "./e2e_sbom/data/f0007.txt" in names
