"""The SBOM `package` writes beside each layout, through the wired rules: what it lists (files
with the targets they come from, the base by digest, the Debian packages a base records), that
it validates, that it leaves every digest alone, and the option that turns it off."""

from __future__ import annotations

import hashlib
import json

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestContents, DigestEntries, FileContent, FileDigest, FileEntry
from pants.testutil.rule_runner import MockGet, RuleRunner, run_rule_with_mocks
from pants.util.frozendict import FrozenDict
from spdx_tools.spdx.parser.jsonlikedict import json_like_dict_parser as spdx_parser  # pinned in requirements-pants.txt
from spdx_tools.spdx.validation import document_validator as spdx_validator

from ocikit.contracts.sbom import FileSha1s, SbomFileList
from ocikit.image import Descriptor, Layer
from pants_oci.goals.package import OciImageFieldSet
from pants_oci.layer_fields import OciLayerDependenciesField
from pants_oci.sbom.files import (
    LISTING,
    ContributedFiles,
    ContributedFilesRequest,
    FileSha1Request,
    ImageFileSha1s,
    LayerPartSbomFilesRequest,
    LayerSbomFilesRequest,
    bucket_count,
    bucket_of,
    hash_contributed_files,
    image_file_sha1s,
    layer_part_sbom_files,
    layer_sbom_files,
)
from pants_oci.subsystem import Compression
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest
from pants_oci.util_rules.layer_inputs import LayerInputs, OciLayerRequest
from pants_oci.util_rules.layer_shards import LayerShards, LayerShardsRequest, ShardedLayerRequest
from pants_oci.util_rules.layers import BuiltOciLayer, LayerPart
from pants_oci.util_rules.settings import LayerCompression

STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4

Package: zlib1g
Status: install ok installed
Architecture: amd64
Version: 1:1.2.13.dfsg-1
"""


def package(rule_runner: RuleRunner, spec_path: str, name: str) -> tuple[BuiltPackage, dict[str, bytes]]:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    built = rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])
    contents = rule_runner.request(DigestContents, [built.digest])
    return built, {fc.path: fc.content for fc in contents}


def validation_errors(document: bytes) -> list[str]:
    parsed = spdx_parser.JsonLikeDictParser().parse(json.loads(document))
    return [m.validation_message for m in spdx_validator.validate_full_spdx_document(parsed)]


def described(document: dict) -> dict:
    (top,) = document["documentDescribes"]
    return next(p for p in document["packages"] if p["SPDXID"] == top)


def related(document: dict, element: str, kind: str) -> list[dict]:
    ids = {
        r["relatedSpdxElement"]
        for r in document["relationships"]
        if (r["spdxElementId"], r["relationshipType"]) == (element, kind)
    }
    return [e for e in document["packages"] + document["files"] if e["SPDXID"] in ids]


@pytest.fixture
def images(rule_runner: RuleRunner) -> RuleRunner:
    rule_runner.write_files(
        {
            "base/status": STATUS,
            "base/BUILD": """
file(name="status", source="status")
relocated_files(name="dpkg", files_targets=[":status"], src="base", dest="var/lib/dpkg")
oci_image(name="base", dependencies=[":dpkg"], repository="team/base")
""",
            "app/a b.txt": "hello",
            "app/conf/é.toml": "x = 1\n",
            "app/BUILD": """
