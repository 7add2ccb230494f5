"""The fields of the `oci_pull` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Optional

from pants.engine.addresses import Address
from pants.engine.target import Dependencies, StringField
from pants.util.strutil import help_text

from ocikit.reference import Reference, parse_reference
from pants_oci.field_validation import FieldName, parse_pull_reference


class OciPullImageField(StringField):
    alias = "image"
    value: str
    required = True
    help = help_text(
        """
        The registry image: `registry/repository:tag`, pinned by the base-image lockfile
        (`[oci].base_image_lockfile`), or `registry/repository[:tag]@sha256:<64 hex>`, pinned
        here. A tag is looked up only in the lockfile, never in the registry: a tag the
        lockfile lacks fails the build, naming `pants generate-lockfiles
        --resolve=oci-base-images`, which adds it. A digest written here wins over the
        lockfile. The digest may name an image index: the manifest of each platform the
        image built on it needs is chosen.

        Example: `image="registry.example.com/base/debian:12"` or
        `image="registry.example.com/base/debian:12@sha256:1f2e...a9"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        parse_pull_reference(FieldName(cls.alias, address), value)
        return value

    @property
    def reference(self) -> Reference:
        return parse_reference(self.value)  # checked by compute_value


class OciPullDependenciesField(Dependencies):
    help = help_text(
        """
        Inferred: an `image` with a tag and no digest depends on the base-image lockfile (a
        `_lockfile` target Pants creates for `[oci].base_image_lockfile`), so regenerating the
        lockfile marks the images built on it as changed for `--changed-since` and
        `--changed-dependents`.
        """
    )
