"""The SBOM formats `package` writes and `publish` attests: for each, the file suffix beside the
layout, its writer and the in-toto predicate type cosign looks it up by (`cosign
verify-attestation --type spdxjson|cyclonedx`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict

from ocikit.sbom.cyclonedx import cyclonedx_json
from ocikit.sbom.model import ImageSbomFacts
from ocikit.sbom.spdx import spdx_json

SPDX_DOCUMENT = "https://spdx.dev/Document"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"


@dataclass(frozen=True)
class SbomFormat:
    suffix: str  # "<output_path><suffix>" in dist/
    predicate_type: str
    write: Callable[[ImageSbomFacts], bytes]


FORMATS: Dict[str, SbomFormat] = {
    "spdx": SbomFormat(".spdx.json", SPDX_DOCUMENT, spdx_json),  # SPDX's own naming convention
    "cyclonedx": SbomFormat(".cdx.json", CYCLONEDX_BOM, cyclonedx_json),  # CycloneDX's
}
