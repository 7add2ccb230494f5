"""`stamped_annotations`: manifest annotations stamped from the commit and the environment,
for users who accept a new image digest per commit (an `OciImageExtensionRequest`).

Unlike stamped tags, these are part of the image: they enter its manifest, its digest and its
cache keys. Off unless the field is set; the image's layers are never rebuilt for them.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from pants.engine.addresses import Address
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import DictStringToStringField, Target
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from pants_oci.extensions import OciImageExtension, OciImageExtensionRequest
from pants_oci.field_validation import FieldName, invalid_value
from pants_oci.stamping import IMAGE_DIGEST, StampError, StampValues, parse_template, stamp, uses
from pants_oci.target_types import OciImageTarget
from pants_oci.util_rules.stamp import OciStampValuesRequest, needs_git


class OciImageStampedAnnotationsField(DictStringToStringField):
    alias = "stamped_annotations"
    help = help_text(
        """
        Manifest annotations whose values may hold `{git.commit}`, `{git.commit_short}` and
        `{env.NAME}` (see `image_tags`), stamped when the image is built. They change the
        image's digest whenever their values change (every commit, with `{git.commit}`): set
        them only if you accept that; without them the image is reproducible across commits.

        Example: `stamped_annotations={"org.opencontainers.image.revision": "{git.commit}",
        "org.opencontainers.image.version": "{env.VERSION}",
        "org.opencontainers.image.source": "https://example.com/team/repo"}`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[Dict[str, str]], address: Address) -> Optional[FrozenDict[str, str]]:
        value = super().compute_value(raw_value, address)
        for key, template in (value or {}).items():
            try:
                parse_template(template)
                if uses(template, IMAGE_DIGEST):
                    raise StampError("{image.digest} and {image.digest_short} cannot be in the image they name")
            except StampError as e:
                raise invalid_value(FieldName(cls.alias, address), template, f"for {key!r}: {e}") from e
        return value


class StampedAnnotationsRequest(OciImageExtensionRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return bool(target.get(OciImageStampedAnnotationsField).value)


def stamp_annotations(address: Address, templates: Any, values: StampValues) -> FrozenDict[str, str]:
    stamped = {}
    for key, template in sorted(templates.items()):
        try:
            stamped[key] = stamp(template, values, "")
        except StampError as e:
            raise invalid_value(
                FieldName(OciImageStampedAnnotationsField.alias, address), template, f"for {key!r}: {e}"
            ) from e
    return FrozenDict(stamped)


@rule(desc="Stamp an OCI image's annotations")
async def stamped_annotations(request: StampedAnnotationsRequest) -> OciImageExtension:
    templates = request.target[OciImageStampedAnnotationsField].value or FrozenDict()
    values = await Get(StampValues, OciStampValuesRequest(needs_git(tuple(templates.values()))))
    return OciImageExtension(annotations=stamp_annotations(request.target.address, templates, values))


def rules():
    return [
        *collect_rules(),
        UnionRule(OciImageExtensionRequest, StampedAnnotationsRequest),
        OciImageTarget.register_plugin_field(OciImageStampedAnnotationsField),
    ]
