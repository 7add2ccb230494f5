"""An image's SBOM facts -> one SPDX 2.3 JSON document (pure: the same facts give the same bytes).

The image is the described package: its index (which CONTAINS a package per platform manifest)
or its single manifest. Each platform image is a DESCENDANT_OF its base image (same lineage:
the base's layers, then the image's own), and the base CONTAINS the packages read from its
layers. The image CONTAINS the Python distributions and first-party files of its own layers.

Deterministic by construction: SPDXIDs are derived from each element's content (never a
counter), every list is sorted, the creation time is the image's `created` time, and the
documentNamespace ends in a hash of the rest of the document.

The files (tens of thousands in a large image) are most of the document: each file's element
and relationship is written from a template, in canonical form, and spliced into the encoding
of the rest, instead of built as a dict and encoded with sorted keys (about 3x faster; the
tests check the result is exactly the canonical encoding of the whole).
"""

from __future__ import annotations

import hashlib
import json
import re
from json.encoder import encode_basestring
from typing import Any, Dict, Iterable, List, Set, Tuple

from ocikit.canonical_json import canonical_json
from ocikit.sbom.model import NOASSERTION, ImageRef, ImageSbomFacts, SbomFile, SbomPackage

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
# A name in a reserved top-level domain: unique by its hash, and never mistaken for a page.
NAMESPACE_BASE = "https://pants-oci.invalid/spdx/"

_SLUG = re.compile(r"[^A-Za-z0-9.]+")
_PLACEHOLDER = NAMESPACE_BASE + "namespace"

Element = Dict[str, Any]
Relationship = Tuple[str, str, str]


def spdx_json(facts: ImageSbomFacts) -> bytes:
    """The document's bytes: sorted keys, compact, UTF-8, a final newline (`jq .` indents it).
    Written once, compact (json's C encoder: indenting takes its pure-Python one, 5x slower on
    thousands of files): the namespace, a hash of the rest, replaces a placeholder."""
    document, relationships = _document(facts)
    files = sorted(_file_entry(file) for file in facts.files)
    relationships.update((document["documentDescribes"][0], "CONTAINS", spdx_id) for _, spdx_id, _ in files)
    document["files"] = _FILES
    document["relationships"] = _RELATIONSHIPS
    placeholder = (
        _dumps(document)
        .replace(_encoded_key("files", _FILES), b'"files":[' + b",".join(e for _, _, e in files) + b"]", 1)
        .replace(
            _encoded_key("relationships", _RELATIONSHIPS),
            b'"relationships":[' + b",".join(_relationship(*r) for r in sorted(relationships)) + b"]",
            1,
        )
    )
    content = hashlib.sha256(placeholder).hexdigest()[:32]
    top = facts.top
    namespace = f"{NAMESPACE_BASE}{_slug(top.name)}/{top.digest.replace(':', '-')}/{content}"
    key = b'"documentNamespace":'
    return placeholder.replace(key + json.dumps(_PLACEHOLDER).encode(), key + json.dumps(namespace).encode(), 1)


def spdx_document(facts: ImageSbomFacts) -> Dict[str, Any]:
    return json.loads(spdx_json(facts))


def _document(facts: ImageSbomFacts) -> Tuple[Dict[str, Any], Set[Relationship]]:
    """The document but its files, and its relationships but the files'."""
    packages: Dict[str, Element] = {}
    relationships: set[Relationship] = set()
    top_id = _add(packages, _image_package(facts.top, "Image", files_analyzed=bool(facts.files)))
    relationships.add((DOCUMENT_ID, "DESCRIBES", top_id))
    for platform in facts.platforms:
        image_id = _image_id(platform.image, "Image")
        if image_id != top_id:
            _add(packages, _image_package(platform.image, "Image", files_analyzed=False))
            relationships.add((top_id, "CONTAINS", image_id))
        if platform.base is None:
            continue
        base_id = _add(packages, _image_package(platform.base, "Base", files_analyzed=False))
        relationships.add((image_id, "DESCENDANT_OF", base_id))
        for package in platform.base_packages:
            relationships.add((base_id, "CONTAINS", _add(packages, _package(package))))
    for package in facts.packages:
        relationships.add((top_id, "CONTAINS", _add(packages, _package(package))))
    document = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": f"{facts.top.name}@{facts.top.digest}",
        "documentNamespace": _PLACEHOLDER,
        "creationInfo": _creation_info(facts),
        "documentDescribes": [top_id],
        "packages": [packages[k] for k in sorted(packages)],
    }
    return document, relationships


# Stand-ins for the two arrays spliced in: strings no fact can hold (a NUL).
_FILES = "\0files"
_RELATIONSHIPS = "\0relationships"


