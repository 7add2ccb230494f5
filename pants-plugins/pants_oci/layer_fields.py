"""The fields of the `oci_layer` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Optional

from pants_oci.field_validation import FieldName, parse_owner, validate_image_path
from pants.engine.addresses import Address
from pants.engine.target import Dependencies, StringField
from pants.util.strutil import help_text


class OciLayerDependenciesField(Dependencies):
    help = help_text(
        """
        What goes into this layer: `files`, `resources` and `relocated_files` targets (each
        file at its path relative to the build root, or where `relocated_files` moves it), and
        any target Pants can package (`archive`, `pex_binary`, ...), whose built output goes in
        at its path under `dist/`.

        Example: `dependencies=[":static_files", "src/app:bin"]`
        """
    )


class OciLayerDestinationField(StringField):
    alias = "destination"
    default = "/"
    help = help_text(
        """
        The absolute directory in the image where this layer's files go. Each input keeps its
        path below it: with `destination="/srv"`, the file `web/index.html` lands at
        `/srv/web/index.html`. Parent directories are created (owned by 0:0, mode 0755).

        Example: `destination="/app"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        return validate_image_path(FieldName(cls.alias, address), value)


class OciLayerOwnerField(StringField):
    alias = "owner"
    default = "0:0"
    help = help_text(
        """
        The numeric `uid:gid` that owns every file and directory of this layer below its
        `destination` (tar headers carry numbers only; user and group names stay empty).

        File modes are normalised so builds are reproducible on every machine: directories and
        executable files get 0755, other files 0644.

        Example: `owner="1000:1000"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        parse_owner(FieldName(cls.alias, address), value)
        return value

    def uid_gid(self) -> tuple[int, int]:
        uid, gid = self.value.split(":")  # checked by compute_value
        return int(uid), int(gid)
