"""An image's SBOM facts -> one CycloneDX 1.5 JSON document (pure: the same facts give the same
bytes). The same facts as the SPDX document (`ocikit.sbom.spdx`), in CycloneDX's shapes:

- `metadata.component` is the image: its index (each platform's manifest a component of it) or
  its single manifest, a `container` named by digest;
- each platform image records its base in `pedigree.ancestors`, and the base is a component of
  its own whose nested components are the Debian packages read from its layers;
- the Python distributions are `library` components, the first-party files `file` components
  (SHA-1 and SHA-256, and the Pants target that put them there as a property);
- `dependencies` is the graph: image -> platform images, packages, files; platform image -> base;
  base -> its packages.

Deterministic: every bom-ref is derived from what it names, lists are sorted, the timestamp is
the image's `created` time and the serial number is a UUID made from a hash of the rest.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Dict, List, Tuple

from ocikit.canonical_json import canonical_json
from ocikit.sbom.model import NOASSERTION, ImageRef, ImageSbomFacts, SbomFile, SbomPackage

SPEC_VERSION = "1.5"
SCHEMA = "http://cyclonedx.org/schema/bom-1.5.schema.json"
_PLACEHOLDER = "urn:uuid:00000000-0000-0000-0000-000000000000"

Component = Dict[str, Any]


def cyclonedx_json(facts: ImageSbomFacts) -> bytes:
    """The document's bytes: sorted keys, compact, UTF-8, a final newline."""
    document = _document(facts)
    placeholder = canonical_json(document) + b"\n"
    serial = uuid.UUID(bytes=hashlib.sha256(placeholder).digest()[:16], version=5)
    key = b'"serialNumber":'
    return placeholder.replace(key + json.dumps(_PLACEHOLDER).encode(), key + json.dumps(serial.urn).encode(), 1)


def _document(facts: ImageSbomFacts) -> Dict[str, Any]:
    top = _image(facts.top)
    components: Dict[str, Component] = {}
    graph: Dict[str, set] = {top["bom-ref"]: set()}
    for platform in facts.platforms:
        # A single-platform image is its own manifest: then the platform's component is the top.
        image = top if _ref(platform.image, "image") == top["bom-ref"] else _image(platform.image)
        if image is not top:
            components[image["bom-ref"]] = image
            graph[top["bom-ref"]].add(image["bom-ref"])
        if platform.base is None:
            continue
        base = _image(platform.base, "base")
        # A package listed twice (as a dpkg status may) is one component: CycloneDX refuses twins.
        owned = [_package(p, base["bom-ref"]) for p in set(platform.base_packages)]
        base["components"] = sorted(owned, key=lambda c: c["bom-ref"])
        components[base["bom-ref"]] = base
        image["pedigree"] = {"ancestors": [_ancestor(platform.base)]}
        graph.setdefault(image["bom-ref"], set()).add(base["bom-ref"])
        graph.setdefault(base["bom-ref"], set()).update(c["bom-ref"] for c in owned)
    for element in [_package(p, top["bom-ref"]) for p in facts.packages] + [_file(f) for f in facts.files]:
        components[element["bom-ref"]] = element
        graph[top["bom-ref"]].add(element["bom-ref"])
    return {
        "$schema": SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": _PLACEHOLDER,
        "version": 1,
        "metadata": _metadata(facts, top),
        "components": [components[k] for k in sorted(components)],
        "dependencies": [{"ref": ref, "dependsOn": sorted(graph[ref])} for ref in sorted(graph)],
    }


def _metadata(facts: ImageSbomFacts, top: Component) -> Dict[str, Any]:
    name, version = _tool(facts.tool)
    tool: Component = {"type": "application", "name": name}
    if version:
        tool["version"] = version
    metadata: Dict[str, Any] = {"timestamp": facts.created, "tools": {"components": [tool]}, "component": top}
    if facts.notes:
        metadata["properties"] = [{"name": "pants-oci:note", "value": note} for note in sorted(set(facts.notes))]
    return metadata


def _tool(tool: str) -> Tuple[str, str]:
    """ "pants-oci-0.1.0" -> ("pants-oci", "0.1.0")."""
    name, _, version = tool.rpartition("-")
    return (name, version) if name and version[:1].isdigit() else (tool, "")


def _ref(image: ImageRef, kind: str) -> str:
    return f"{kind}:{image.name}@{image.digest}"


def _hashes(*pairs: Tuple[str, str]) -> List[Dict[str, str]]:
    return [{"alg": alg, "content": value} for alg, value in pairs if value]


def _ancestor(image: ImageRef) -> Component:
    """The base as a pedigree ancestor: what it is, without a bom-ref (its component has that)."""
    ancestor = _image(image, "base")
    del ancestor["bom-ref"]
    return ancestor


def _image(image: ImageRef, kind: str = "image") -> Component:
    algorithm, _, value = image.digest.partition(":")
    component: Component = {
        "type": "container",
        "bom-ref": _ref(image, kind),
        "name": image.name,
        "version": image.digest,
        "hashes": _hashes(("SHA-256" if algorithm == "sha256" else algorithm.upper(), value)),
    }
    purls = sorted(set(image.purls))
    if purls:
        component["purl"] = purls[0]
    properties = [("pants-oci:platform", image.platform)] + [("pants-oci:purl", p) for p in purls[1:]]
    if image.comment:
        properties.append(("pants-oci:comment", image.comment))
    _properties(component, properties)
    return component


def _package(package: SbomPackage, owner: str) -> Component:
    component: Component = {
        "type": "library",
        # The same package may sit in two bases (one per platform): its ref says whose it is.
        "bom-ref": f"{owner}/{package.purl}",
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
    }
    if package.sha256:
        component["hashes"] = _hashes(("SHA-256", package.sha256))
    if package.license_declared and package.license_declared != NOASSERTION:
        component["licenses"] = [{"expression": package.license_declared}]
    if package.download_location and package.download_location != NOASSERTION:
        component["externalReferences"] = [{"type": "distribution", "url": package.download_location}]
    _properties(
        component, [("pants-oci:license-comment", package.license_comment), ("pants-oci:comment", package.comment)]
    )
    return component


def _file(file: SbomFile) -> Component:
    component: Component = {
        "type": "file",
        "bom-ref": f"file:{file.path}",
        "name": file.path,
        "hashes": _hashes(("SHA-1", file.sha1), ("SHA-256", file.sha256)),
    }
    _properties(component, [("pants-oci:target", file.contributor)])
    return component


def _properties(component: Component, pairs: List[Tuple[str, str]]) -> None:
    properties = [{"name": name, "value": value} for name, value in pairs if value]
    if properties:
        component["properties"] = properties
