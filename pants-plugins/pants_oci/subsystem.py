"""The `[oci]` options: defaults for every image, each parsed and validated in one place."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional

from pants.base.build_environment import get_buildroot
from pants.option.errors import OptionsError
from pants.option.option_types import (
    BoolOption,
    DictOption,
    EnumListOption,
    EnumOption,
    IntOption,
    StrListOption,
    StrOption,
)
from pants.option.subsystem import Subsystem
from pants.util.frozendict import FrozenDict
from pants.util.memo import memoized_method
from pants.util.strutil import softwrap

from ocikit.compress import DEFAULT_LEVEL, LEVEL_RANGE
from pants_oci.registries import OciRegistries
from pants_oci.shards import DEFAULT_SHARD_SIZE, ShardSizeError, parse_shard_size
from pants_oci.stamping import parse_stamp_env_vars

# What Pants' EnvironmentVarsRequest understands; it would silently drop 'A-B' and blame
# `--test-extra-env-var` for '1A'.
_ENV_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:=.*)?", re.DOTALL)


class Compression(Enum):
    gzip = "gzip"
    zstd = "zstd"
    none = "none"
    auto = "auto"

    @property
    def default_level(self) -> int | None:
        return DEFAULT_LEVEL[_level_table_key(self)]

    @property
    def level_range(self) -> tuple[int, int] | None:
        return LEVEL_RANGE.get(_level_table_key(self))


def _level_table_key(compression: Compression) -> str:
    # `auto` compresses with gzip whenever it compresses, so its level is a gzip level.
    return "gzip" if compression is Compression.auto else compression.value


class SbomFormat(Enum):
    spdx = "spdx"
    cyclonedx = "cyclonedx"


class ContainerRuntimeKind(Enum):
    podman = "podman"
    docker = "docker"


@dataclass(frozen=True)
class SigningSettings:
    key: str  # the key's absolute path
    password_env: str  # the variable holding its password, if it is encrypted
    platform_manifests: bool


@dataclass(frozen=True)
class PublishSettings:
    jobs: int
    env_vars: tuple[str, ...]
    signing: Optional[SigningSettings] = None


@dataclass(frozen=True)
class VerifySettings:
    jobs: int
    env_vars: tuple[str, ...]


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
            the plugin pins, so digests are reproducible across machines.

            `auto` skips compression for inner loops against a local registry, as
            go-containerregistry's builders do: an image whose every publish destination is a
            loopback registry (`localhost`, `127.0.0.0/8`, `[::1]`) gets uncompressed layers,
            any other image gets `gzip`. It saves the compression and sends more bytes: a win on
            loopback, where bytes are cheap and compression is most of a cold build.
            The choice is made when the image is packaged, from its `registries`/`skip_push`
            fields and `[oci].registries`, so the digest `package` prints is the digest
            `publish` pushes. An image with no registries, or with one remote registry among
            local ones, is gzip. A layer shared by a local and a remote image is built once
            per compression.
            """
        ),
    )
    compression_level = IntOption(
        default=None,
        help=softwrap(
            f"""
            The compression level: {LEVEL_RANGE["gzip"][0]}-{LEVEL_RANGE["gzip"][1]} for gzip
            (default {DEFAULT_LEVEL["gzip"]}, fast), {LEVEL_RANGE["zstd"][0]}-{LEVEL_RANGE["zstd"][1]}
            for zstd (default {DEFAULT_LEVEL["zstd"]}). Ignored for `none`; with `auto`, the gzip level.
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
    _registries = DictOption[Any](
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
    _shard_size = StrOption(
        default=DEFAULT_SHARD_SIZE,
        help=softwrap(
            """
            The `shard_size` of every `oci_layer` that sets none, and of the layer an
            `oci_image` makes of its `dependencies`: a layer whose tar is larger is split into
            shards of at most this size, each its own cached process, so an edit rebuilds and
            pushes one shard. `off` never splits layers. Sizes are whole numbers with an
            optional unit KiB, MiB or GiB, at least 64KiB. `pants help oci_layer` says what
            shards buy and cost. Example: `shard_size = "16MiB"`, or `"off"`.
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
    base_image_lockfile = StrOption(
        default="3rdparty/oci/base-images.lock.yaml",
        help=softwrap(
            """
            The base-image lockfile, from the build root: the digest each `oci_pull` that names
            a tag without a digest is built on (`image="registry.example.com/base/debian:12"`).
            Builds read only this file; `pants generate-lockfiles --resolve=oci-base-images`
            asks the registries what each tag names now and rewrites it.
            Example: `3rdparty/oci/base-images.lock.yaml`.
            """
        ),
    )
    refresh_base_images = StrListOption(
        default=[],
        help=softwrap(
            """
            Refresh only these entries of the base-image lockfile when generating it; the
            others keep their digest. References are written as in `oci_pull`
            (`registry/repository:tag`). New references are always added and unused ones
            removed. Empty (the default): refresh every entry. Example:
            `pants generate-lockfiles --resolve=oci-base-images
            --oci-refresh-base-images=registry.example.com/base/debian:12`.
            """
        ),
        advanced=True,
    )
    debian_archive = StrOption(
        default=None,
        help=softwrap(
            """
            The Debian archive `oci_debian_packages` targets resolve against and fetch from:
            its root URL, holding `dists/` and `pool/`. A mirror
            (`http://deb.debian.org/debian`) or, for builds that resolve the same way next
            year, a snapshot (`http://snapshot.debian.org/archive/debian/20250520T000000Z`).
            Needed by `pants generate-lockfiles --resolve=oci-debian-packages` and to fetch
            the .debs the lockfile pins (each checked against its SHA-256).
            """
        ),
    )
    debian_packages_lockfile = StrOption(
        default="3rdparty/oci/debian-packages.lock.yaml",
        help=softwrap(
            """
            The Debian package lockfile, from the build root: for each `oci_debian_packages`
            target, every package of its closure pinned to one .deb (version, path, size,
            SHA-256). Builds read only this file; `pants generate-lockfiles
            --resolve=oci-debian-packages` resolves the targets again and rewrites it.
            Example: `3rdparty/oci/debian-packages.lock.yaml`.
            """
        ),
    )
    publish_jobs = IntOption(
        default=4,
        help=softwrap(
            """
            How many blobs `publish` uploads at the same time (1 or more), over all the images
            of the run; as many images are pushed at once. Example: `publish_jobs = 8`.
            """
        ),
        advanced=True,
    )
    env_vars = StrListOption(
        default=[],
        help=softwrap(
            """
            Extra environment variables (`NAME` or `NAME=value`; NAME is letters, digits and
            `_`, not starting with a digit) passed to `publish` and to the fetch of `oci_pull`
            base images, e.g. `PATH` for a credential helper outside the standard directories,
            or a helper's own settings. A fetch is cached: what it is passed enters its cache
            key, so set only what it needs.
            """
        ),
        advanced=True,
    )

    stamp_env_vars = StrListOption(
        default=[],
        help=softwrap(
            """
            The environment variables `image_tags` and `repository` may stamp with, as
            `{env.NAME}` (`NAME`, or `NAME=default` for the value used when NAME is unset), e.g.
            `stamp_env_vars = ["CI_PIPELINE_ID", "RELEASE_CHANNEL=dev"]` and
            `image_tags=["{env.RELEASE_CHANNEL}-{git.commit_short}"]`. Read when publishing only.
            """
        ),
    )

    sbom_formats = EnumListOption(
        default=[SbomFormat.spdx],
        help=softwrap(
            """
            The software bills of materials `pants package` writes next to each image's
            layout: `spdx` writes `dist/<output_path>.spdx.json`, an SPDX 2.3 JSON document of
            the image (by digest), its base, the Debian packages the base records, the Python
            distributions of its `oci_python_app`s and its first-party files with the Pants
            targets they come from; `cyclonedx` writes the same facts as
            `dist/<output_path>.cdx.json`, a CycloneDX 1.5 JSON document. With a signing key,
            `publish` attaches each as a signed attestation. It changes no layer or image
            digest. An empty list writes none: `sbom_formats = []`, or
            `--oci-sbom-formats="[]"` on the command line.
            """
        ),
    )
    signing_key = StrOption(
        default=None,
        help=softwrap(
            """
            Sign every image `publish` pushes with this ECDSA P-256 private key, as cosign does
            (a `sha256-<digest>.sig` tag beside the image, read by `cosign verify`, podman and
            skopeo under a `sigstoreSigned` policy): a path, relative to the build root or
            absolute, to a PEM PKCS#8 key or a cosign encrypted key (`cosign
            generate-key-pair`). Example: `signing_key = "~/.keys/cosign.key"`. The
            key is read by the push process only: never a process input, cache key or log.
            Keyless (Fulcio/Rekor) signing is not supported.
            """
        ),
        advanced=True,
    )
    signing_key_password_env = StrOption(
        default="COSIGN_PASSWORD",
        help=softwrap(
            """
            The environment variable holding the password of an encrypted `signing_key` (as
            cosign reads `COSIGN_PASSWORD`). Its value reaches only the push process.
            """
        ),
        advanced=True,
    )
    sign_platform_manifests = BoolOption(
        default=False,
        help=softwrap(
            """
            Also sign each platform's manifest of a multi-platform image (the index is always
            signed), for clusters that verify the manifest they pull for their platform.
            """
        ),
        advanced=True,
    )

    runtime = EnumOption(
        default=ContainerRuntimeKind.podman,
        help=softwrap(
            """
            What `pants run` runs an `oci_image` with: `podman` (daemonless; it loads the image
            with `podman pull oci:...`) or `docker` (25 or newer: it loads the layout with
            `docker load`). Either way the image is first loaded into the runtime's store as
            `REPOSITORY:TAG` (its first tag), so it is there afterwards too.
            """
        ),
    )
    runtime_search_path = StrListOption(
        default=["<PATH>"],
        help=softwrap(
            """
            Where to look for the `runtime` executable; `<PATH>` is the `PATH` of the
            environment Pants runs in. Example: `["/opt/podman/bin", "<PATH>"]`.
            """
        ),
        advanced=True,
    )
    run_args = StrListOption(
        default=[],
        help=softwrap(
            """
            Arguments for `podman run`/`docker run` in `pants run`, before the image (it always
            gets `--rm -i`, and `-t` from a terminal). Arguments after `--` on the command line
            go to the container. Example: `["-p", "8080:8080", "--env", "MODE=dev"]`; where
            podman's default OCI runtime or limits are refused:
            `["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]`.
            """
        ),
    )
    run_load_only = BoolOption(
        default=False,
        help=softwrap(
            """
            Make `pants run` load the image into the runtime's store as `REPOSITORY:TAG` and stop
            there, without starting a container: `pants run --oci-run-load-only //app:image`.
            """
        ),
    )

    trim_pantsd_memory = BoolOption(
        default=True,
        help=softwrap(
            """
            Give the memory pantsd has freed back to the operating system (glibc's
            `malloc_trim`), during a run whenever pantsd grew by 64 MiB and after it. Reading a
            large tree leaves most of pantsd's memory freed but resident: ~1.3 GB instead of
            ~0.4 GB after a cold build of 20,000 files, growing with every edit until pantsd
            restarts at `[GLOBAL].pantsd_max_memory_usage`. Linux with glibc only.
            """
        ),
        advanced=True,
    )

    @memoized_method
    def registries(self) -> OciRegistries:
        """`[oci].registries`, validated: an OptionsError names the alias and key at fault."""
        return OciRegistries.from_dict(self._registries)

    @memoized_method
    def shard_size(self) -> int:
        """`[oci].shard_size` in bytes, validated; 0 for `off`."""
        try:
            return parse_shard_size(self._shard_size)
        except ShardSizeError as e:
            raise OptionsError(f"[oci].shard_size = {self._shard_size!r} is invalid: {e}") from e

    def level_for(self, compression: Compression) -> int | None:
        """The level a compression runs at: `[oci].compression_level`, else its default."""
        if compression.level_range is None:
            return None
        return compression.default_level if self.compression_level is None else self.compression_level

    @memoized_method
    def publish_settings(self) -> PublishSettings:
        """`[oci].publish_jobs` and `[oci].env_vars`, validated (the core would silently take
        jobs < 1 as 1, and Pants would drop a malformed variable name)."""
        return PublishSettings(self._checked_jobs(), self.checked_env_vars(), self._signing())

    @memoized_method
    def verify_settings(self) -> VerifySettings:
        """What `oci-verify` takes from publish: its jobs and environment, not its signing key
        (a machine that verifies need not hold it)."""
        return VerifySettings(self._checked_jobs(), self.checked_env_vars())

    def _checked_jobs(self) -> int:
        if self.publish_jobs < 1:
            raise OptionsError(
                f"[oci].publish_jobs = {self.publish_jobs} is out of range: expected 1 or more "
                "(how many blobs `publish` uploads at the same time; default 4)."
            )
        return self.publish_jobs

    @memoized_method
    def checked_env_vars(self) -> tuple[str, ...]:
        """`[oci].env_vars`, validated: Pants would silently drop a malformed variable name."""
        for entry in self.env_vars:
            if not isinstance(entry, str) or not _ENV_VAR_RE.fullmatch(entry):
                raise OptionsError(
                    f"[oci].env_vars has an invalid entry {entry!r}: expected NAME or NAME=value, "
                    "where NAME is letters, digits and '_' and does not start with a digit, e.g. "
                    "'DOCKER_CONFIG' or 'OCIKIT_LOG_LEVEL=DEBUG'."
                )
        return tuple(self.env_vars)

    @memoized_method
    def stamp_env_vars_defaults(self) -> FrozenDict[str, Optional[str]]:
        """`[oci].stamp_env_vars`, validated: NAME -> its default (None when it has none)."""
        try:
            return parse_stamp_env_vars(self.stamp_env_vars)
        except ValueError as e:
            raise OptionsError(
                f"[oci].stamp_env_vars has an invalid entry {str(e)!r}: expected NAME or NAME=default, where "
                "NAME is letters, digits and '_' and does not start with a digit, e.g. 'CI_PIPELINE_ID'."
            ) from e

    def _signing(self) -> Optional[SigningSettings]:
        if not self.signing_key:
            return None
        if not _ENV_VAR_RE.fullmatch(self.signing_key_password_env or "") or "=" in self.signing_key_password_env:
            raise OptionsError(
                f"[oci].signing_key_password_env = {self.signing_key_password_env!r} is not an environment "
                "variable name: expected letters, digits and '_', e.g. 'COSIGN_PASSWORD'."
            )
        path = os.path.join(get_buildroot(), os.path.expanduser(self.signing_key))
        if not os.path.isfile(path):
            raise OptionsError(
                f"[oci].signing_key = {self.signing_key!r}: no such file ({path}); expected the path of a "
                "PEM PKCS#8 or cosign encrypted ECDSA P-256 private key, relative to the build root."
            )
        return SigningSettings(path, self.signing_key_password_env, self.sign_platform_manifests)
