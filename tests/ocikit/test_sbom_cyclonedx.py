"""The CycloneDX 1.5 document builder: the same facts as the SPDX document in CycloneDX's shapes,
the same bytes for the same facts in any order, and valid for CycloneDX's own schema validator
(cyclonedx-python-lib, tests/cyclonedx_tool.py) on odd paths, names and versions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cyclonedx_tool import cyclonedx_errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sbom_spdx import (
    AMD64,
    ARM64,
    BASE_AMD64,
    IMAGE,
    _deb,
    _file,
    _files,
    _packages,
    _ref,
    _segment,
    _sha,
    _shuffled,
    multiarch_facts,
)

from ocikit.sbom.cyclonedx import cyclonedx_json
from ocikit.sbom.model import ImageSbomFacts, PlatformFacts


def document(facts: ImageSbomFacts) -> dict:
    return json.loads(cyclonedx_json(facts))


def test_a_multi_platform_image_is_its_index_with_a_container_per_platform() -> None:
    bom = document(multiarch_facts())
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.5", 1)
    top = bom["metadata"]["component"]
    assert (top["type"], top["version"], top["hashes"]) == (
        "container",
        IMAGE,
        [{"alg": "SHA-256", "content": "1" * 64}],
    )
    assert bom["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert bom["metadata"]["tools"] == {
        "components": [{"type": "application", "name": "pants-oci", "version": "0.1.0"}]
    }
    components = {c["bom-ref"]: c for c in bom["components"]}
    amd64 = components[f"image:web@{AMD64}"]
    (ancestor,) = amd64["pedigree"]["ancestors"]
    assert (ancestor["name"], ancestor["version"]) == ("debian", BASE_AMD64)
    base = components[f"base:debian@{BASE_AMD64}"]
    assert sorted(c["name"] for c in base["components"]) == ["libc6", "tzdata"]
    humanize = components[f"image:web@{IMAGE}/pkg:pypi/humanize@4.9.0"]
    assert humanize["purl"] == "pkg:pypi/humanize@4.9.0" and humanize["licenses"] == [{"expression": "MIT"}]
    assert humanize["hashes"] == [{"alg": "SHA-256", "content": "c" * 64}]
    main = components["file:/app/src/web/main.py"]
    assert [h["alg"] for h in main["hashes"]] == ["SHA-1", "SHA-256"]
    assert main["properties"] == [{"name": "pants-oci:target", "value": "src/web/main.py"}]
    graph = {d["ref"]: d["dependsOn"] for d in bom["dependencies"]}
    assert f"image:web@{AMD64}" in graph[f"image:web@{IMAGE}"]
    assert f"image:web@{ARM64}" in graph[f"image:web@{IMAGE}"]
    assert graph[f"image:web@{AMD64}"] == [f"base:debian@{BASE_AMD64}"]
    assert len(graph[f"base:debian@{BASE_AMD64}"]) == 2
    refs = [c["bom-ref"] for c in bom["components"]] + [
        c["bom-ref"] for b in bom["components"] for c in b.get("components", [])
    ]
    assert len(refs) == len(set(refs)), "every bom-ref is unique (tzdata sits in both bases)"


def test_a_single_platform_image_is_its_manifest_and_records_its_base() -> None:
    ref = _ref("hello", AMD64, "linux/amd64")
    base = _ref("debian", BASE_AMD64, "linux/amd64")
    bom = document(ImageSbomFacts(ref, (PlatformFacts(ref, base),), files=(_file("/hello.txt"),)))
    top = bom["metadata"]["component"]
    assert top["version"] == AMD64 and top["pedigree"]["ancestors"][0]["version"] == BASE_AMD64
    assert sorted(c["bom-ref"] for c in bom["components"]) == [f"base:debian@{BASE_AMD64}", "file:/hello.txt"]
    scratch = document(ImageSbomFacts(ref, (PlatformFacts(ref),)))
    assert "pedigree" not in scratch["metadata"]["component"] and scratch["components"] == []


def _base_listing_a_package_twice() -> ImageSbomFacts:
    ref = _ref("hello", AMD64, "linux/amd64")
    libc = _deb("libc6", "2.36-9", "amd64")
    return ImageSbomFacts(ref, (PlatformFacts(ref, _ref("debian", BASE_AMD64, "linux/amd64"), (libc, libc)),))


def test_a_package_the_base_lists_twice_is_one_component() -> None:
    (base,) = document(_base_listing_a_package_twice())["components"]
    assert [c["name"] for c in base["components"]] == ["libc6"]


def test_the_same_facts_in_any_order_give_the_same_bytes_and_serial() -> None:
    facts = dataclasses.replace(multiarch_facts(), notes=("b", "a"))
    expected = _sha(cyclonedx_json(facts))
    for seed in range(20):
        assert _sha(cyclonedx_json(_shuffled(facts, seed))) == expected
    other = dataclasses.replace(facts, files=facts.files[:1])
    assert document(other)["serialNumber"] != document(facts)["serialNumber"]
    assert document(facts)["serialNumber"].startswith("urn:uuid:")


@pytest.mark.slow  # the validator's venv is made once per machine (PyPI)
def test_documents_with_odd_names_validate(tmp_path: Path) -> None:
    documents = [cyclonedx_json(multiarch_facts()), cyclonedx_json(_base_listing_a_package_twice())]

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(files=_files, packages=_packages, name=_segment, debs=st.lists(st.tuples(_segment, _segment), max_size=4))
    def generate(files, packages, name, debs) -> None:
        ref = _ref(name, AMD64, "linux/amd64")
        base = _ref("base " + name, BASE_AMD64, "linux/amd64")
        deb_packages = tuple(_deb(n, v, "amd64") for n, v in debs)
        documents.append(
            cyclonedx_json(
                ImageSbomFacts(
                    ref, (PlatformFacts(ref, base, deb_packages),), packages=tuple(packages), files=tuple(files)
                )
            )
        )

    generate()
    paths = []
    for n, content in enumerate(documents):
        paths.append(tmp_path / f"{n}.cdx.json")
        paths[-1].write_bytes(content)
    assert cyclonedx_errors(*paths) == ""
