"""The `oci_debian_packages` target: Debian packages, resolved into the lockfile, as layers."""

from __future__ import annotations

import re
from typing import Iterable, Optional, Tuple

from pants.engine.addresses import Address
from pants.engine.target import COMMON_TARGET_FIELDS, Dependencies, StringField, StringSequenceField, Target
from pants.util.strutil import help_text

from pants_oci.debian.plan import DEBIAN_ARCHITECTURES, DEBIAN_RESOLVE
from pants_oci.field_validation import FieldName, invalid_value
from pants_oci.shards import parse_size

_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SUITE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


class OciDebianPackagesField(StringSequenceField):
    alias = "packages"
    value: tuple[str, ...]
    required = True
    help = help_text(
        f"""
        The Debian packages to install, by name. Their Depends and Pre-Depends are added (see
        `pants help oci_debian_packages`); `Essential` packages are not, so list any a program
        needs at runtime (e.g. `bash`). `pants generate-lockfiles --resolve={DEBIAN_RESOLVE}`
        resolves them; builds read only the lockfile.

        Example: `packages=["python3", "ca-certificates", "tzdata"]`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[str]], address: Address) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        bad = [name for name in value if not _PACKAGE.match(name)]
        if not value or bad:
            raise invalid_value(
                FieldName(cls.alias, address),
                list(value),
                "expected one or more Debian package names ([a-z0-9][a-z0-9+.-]+, e.g. 'libpq5', 'python3')"
                + (f"; not one: {bad[0]!r}" if bad else ""),
            )
        return tuple(sorted(set(value)))


class OciDebianSuiteField(StringField):
    alias = "suite"
    value: str
    default = "bookworm"
    help = help_text(
        """
        The Debian suite (release) whose `main` component the packages come from, as the
        archive's `dists/` directory names it.

        Example: `suite="bookworm"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if not _SUITE.match(value):
            raise invalid_value(FieldName(cls.alias, address), value, "expected a suite name such as 'bookworm'")
        return value


class OciDebianArchitecturesField(StringSequenceField):
    alias = "architectures"
    value: tuple[str, ...]
    default = ("amd64",)
    help = help_text(
        f"""
        The Debian architectures to resolve the packages for: one for each platform of the
        images that use this target (`linux/amd64` is `amd64`, `linux/arm64` is `arm64`,
        `linux/arm/v7` is `armhf`). One of: {", ".join(DEBIAN_ARCHITECTURES)}.

        Example: `architectures=["amd64", "arm64"]`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[str]], address: Address) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        bad = [arch for arch in value if arch not in DEBIAN_ARCHITECTURES]
        if not value or bad:
            raise invalid_value(
                FieldName(cls.alias, address), list(value), f"expected one or more of {', '.join(DEBIAN_ARCHITECTURES)}"
            )
        return tuple(sorted(set(value)))


class OciDebianOwnLayerSizeField(StringField):
    alias = "own_layer_size"
    default = "1MiB"
    help = help_text(
        """
        A package whose .deb is at least this large gets an image layer of its own; the
        smaller ones share one layer. Bumping one package then rebuilds and re-pushes one
        layer. A whole number of bytes with an optional unit KiB, MiB or GiB; `"0"` gives
        every package its own layer.

        Example: `own_layer_size="512KiB"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if parse_size(value) is None:
            raise invalid_value(
                FieldName(cls.alias, address),
                value,
                "expected a size such as '1MiB', '512KiB' or '0' (every package its own layer)",
            )
        return value

    @property
    def bytes(self) -> int:
        size = parse_size(self.value or "")
        assert size is not None
        return size


class OciDebianDependenciesField(Dependencies):
    help = help_text(
        """
        Inferred: the Debian package lockfile (a `_lockfile` target Pants creates for
        `[oci].debian_packages_lockfile`), so regenerating it marks the images built with these
        packages as changed for `--changed-since` and `--changed-dependents`.
        """
    )


class OciDebianPackagesTarget(Target):
    alias = "oci_debian_packages"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciDebianPackagesField,
        OciDebianSuiteField,
        OciDebianArchitecturesField,
        OciDebianOwnLayerSizeField,
        OciDebianDependenciesField,
    )
    help = help_text(
        f"""
        Debian packages as image layers, without a container or a Docker daemon: list it in an
        `oci_image`'s `layers`. The packages and their Depends/Pre-Depends closure are pinned
        in the lockfile (`[oci].debian_packages_lockfile`, written by `pants generate-lockfiles
        --resolve={DEBIAN_RESOLVE}` from the archive `[oci].debian_archive`); a build fetches
        each .deb once (checked against its SHA-256) and unpacks it into deterministic layers
        as the package ships it, with `/var/lib/dpkg/status.d/<package>` records for scanners.
        `Essential` packages are not added implicitly, and maintainer scripts are not run: a
        build warns naming each package whose scripts do something a layer lacks.

        Example:

            oci_debian_packages(
                name="runtime",
                packages=["python3", "ca-certificates", "tzdata"],
                architectures=["amd64", "arm64"],
            )
        """
    )