def _encoded_key(key: str, value: str) -> bytes:
    return canonical_json({key: value})[1:-1]


def _json(value: str) -> bytes:
    """A string as canonical_json writes it (json's own string encoder, as ensure_ascii=False
    uses it)."""
    return encode_basestring(value).encode("utf-8")


def _relationship(a: str, kind: str, b: str) -> bytes:
    """canonical_json of the relationship: its keys in sorted order. SPDXIDs (`spdx_id`) and
    relationship types never need escaping."""
    return b'{"relatedSpdxElement":"%s","relationshipType":"%s","spdxElementId":"%s"}' % (
        b.encode(),
        kind.encode(),
        a.encode(),
    )


def _dumps(document: Dict[str, Any]) -> bytes:
    return canonical_json(document) + b"\n"


def _creation_info(facts: ImageSbomFacts) -> Dict[str, Any]:
    info: Dict[str, Any] = {"created": facts.created, "creators": [f"Tool: {facts.tool}"]}
    if facts.notes:
        info["comment"] = " ".join(sorted(set(facts.notes)))
    return info


def _slug(label: str) -> str:
    return _SLUG.sub("-", label).strip("-.")[:48].strip("-.") or "x"


def spdx_id(kind: str, label: str, *content: str) -> str:
    """`SPDXRef-<kind>-<readable label>-<hash of the content>`: the same element always gets the
    same id, and two elements differ in their hash even when their labels look alike."""
    digest = hashlib.sha256("\0".join((kind, *content)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"SPDXRef-{kind}-{_slug(label)}-{digest[:20]}"


def _add(elements: Dict[str, Element], element: Element) -> str:
    """Add an element once; the same id with other content is a collision, never a silent merge."""
    existing = elements.setdefault(element["SPDXID"], element)
    if existing != element:
        raise ValueError(f"two SBOM elements share the SPDXID {element['SPDXID']}")
    return element["SPDXID"]


def _purl_refs(purls: Iterable[str]) -> List[Element]:
    return [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}
        for purl in sorted(set(purls))
    ]


def _image_id(ref: ImageRef, kind: str) -> str:
    return spdx_id(kind, ref.name, ref.digest)


def _image_package(ref: ImageRef, kind: str, files_analyzed: bool) -> Element:
    algorithm, _, value = ref.digest.partition(":")
    element: Element = {
        "SPDXID": _image_id(ref, kind),
        "name": ref.name,
        "versionInfo": ref.digest,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": files_analyzed,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": algorithm.upper(), "checksumValue": value}],
        "externalRefs": _purl_refs(ref.purls),
    }
    comment = " ".join(p for p in (f"Platform {ref.platform}." if ref.platform else "", ref.comment) if p)
    if comment:
        element["comment"] = comment
    return element


def _package(package: SbomPackage) -> Element:
    element: Element = {
        "SPDXID": spdx_id(
            f"Package-{package.ecosystem}",
            package.name,
            package.purl,
            package.license_declared,
            package.sha256,
            package.download_location,
        ),
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": package.download_location or NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": package.license_declared or NOASSERTION,
        "copyrightText": NOASSERTION,
        "externalRefs": _purl_refs([package.purl]),
    }
    if package.ecosystem == "pypi":
        element["primaryPackagePurpose"] = "LIBRARY"
    if package.sha256:
        element["checksums"] = [{"algorithm": "SHA256", "checksumValue": package.sha256}]
    if package.license_comment:
        element["licenseComments"] = package.license_comment
    if package.comment:
        element["comment"] = package.comment
    return element


def file_name(path: str) -> str:
    """SPDX file names are relative to the package root: `/app/run.sh` -> `./app/run.sh`."""
    return "./" + path.lstrip("/")


_FILE = (
    b'{"SPDXID":"%s","checksums":[{"algorithm":"SHA1","checksumValue":%s},'
    b'{"algorithm":"SHA256","checksumValue":%s}],"comment":%s,"copyrightText":"NOASSERTION",'
    b'"fileName":%s,"licenseConcluded":"NOASSERTION"}'
)


def _file_entry(file: SbomFile) -> Tuple[str, str, bytes]:
    """(fileName, SPDXID, the element as canonical JSON): the files array's sort key and item.
    The element: SPDXID, fileName, SHA1 and SHA-256 checksums, licenseConcluded and
    copyrightText NOASSERTION, and a comment naming the Pants target that put it there."""
    element_id = spdx_id("File", file.path.rsplit("/", 1)[-1], file.path, file.sha256)
    name = file_name(file.path)
    comment = f"Put in the image by the Pants target {file.contributor}."
    encoded = _FILE % (element_id.encode(), _json(file.sha1), _json(file.sha256), _json(comment), _json(name))
    return name, element_id, encoded
