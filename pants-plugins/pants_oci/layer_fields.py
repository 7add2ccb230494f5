"""The fields of the `oci_layer` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Dict, Optional

from pants_oci.field_validation import FieldName, invalid_value, parse_owner, validate_image_path
from pants.engine.addresses import Address
from pants.engine.target import Dependencies, DictStringToStringField, StringField
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from ocikit.layer import LayerError, add_symlinks


class OciLayerDependenciesField(Dependencies):
    help = help_text(
        """
        What goes into this layer, placed as Pants places files everywhere else. `files`
        keep their path from the build root (`relocated_files` moves them). `resources` and
        `python_sources` land at their path below their source root, as inside a pex:
        `src/python/app/data.json` is `app/data.json` when `src/python` is a source root, and
        a file under no source root is an error. A target Pants can package (`archive`,
        `pex_binary`, ...) puts its built output at its path under `dist/`.

        A target that is not packageable brings its transitive dependencies along. Each
        dependency must put at least one file in the layer (one that puts none, such as a
        `python_requirement`, is an error rather than silently dropped), and two inputs landing
        on one path are an error naming both. For a Python app with third-party requirements,
        use `oci_python_app`, which installs them in their own layers.

        Example: `dependencies=[":static_files", "src/python/app:config", "src/app:bin"]`
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


class OciLayerSymlinksField(DictStringToStringField):
    alias = "symlinks"
    help = help_text(
        """
        Symlinks to create in this layer, as `{path: target}`. Each path is relative to
        `destination` (`bin/python` with `destination="/usr/local"` is
        `/usr/local/bin/python`); its missing parent directories are created like the inputs'.
        The target is written as given and never followed at build time: the container resolves
        it inside the image, so it may be absolute or relative. (Pants copies the files a
        symlink in your sources points at, so links are declared here instead, as rules_pkg's
        `pkg_mklink` does.) A link on a path an input already uses is an error.

        Example: `symlinks={"bin/python": "/usr/bin/python3", "current": "releases/1.2"}`
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Dict[str, str]], address: Address
    ) -> Optional[FrozenDict[str, str]]:
        value = super().compute_value(raw_value, address)
        try:
            add_symlinks([], "/", value or {})
        except LayerError as e:
            raise invalid_value(FieldName(cls.alias, address), dict(value or {}), str(e))
        return value
