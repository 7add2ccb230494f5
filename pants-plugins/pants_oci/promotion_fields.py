"""The fields of the `oci_promotion` target (the target itself is in `pants_oci.target_types`):
an image a registry already holds, published to our registries unchanged, by digest."""

from __future__ import annotations

from typing import Optional

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import Dependencies, InvalidFieldException, StringField
from pants.util.strutil import help_text

from ocikit.reference import Reference
from pants_oci.bases import base_address
from pants_oci.field_validation import FieldName, invalid_value, parse_pinned_reference
from pants_oci.image_fields import OciImageRepositoryField, OciImageTagsField

SOURCE_ACCEPTED = (
    "expected the address of an `oci_pull` target (e.g. ':pulled') or a registry image pinned by "
    "digest, 'registry/repository[:tag]@sha256:<64 hex>': a promotion copies exactly the bytes "
    "that were tested, so a tag alone (which can move) is refused"
)


class OciPromotionSourceField(StringField):
    alias = "source"
    required = True
    help = help_text(
        """
        The image to promote: the address of an `oci_pull` target (its digest, or the
        base-image lockfile's for its tag), or `registry/repository[:tag]@sha256:<64 hex>`.
        `pants publish` copies that image, by digest and unchanged (an index with all its
        platforms' manifests), with its cosign attachments (`sha256-<hex>.sig`, `.att`,
        `.sbom` tags), to each registry in `registries`.

        Example: `source=":staging_web"` or
        `source="registry.example.com/staging/web@sha256:1f2e...a9"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if source_address(value) is None:
            parse_pinned_source(FieldName(cls.alias, address), value)
        return value


def source_address(value: str) -> Optional[str]:
    """The `source` value when it names a target, else None (a registry reference)."""
    return base_address(value)


def parse_pinned_source(field: FieldName, value: str) -> Reference:
    """A registry reference pinned by digest; else the error naming target, field and value."""
    try:
        return parse_pinned_reference(field, value)
    except InvalidFieldException:  # the base-image wording: replaced by the promotion's own
        raise invalid_value(field, value, SOURCE_ACCEPTED) from None


class OciPromotionDependenciesField(Dependencies):
    help = help_text(
        """
        Inferred: the `oci_pull` target `source` names, so `pants dependents` and
        `--changed-dependents` see the promotion when its source changes (a new digest, or a
        new lockfile pin).
        """
    )


class OciPromotionRepositoryField(OciImageRepositoryField):
    help = help_text(
        """
        The repository the image is published to (without registry or tag). Defaults to
        `[oci].default_repository` (the target's name unless configured), as for `oci_image`.

        Example: `repository="prod/web"`
        """
    )


class OciPromotionTagsField(OciImageTagsField):
    default = ()
    help = help_text(
        """
        Tags to give the promoted image at each destination. Without tags it is published by
        digest only. Tags match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; `pants publish` refuses a
        tag another `oci_image` or `oci_promotion` also pushes.

        Example: `image_tags=["1.4.2", "stable"]`
        """
    )


class OciPromotionOutputPathField(OutputPathField):
    help = help_text(
        """
        Where `pants package` writes what the promotion copies (`<output_path>.promotion.json`:
        the source pinned by digest, the repository, the tags), and `pants publish` its record
        (`<output_path>.publish.json`), relative to `dist/`. Defaults to
        `path.to.target_dir/target_name`.
        """
    )