files(name="f", sources=["a b.txt"])
files(name="conf", sources=["conf/*"])
oci_layer(name="layer", dependencies=[":f"], destination="/srv")
oci_image(name="app", base="//base:base", layers=[":layer"], dependencies=[":conf"])
""",
        }
    )
    return rule_runner


def test_the_sbom_lists_the_files_the_base_and_the_base_packages(images: RuleRunner) -> None:
    built, files = package(images, "app", "app")
    layout, sbom = built.artifacts
    assert sbom.relpath == f"{layout.relpath}.spdx.json"
    raw = files["app/app.spdx.json"]
    assert validation_errors(raw) == []
    document = json.loads(raw)
    image = described(document)
    assert image["versionInfo"] == layout.digest
    assert image["externalRefs"][0]["referenceLocator"] == f"pkg:oci/app@{layout.digest.replace(':', '%3A')}?arch=amd64"
    contained = {f["fileName"]: f for f in related(document, image["SPDXID"], "CONTAINS")}
    assert sorted(contained) == ["./app/conf/é.toml", "./srv/app/a b.txt"]
    hello = contained["./srv/app/a b.txt"]
    assert hello["checksums"] == [
        {"algorithm": "SHA1", "checksumValue": hashlib.sha1(b"hello").hexdigest()},
        {"algorithm": "SHA256", "checksumValue": hashlib.sha256(b"hello").hexdigest()},
    ]
    assert hello["comment"] == "Put in the image by the Pants target app/a b.txt:f."
    (base,) = related(document, image["SPDXID"], "DESCENDANT_OF")
    _, base_files = package(images, "base", "base")
    base_index = json.loads(base_files["base/base/index.json"])
    assert base["versionInfo"] == base_index["manifests"][0]["digest"]
    assert base["name"] == "team/base"
    debs = {p["name"]: p for p in related(document, base["SPDXID"], "CONTAINS")}
    assert sorted(debs) == ["libc6", "zlib1g"]
    assert debs["zlib1g"]["versionInfo"] == "1:1.2.13.dfsg-1"
    assert debs["zlib1g"]["externalRefs"][0]["referenceLocator"] == "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64"


def test_the_sbom_changes_no_digest_and_the_option_turns_it_off(images: RuleRunner) -> None:
    with_sbom, files = package(images, "app", "app")
    images.set_options(["--oci-sbom-formats=[]"], env_inherit={"PATH", "HOME"})
    without, files_without = package(images, "app", "app")
    assert [a.relpath for a in without.artifacts] == ["app/app"]
    assert not [path for path in files_without if path.endswith(".spdx.json")]
    assert without.artifacts[0].digest == with_sbom.artifacts[0].digest
    assert {p: c for p, c in files.items() if not p.endswith(".spdx.json")} == files_without


def test_the_same_build_gives_the_same_bytes(images: RuleRunner) -> None:
    _, first = package(images, "app", "app")
    images.set_options(["--oci-sbom-formats=['spdx']"], env_inherit={"PATH", "HOME"})  # a new session
    _, second = package(images, "app", "app")
    assert first["app/app.spdx.json"] == second["app/app.spdx.json"]


def test_files_are_hashed_in_buckets_by_path() -> None:
    assert bucket_count(1, 10) == 1
    assert bucket_count(5000, 200 << 20) == 8  # 7 by size, rounded up to a power of two
    assert bucket_count(3000, 1) == 4
    paths = [f"srv/{i}.txt" for i in range(2000)]
    spread = {bucket_of(p, 4) for p in paths}
    assert spread == {0, 1, 2, 3}
    # Doubling the buckets splits each one: a file's bucket in 8 is its bucket in 4, or it + 4.
    assert all(bucket_of(p, 8) % 4 == bucket_of(p, 4) for p in paths)


def test_every_format_the_option_accepts_has_a_writer() -> None:
    from ocikit.sbom.formats import FORMATS
    from pants_oci.subsystem import SbomFormat

    assert sorted(f.value for f in SbomFormat) == sorted(FORMATS)


def test_cyclonedx_is_written_beside_spdx_and_changes_no_digest(images: RuleRunner) -> None:
    spdx_only, _ = package(images, "app", "app")
    images.set_options(["--oci-sbom-formats=['cyclonedx', 'spdx']"], env_inherit={"PATH", "HOME"})
    both, files = package(images, "app", "app")
    assert [a.relpath for a in both.artifacts] == ["app/app", "app/app.cdx.json", "app/app.spdx.json"]
    assert both.artifacts[0].digest == spdx_only.artifacts[0].digest
    bom = json.loads(files["app/app.cdx.json"])
    assert bom["metadata"]["component"]["version"] == both.artifacts[0].digest
    assert sorted(c["name"] for c in bom["components"] if c["type"] == "file") == [
        "/app/conf/é.toml",
        "/srv/app/a b.txt",
    ]


def test_known_sha1s_are_taken_from_the_layers_and_only_the_rest_is_hashed() -> None:
    def entry(path: str, content: bytes) -> FileEntry:
        return FileEntry(path, FileDigest(hashlib.sha256(content).hexdigest(), len(content)))

    known = {b"one": entry("app/one", b"one"), b"two": entry("app/two", b"two")}
    unknown = entry("app/three", b"three")
    created: list[CreateDigest] = []

    def create(request: CreateDigest) -> Digest:
        created.append(request)
        return Digest("cd" * 32, 1)

    request = ContributedFilesRequest(
        Digest("ab" * 32, 3),
        FrozenDict({"app/one": "//app:one"}),
        "//app:layer",
        "oci_layer //app:layer",
        Address("app", target_name="img"),
    )
    sha1s = ImageFileSha1s(
        FrozenDict({e.file_digest.fingerprint: hashlib.sha1(c).hexdigest() for c, e in known.items()})
    )
    result = run_rule_with_mocks(
        hash_contributed_files,
        rule_args=[request],
        mock_gets=[
            MockGet(ImageFileSha1s, (OciImageRequest,), lambda r: sha1s),
            MockGet(DigestEntries, (Digest,), lambda _: DigestEntries([*known.values(), unknown])),
            MockGet(Digest, (CreateDigest,), create),
            MockGet(DigestContents, (Digest,), lambda _: DigestContents([FileContent("app/three", b"three")])),
            MockGet(FileSha1s, (FileSha1Request,), lambda _: pytest.fail("a small rest is hashed in memory")),
        ],
    )
    read, listed = created
    assert list(read) == [unknown]  # only the unknown file is read
    assert result.listing == Digest("cd" * 32, 1)
    assert _listed(listed) == [
        ("/app/one", hashlib.sha1(b"one").hexdigest(), "//app:one"),
        ("/app/three", hashlib.sha1(b"three").hexdigest(), "//app:layer"),
        ("/app/two", hashlib.sha1(b"two").hexdigest(), "//app:layer"),
    ]


def _listed(request: CreateDigest) -> list[tuple[str, str, str]]:
    """(path, SHA1, contributor) of each file a ContributedFiles' listing lists."""
    (listing,) = request
    assert isinstance(listing, FileContent) and listing.path == LISTING
    return [(path, sha1, owner) for path, _, sha1, owner in SbomFileList.loads(listing.content).files]


