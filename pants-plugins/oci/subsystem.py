"""The `[oci]` options: defaults for every image."""

from __future__ import annotations

from enum import Enum
from textwrap import dedent

from pants.option.option_types import EnumOption, IntOption, StrListOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap



class Compression(Enum):
    gzip = "gzip"
    zstd = "zstd"
    none = "none"


class OciSubsystem(Subsystem):
    options_scope = "oci"
    help = "Options for building and publishing OCI images (`oci_image`, `oci_layer`)."

    compression = EnumOption(
        default=Compression.gzip,
        help=softwrap(
            """
            How layers are compressed: `gzip` (every registry and runtime reads it), `zstd`
            (smaller and much faster, read by containerd 1.5+, podman and recent registries)
            or `none` (plain tar). Compressed bytes depend on the compressor's version, which
            the launcher pins, so digests are reproducible across machines.
            """
        ),
    )
    compression_level = IntOption(
        default=None,
        help=softwrap(
            """
            The compression level: 1-9 for gzip (default 1, fast), 1-19 for zstd (default 3).
            Ignored for `none`.
            """
        ),
    )
    source_date_epoch = IntOption(
        default=None,
        help=softwrap(
            """
            The time, in seconds since the Unix epoch, written as the image's `created` time,
            its history times and every file's mtime in the layers. Defaults to the
            `SOURCE_DATE_EPOCH` environment variable when set (reproducible-builds.org),
            else 0 (1970-01-01T00:00:00Z), so the same inputs give the same digests.
            """
        ),
    )
    def level_for(self, compression: Compression) -> int | None:
        if compression is Compression.none:
            return None
        if self.compression_level is None:
            return 1 if compression is Compression.gzip else 3
        return self.compression_level

    env_vars = StrListOption(
        default=[],
        help=dedent(
            """\
            Extra environment variables (`NAME` or `NAME=value`) passed to `publish`, e.g.
            `DOCKER_CONFIG` or a credential helper's own settings.
            """
        ),
        advanced=True,
    )
