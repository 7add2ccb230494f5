"""SLSA provenance from the build graph (pants_oci.provenance): a pure, deterministic function."""

from __future__ import annotations

import json

from pants_oci.provenance import LayerFact, ProvenanceFacts, provenance_predicate

DIFF = "sha256:" + "1" * 64
BLOB = "sha256:" + "2" * 64
BASE = "sha256:" + "3" * 64


def facts(**changes) -> ProvenanceFacts:
    values = dict(
        target="apps:web",
        pants_version="2.17.1",
        plugin_version="0.1.0",
        source_date_epoch=0,
        compression="gzip",
        base="registry.example.com/base/debian:12",
        base_digests=(("linux/amd64", BASE),),
        layers=(LayerFact("linux/amd64", DIFF, BLOB, "pants: oci_layer apps:files"),),
        lockfiles=(("3rdparty/oci/base-images.lock.yaml", "sha256:" + "4" * 64),),
    )
    values.update(changes)
    return ProvenanceFacts(**values)


def test_the_predicate_names_target_base_layers_lockfile_and_versions() -> None:
    predicate = provenance_predicate(facts())
    build = predicate["buildDefinition"]
    assert build["externalParameters"] == {"target": "apps:web", "base": "registry.example.com/base/debian:12"}
    assert build["internalParameters"]["pants"] == "2.17.1" and build["internalParameters"]["pants-oci"] == "0.1.0"
    assert build["resolvedDependencies"] == [
        {"name": "base linux/amd64", "uri": "registry.example.com/base/debian:12", "digest": {"sha256": "3" * 64}},
        {
            "name": "layer 0 linux/amd64",
            "digest": {"sha256": "1" * 64},
            "annotations": {"blob": BLOB, "created_by": "pants: oci_layer apps:files"},
        },
        {"uri": "file:3rdparty/oci/base-images.lock.yaml", "digest": {"sha256": "4" * 64}},
    ]
    assert predicate["runDetails"]["builder"]["id"].startswith("urn:pants-oci:")


def test_the_same_facts_give_the_same_bytes_and_nothing_of_the_invocation() -> None:
    one = json.dumps(provenance_predicate(facts()), sort_keys=True)
    assert one == json.dumps(provenance_predicate(facts()), sort_keys=True)
    assert "metadata" not in json.loads(one)["runDetails"], "no time or invocation id: re-publishes find it"
    assert one != json.dumps(provenance_predicate(facts(source_date_epoch=1)), sort_keys=True)
