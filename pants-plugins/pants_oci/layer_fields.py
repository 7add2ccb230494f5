"""The fields of the `oci_layer` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Dict, Optional

from pants.engine.addresses import Address
from pants.engine.target import Dependencies, DictStringToStringField, StringField
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from ocikit.layer import LayerError, add_symlinks
from pants_oci.field_validation import FieldName, invalid_value, parse_owner, validate_image_path
from pants_oci.shards import DEFAULT_SHARD_SIZE, SHARDED_IMAGE_LAYERS, ShardSizeError, parse_shard_size


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
    value: str
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
    value: str
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
    def compute_value(cls, raw_value: Optional[Dict[str, str]], address: Address) -> Optional[FrozenDict[str, str]]:
        value = super().compute_value(raw_value, address)
        try:
            add_symlinks([], "/", value or {})
        except LayerError as e:
            raise invalid_value(FieldName(cls.alias, address), dict(value or {}), str(e)) from None
        return value


class OciLayerShardSizeField(StringField):
    alias = "shard_size"
    default = None
    help = help_text(
        f"""
        Split this layer into several image layers ("shards") when its tar is larger than
        this: `"off"` never splits it; a size (at least 64KiB, such as `"16MiB"` or `"1GiB"`)
        is the most one shard holds, apart from a single file larger than that, which is a
        shard of its own. Unset: `[oci].shard_size` ({DEFAULT_SHARD_SIZE} unless configured).

        What it buys: each shard is built by its own cached process, so editing one file
        re-tars, re-compresses and re-pushes its shard (typically an eighth to a half of
        this size) instead of the whole layer, and a cold build runs the shards in parallel.
        Which file goes into which shard depends only on the layer's paths and file sizes: clean and
        incremental builds give the same digests, and an edited, added or removed file changes
        one shard (two when it moves a shard boundary). Every shard carries the directories
        its files need, with the same owner and modes, so the unpacked files are the same as
        from one layer.

        What it costs: more layers per image (one per quarter to a third of this size), which
        registries and runtimes pull as that many smaller blobs, in parallel, and a runtime
        stacks as that many filesystem layers. Shards are made coarser when an image would
        otherwise have more than {SHARDED_IMAGE_LAYERS} layers.

        Example: `shard_size="16MiB"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None:
            try:
                parse_shard_size(value)
            except ShardSizeError as e:
                raise invalid_value(FieldName(cls.alias, address), value, str(e)) from None
        return value

    def bytes_or(self, default: int) -> int:
        """The shard size in bytes (0: never split), `default` when the field is unset."""
        return default if self.value is None else parse_shard_size(self.value)