def test_an_images_sha1s_are_its_layers_merged() -> None:
    layers = (FrozenDict({"a" * 64: "1" * 40}), FrozenDict({"b" * 64: "2" * 40, "a" * 64: "1" * 40}))
    image = BuiltOciImage(Address("app", target_name="img"), (), None, Digest("ef" * 32, 1), layer_file_sha1s=layers)
    merged = run_rule_with_mocks(
        image_file_sha1s,
        rule_args=[OciImageRequest(image.address)],
        mock_gets=[MockGet(BuiltOciImage, (OciImageRequest,), lambda _: image)],
    )
    assert merged == ImageFileSha1s(FrozenDict({"a" * 64: "1" * 40, "b" * 64: "2" * 40}))


def _entry(path: str, content: bytes) -> FileEntry:
    return FileEntry(path, FileDigest(hashlib.sha256(content).hexdigest(), len(content)))


def _layer() -> OciLayerRequest:
    address = Address("app", target_name="layer")
    return OciLayerRequest(
        address,
        OciLayerDependenciesField([":files"], address),
        "/srv/app",
        0,
        0,
        "oci_layer app:layer",
        LayerCompression(Compression.gzip, 1),
    )


def test_a_layer_is_listed_once_per_process_each_part_with_its_own_owners() -> None:
    layer = _layer()
    one, two = _entry("one", b"one"), _entry("sub/two", b"two")
    inputs = LayerInputs(Digest("ab" * 32, 2), 6, FrozenDict({"one": "app:one", "sub/two": "app:two"}))
    parts = [LayerPart.of_layer(layer, Digest(c * 64, 1), FrozenDict(), f"shard {n}") for n, c in ((1, "1"), (2, "2"))]
    entries = {parts[0].files: [one], parts[1].files: [two]}
    shards = LayerShardsRequest(ShardedLayerRequest(layer, 1 << 20), scale=2)
    asked: list[LayerPartSbomFilesRequest] = []
    listed = run_rule_with_mocks(
        layer_sbom_files,
        rule_args=[LayerSbomFilesRequest(shards)],
        mock_gets=[
            MockGet(LayerInputs, (OciLayerRequest,), lambda r: inputs if r == layer else pytest.fail(str(r))),
            MockGet(
                LayerShards,
                (LayerShardsRequest,),
                lambda r: LayerShards(tuple((p, 1) for p in parts)) if r == shards else pytest.fail(str(r)),
            ),
            MockGet(DigestEntries, (Digest,), lambda d: DigestEntries(entries[d])),
            MockGet(
                ContributedFiles,
                (LayerPartSbomFilesRequest,),
                lambda r: asked.append(r) or ContributedFiles(Digest(r.part.files.fingerprint[:1] * 64, 1)),
            ),
        ],
    )
    assert asked == [
        LayerPartSbomFilesRequest(parts[0], FrozenDict({"one": "app:one"}), "app:layer", "srv/app/"),
        LayerPartSbomFilesRequest(parts[1], FrozenDict({"sub/two": "app:two"}), "app:layer", "srv/app/"),
    ]
    assert listed.listings == (Digest("1" * 64, 1), Digest("2" * 64, 1))


