"""The `[oci]` options: defaults for every image."""

from __future__ import annotations

from enum import Enum
from textwrap import dedent
from typing import Any

from pants.option.option_types import DictOption, EnumOption, IntOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap



class Compression(Enum):
    gzip = "gzip"
    zstd = "zstd"
    none = "none"
    auto = "auto"


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

            `auto` skips compression for inner loops against a local registry, as
            go-containerregistry's builders do: an image whose every publish destination is a
            loopback registry (`localhost`, `127.0.0.0/8`, `[::1]`) gets uncompressed layers,
            any other image gets `gzip`. Measured on 2 cores: it saves the compression (a 95 MB
            text layer: 0.6 s gzip vs 0.3 s none) but the local registry then hashes and stores
            2.5x the bytes; on the benchmark tree, 60% incompressible, package + publish took as
            long as with gzip (docs/benchmarks.md), since gzip stores incompressible chunks. The choice is made when the image is packaged, from its
            `registries`/`skip_push` fields and `[oci].registries`, so the digest `package`
            prints is the digest `publish` pushes. An image with no registries, or with one
            remote registry among local ones, is gzip. A layer shared by a local and a remote
            image is built once per compression.
            """
        ),
    )
    compression_level = IntOption(
        default=None,
        help=softwrap(
            """
            The compression level: 1-9 for gzip (default 1, fast), 1-19 for zstd (default 3).
            Ignored for `none`; with `auto`, the gzip level.
            """
        ),
    )
    source_date_epoch = IntOption(
        default=None,
        help=softwrap(
            """
            The time, in seconds since the Unix epoch, written as the image's `created` time,
            its history times and every file's mtime in the layers. Defaults to the
            `SOURCE_DATE_EPOCH` environment variable when set (reproducible-builds.org; ASCII
            digits only), else 0 (1970-01-01T00:00:00Z), so the same inputs give the same
            digests. Accepted: 0 to 8589934591 (8**11 - 1, the largest tar mtime).
            """
        ),
    )
    registries = DictOption[Any](
        help=softwrap(
            """
            Registries images are published to, by alias, as in `[docker].registries`:
            `{"prod": {"address": "registry.example.com", "default": true},
            "local": {"address": "127.0.0.1:5000", "insecure": true}}`. An image's
            `registries` field names them as `@prod`; those with `default` are used when it
            sets none. Aliases are letters, digits, `.`, `_` and `-` (not first); addresses are
            `HOST` or `HOST:PORT` (port 1-65535) with no scheme or path.
            `insecure` allows plain HTTP (always allowed for loopback addresses);
            `skip_push` keeps the registry but never pushes to it.
            From the command line:
            `--oci-registries="{'local': {'address': '127.0.0.1:5000', 'default': True}}"`.
            """
        ),
    )
    default_repository = StrOption(
        default="{name}",
        help=softwrap(
            """
            The repository of an image that sets no `repository` field. Placeholders:
            `{name}` (the target name), `{directory}` (the BUILD file's directory name),
            `{parent_directory}` and `{full_directory}` (its path from the build root).
            Example: `{directory}/{name}`.
            """
        ),
    )
    publish_jobs = IntOption(
        default=4,
        help="How many blobs `publish` uploads at the same time (1 or more).",
        advanced=True,
    )

    def level_for(self, compression: Compression) -> int | None:
        if compression is Compression.auto:
            compression = Compression.gzip
        if compression is Compression.none:
            return None
        if self.compression_level is None:
            return 1 if compression is Compression.gzip else 3
        return self.compression_level

    env_vars = StrListOption(
        default=[],
        help=dedent(
            """\
            Extra environment variables (`NAME` or `NAME=value`; NAME is letters, digits and
            `_`, not starting with a digit) passed to `publish` and to the fetch of `oci_pull`
            base images, e.g. `PATH` for a credential helper outside the standard directories,
            or a helper's own settings. A fetch is cached: what it is passed enters its cache
            key, so set only what it needs.
            """
        ),
        advanced=True,
    )
