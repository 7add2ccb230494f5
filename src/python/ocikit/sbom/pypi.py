"""Python distributions of an installed site-packages tree -> SBOM packages.

Each `*.dist-info` directory is one distribution: its METADATA gives the name, version and
declared license, its WHEEL the tags of the wheel it came from. A pex lockfile (what Pants
writes for a resolve) lists each locked wheel's URL and sha256: the wheel whose tags the
installed WHEEL file names is the one that was installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from ocikit.sbom.licenses import declared_license
from ocikit.sbom.model import NOASSERTION, SbomPackage
from ocikit.sbom.purl import pypi_name, pypi_purl


@dataclass(frozen=True)
class LockedArtifact:
    filename: str
    url: str
    sha256: str


@dataclass(frozen=True)
class InstalledDistribution:
    dist_info: str  # "humanize-4.9.0.dist-info"
    metadata: str  # the text of its METADATA
    wheel: str = ""  # the text of its WHEEL


def _header(message: Any, name: str) -> str:
    value = message.get(name)
    return str(value).strip() if value is not None else ""


def wheel_tags(filename: str) -> FrozenSet[str]:
    """The tags a wheel's file name stands for (`x-1.0-cp311-cp311-manylinux_2_17_x86_64.
    manylinux2014_x86_64.whl` -> two tags): compressed tag sets expand to every combination."""
    if not filename.endswith(".whl"):
        return frozenset()
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        return frozenset()
    pythons, abis, platforms = (p.split(".") for p in parts[-3:])
    return frozenset(f"{py}-{abi}-{plat}" for py in pythons for abi in abis for plat in platforms)


def installed_tags(wheel_text: str) -> FrozenSet[str]:
    return frozenset(line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:"))


def locked_artifacts(lockfile_text: str) -> Dict[Tuple[str, str], Tuple[LockedArtifact, ...]]:
    """`{(normalized name, version): artifacts}` of a pex lockfile (Pants' `//` header lines
    are skipped). A lockfile that is no pex lock gives {}: its hashes are unknown, not wrong."""
    body = "\n".join(line for line in lockfile_text.splitlines() if not line.lstrip().startswith("//"))
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    found: Dict[Tuple[str, str], List[LockedArtifact]] = {}
    resolves = data.get("locked_resolves") if isinstance(data, dict) else None
    for resolve in resolves or []:
        for requirement in resolve.get("locked_requirements") or []:
            key = (pypi_name(str(requirement.get("project_name", ""))), str(requirement.get("version", "")))
            for artifact in requirement.get("artifacts") or []:
                if artifact.get("algorithm") != "sha256" or not artifact.get("url"):
                    continue
                url = str(artifact["url"])
                found.setdefault(key, []).append(LockedArtifact(url.rsplit("/", 1)[-1], url, str(artifact["hash"])))
    return {key: tuple(sorted(set(artifacts), key=lambda a: a.url)) for key, artifacts in found.items()}


def installed_wheel(
    name: str, version: str, wheel_text: str, locked: Mapping[Tuple[str, str], Iterable[LockedArtifact]]
) -> Optional[LockedArtifact]:
    """The locked wheel the installed WHEEL file's tags name; None when the lockfile has none
    (no lockfile, or a distribution built from an sdist)."""
    tags = installed_tags(wheel_text)
    if not tags:
        return None
    matches = [a for a in locked.get((pypi_name(name), version), ()) if wheel_tags(a.filename) == tags]
    return matches[0] if len(matches) == 1 else None


def _download_location(url: str) -> str:
    # A local `find_links` path names one machine; the SBOM records public locations only.
    return url if url.startswith(("https://", "http://")) else NOASSERTION


def python_package(
    installed: InstalledDistribution, locked: Mapping[Tuple[str, str], Iterable[LockedArtifact]], comment: str
) -> SbomPackage:
    message = HeaderParser().parsestr(installed.metadata)
    stem = (
        installed.dist_info[: -len(".dist-info")] if installed.dist_info.endswith(".dist-info") else installed.dist_info
    )
    name = _header(message, "Name") or stem.rsplit("-", 1)[0]
    version = _header(message, "Version") or (stem.rsplit("-", 1)[1] if "-" in stem else "")
    license_id, license_comment = declared_license(
        _header(message, "License-Expression"), _header(message, "License"), message.get_all("Classifier") or []
    )
    wheel = installed_wheel(name, version, installed.wheel, locked)
    return SbomPackage(
        ecosystem="pypi",
        name=name,
        version=version,
        purl=pypi_purl(name, version),
        license_declared=license_id,
        license_comment=license_comment,
        sha256=wheel.sha256 if wheel else "",
        download_location=_download_location(wheel.url) if wheel else NOASSERTION,
        comment=comment,
    )