def test_a_layer_process_files_are_listed_with_the_sha1s_it_recorded() -> None:
    one, two = _entry("one", b"one"), _entry("sub/two", b"two")
    part = LayerPart.of_layer(_layer(), Digest("1" * 64, 2), FrozenDict(), "shard 1")
    built = BuiltOciLayer(
        Layer(Descriptor("m", "sha256:" + "0" * 64, 1), "sha256:" + "0" * 64, ""),
        Digest("ef" * 32, 1),
        FrozenDict(
            {
                one.file_digest.fingerprint: hashlib.sha1(b"one").hexdigest(),
                two.file_digest.fingerprint: hashlib.sha1(b"two").hexdigest(),
            }
        ),
    )
    created: list[CreateDigest] = []
    listed = run_rule_with_mocks(
        layer_part_sbom_files,
        rule_args=[LayerPartSbomFilesRequest(part, FrozenDict({"one": "app:one"}), "app:layer", "srv/app/")],
        mock_gets=[
            MockGet(DigestEntries, (Digest,), lambda d: DigestEntries([one, two]) if d == part.files else None),
            MockGet(BuiltOciLayer, (LayerPart,), lambda p: built if p == part else pytest.fail(str(p))),
            MockGet(Digest, (CreateDigest,), lambda r: created.append(r) or Digest("cd" * 32, 1)),
            MockGet(DigestContents, (Digest,), lambda _: pytest.fail("every SHA1 was recorded")),
            MockGet(FileSha1s, (FileSha1Request,), lambda _: pytest.fail("every SHA1 was recorded")),
        ],
    )
    (request,) = created
    assert _listed(request) == [
        ("/srv/app/one", hashlib.sha1(b"one").hexdigest(), "app:one"),
        ("/srv/app/sub/two", hashlib.sha1(b"two").hexdigest(), "app:layer"),
    ]
    assert listed.listing == Digest("cd" * 32, 1)
