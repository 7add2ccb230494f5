"""The fields of the `oci_pull` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Optional

from pants_oci.field_validation import FieldName, parse_pinned_reference
from pants.engine.addresses import Address
from pants.engine.target import StringField
from pants.util.strutil import help_text

from ocikit.reference import Reference, parse_reference


class OciPullImageField(StringField):
    alias = "image"
    required = True
    help = help_text(
        """
        The registry image, pinned by digest: `registry/repository[:tag]@sha256:<64 hex>`.
        A tag alone is refused (it is not reproducible); the error names the command that
        prints the digest to pin (`python -m ocikit inspect REF`). The digest may name an
        image index: the manifest of each platform the image built on it needs is chosen.

        Example: `image="registry.example.com/base/debian:12@sha256:1f2e...a9"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        parse_pinned_reference(FieldName(cls.alias, address), value)
        return value

    @property
    def reference(self) -> Reference:
        return parse_reference(self.value)  # checked by compute_value
