"""Which Pants versions this backend runs on, checked when Pants loads it."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

import pants_oci

# The Pants APIs the backend uses (Process fields, the publish and package goals' unions,
# PythonBuildStandaloneBinary) are those of 2.17; later minor versions change them.
SUPPORTED_PANTS = SpecifierSet(">=2.17.0,<2.18")


class UnsupportedPantsVersion(Exception):
    pass


def check_pants_version(version: str, supported: SpecifierSet = SUPPORTED_PANTS) -> None:
    """Raise one clear error unless Pants `version` is in the supported range."""
    try:
        ok = supported.contains(Version(version), prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        wanted = ", ".join(sorted((str(s) for s in supported), key=lambda s: s.startswith("<")))
        raise UnsupportedPantsVersion(
            f"pants-oci {pants_oci.__version__} supports Pants {wanted}, and this is "
            f'Pants {version}. Set `pants_version = "2.17.1"` in pants.toml, or use a pants-oci '
            "release made for your Pants version (its CHANGELOG.md names the range it supports)."
        )
