"""An image's SBOM facts <-> the request `python -m ocikit sbom-document` reads, and the
documents it writes (`ocikit.contracts.sbom`).

The plugin sends the facts but the files, and each layer's files as a list of its own (written
once per layer, shared by every image that has the layer). The worker merges the lists and
writes every document: their bytes never pass through the rules' memory, where Pants copies
file contents into its store slowly and keeps each request it saw.
"""

from __future__ import annotations

import os
from dataclasses import astuple
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

from ocikit.contracts.sbom import SbomDocumentRequest, SbomFileList, SbomImage, SbomPackageFacts, SbomPlatform
from ocikit.sbom.formats import FORMATS
from ocikit.sbom.model import ImageRef, ImageSbomFacts, PlatformFacts, SbomFile, SbomPackage


def file_list(files: Iterable[SbomFile]) -> SbomFileList:
    return SbomFileList(tuple(sorted((f.path, f.sha256, f.sha1, f.contributor) for f in files)))


def merged_files(lists: Sequence[SbomFileList]) -> Tuple[SbomFile, ...]:
    """The files of the layers in order, sorted by path: a later layer's file wins its path."""
    by_path = {entry[0]: entry for found in lists for entry in found.files}
    return tuple(SbomFile(*by_path[path]) for path in sorted(by_path))


def document_request(
    facts: ImageSbomFacts, file_lists: Sequence[str], outputs: Mapping[str, str]
) -> SbomDocumentRequest:
    """What the worker needs besides the file lists: `facts.files` must be empty (they are in
    `file_lists`), and `outputs` names each format's document."""
    if facts.files:
        raise ValueError("an SBOM document request carries its files as file lists")
    unknown = sorted(set(outputs) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown SBOM format(s) {', '.join(unknown)}: expected {', '.join(sorted(FORMATS))}")
    return SbomDocumentRequest(
        top=_image(facts.top),
        platforms=tuple(
            SbomPlatform(_image(p.image), _image(p.base) if p.base else None, _packages(p.base_packages))
            for p in facts.platforms
        ),
        packages=_packages(facts.packages),
        created=facts.created,
        tool=facts.tool,
        notes=facts.notes,
        file_lists=tuple(file_lists),
        outputs=dict(outputs),
    )


def request_facts(request: SbomDocumentRequest, lists: Sequence[SbomFileList]) -> ImageSbomFacts:
    """The facts a request and its file lists (read in the request's order) describe."""
    return ImageSbomFacts(
        top=_ref(request.top),
        platforms=tuple(
            PlatformFacts(_ref(p.image), _ref(p.base) if p.base else None, _model_packages(p.base_packages))
            for p in request.platforms
        ),
        packages=_model_packages(request.packages),
        files=merged_files(lists),
        created=request.created,
        tool=request.tool,
        notes=request.notes,
    )


def write_documents(request: SbomDocumentRequest, root: str = ".") -> Dict[str, str]:
    """Write every document the request names (paths relative to `root`); {format: path}."""
    lists = [SbomFileList.read(os.path.join(root, path)) for path in request.file_lists]
    facts = request_facts(request, lists)
    for name, path in sorted(request.outputs.items()):
        target = os.path.join(root, path)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "wb") as f:
            f.write(FORMATS[name].write(facts))
    return dict(request.outputs)


# The contracts hold the model's fields in the model's order (SbomPackageFacts names `version`
# `package_version`): each converts field by field.


def _image(ref: ImageRef) -> SbomImage:
    return SbomImage(*astuple(ref))


def _ref(image: Optional[SbomImage]) -> ImageRef:
    assert image is not None
    return ImageRef(*astuple(image))


def _packages(packages: Iterable[SbomPackage]) -> Tuple[SbomPackageFacts, ...]:
    return tuple(SbomPackageFacts(*astuple(p)) for p in packages)


def _model_packages(packages: Iterable[SbomPackageFacts]) -> Tuple[SbomPackage, ...]:
    return tuple(SbomPackage(*astuple(p)) for p in packages)
