"""The fields of the `oci_pull` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from textwrap import dedent
from typing import Optional

from pants.engine.addresses import Address
from pants.engine.target import StringField

from pants_oci.field_validation import _Named, validate_pinned_reference


class OciPullImageField(StringField):
    alias = "image"
    required = True
    help = dedent(
        """\
        The registry image, pinned by digest: `registry/repository[:tag]@sha256:<64 hex>`.
        A tag alone is refused (it is not reproducible); the error prints the digest to pin.
        The digest may name an image index: the manifest of each platform the image built
        on it needs is chosen.

        Example: `image="registry.example.com/base/debian:12@sha256:1f2e...a9"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        validate_pinned_reference(_Named(cls.alias, address), value)
        return value
