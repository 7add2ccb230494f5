"""What the rules write for the workers is exactly a contract of ocikit.contracts: the keys of
each JSON file are the contract's, and each command line is the command's (the worker side is
tests/ocikit/test_contracts_read.py)."""

from __future__ import annotations

import json

from pants_oci.subsystem import Compression
from pants_oci.util_rules.layers import LayerPart, layer_spec
from pants_oci.util_rules.settings import LayerCompression
from pants.engine.fs import EMPTY_DIGEST
from pants.util.frozendict import FrozenDict

from ocikit.contract import field_names
from ocikit.contracts.layer import LayerSpec


def _keys(raw: bytes) -> set:
    return set(json.loads(raw))


def test_the_layer_spec_is_the_contract():
    part = LayerPart(EMPTY_DIGEST, "/app", 1, 2, "oci_layer //a:b", LayerCompression(Compression.zstd, 5),
                     FrozenDict({"bin/py": "/usr/bin/python3"}))
    spec = layer_spec(part, 1700000000)
    assert _keys(spec.dumps()) == {"kind", "version", *field_names(LayerSpec)}
    assert LayerSpec.loads(spec.dumps()) == LayerSpec(
        "files", "/app", 1, 2, "normalize", "zstd", 5, 1700000000, None, {"bin/py": "/usr/bin/python3"}
    )
    without_links = layer_spec(LayerPart(EMPTY_DIGEST, "/", 0, 0, "w", LayerCompression(Compression.gzip, None)), 0)
    assert without_links.symlinks == {} and without_links.dumps() == LayerSpec("files", "/").dumps()
