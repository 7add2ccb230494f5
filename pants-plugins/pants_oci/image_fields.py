"""The fields of the `oci_image` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

import re
from typing import ClassVar, Dict, Iterable, Optional, Tuple

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import (
    BoolField,
    Dependencies,
    DictStringToStringField,
    SpecialCasedDependencies,
    StringField,
    StringSequenceField,
)
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from ocikit.image import ImageError, Platform, normalize_port, validate_env_name
from ocikit.reference import is_valid_repository, is_valid_tag
from pants_oci.bases import SCRATCH
from pants_oci.field_validation import (
    REPOSITORY_ACCEPTED,
    TAG_ACCEPTED,
    FieldName,
    invalid_value,
    validate_image_path,
    validate_repository,
    validate_stamped,
    validate_tag,
)


class OciImageBaseField(StringField):
    alias = "base"
    value: str
    default = SCRATCH
    help = help_text(
        """
        What this image is built on: `scratch` (nothing; the default), the address of
        another `oci_image` or of an `oci_pull` target, or a registry image pinned by digest
        (`registry/repository[:tag]@sha256:...`). This image starts from the base's layers
        and config; for a multi-platform base, from the manifest of each of its `platforms`.

        Example: `base=":runtime"`, `base="//images/base:debian"` or
        `base="127.0.0.1:5000/library/busybox:1.36@sha256:..."`
        """
    )


class OciImageLayersField(SpecialCasedDependencies):
    alias = "layers"
    help = help_text(
        """
        The `oci_layer` targets of this image, in order: one image layer each, on top of the
        base image's layers (`oci_debian_packages` targets add their packages' layers, and
        `oci_python_app` targets their app's). Where two layers put something on the same path, the later one
        wins, as in `docker build`: a directory replaces a file (and a file replaces a
        directory with everything under it). Within one layer, two inputs on one path are an
        error.

        Example: `layers=[":deps_layer", ":app_layer"]`
        """
    )


class OciImageDependenciesField(Dependencies):
    help = help_text(
        """
        A shortcut for small images: these inputs (files, resources, python_sources,
        relocated_files, packageable targets, placed as in `oci_layer`'s `dependencies`) go
        into one final layer at `/`, after `layers`.

        Example: `dependencies=[":config_files"]`
        """
    )


class _ArgvField(StringSequenceField):
    pass


class OciImageEntrypointField(_ArgvField):
    alias = "entrypoint"
    help = help_text(
        """
        The command the container runs (exec form). Setting it clears a `cmd` inherited from
        the base image unless `cmd` is set too, as `docker build` does.

        Example: `entrypoint=["/bin/server", "--port=8080"]`
        """
    )


class OciImageCmdField(_ArgvField):
    alias = "cmd"
    help = help_text(
        """
        Default arguments for the entrypoint (or the command itself when there is none).

        Example: `cmd=["--verbose"]`
        """
    )


class OciImageEnvField(DictStringToStringField):
    alias = "env"
    help = help_text(
        """
        Environment variables. A name the base image already sets is overridden in place,
        not duplicated. Names must be non-empty and contain no `=`.

        Example: `env={"PATH": "/app/bin:/usr/bin:/bin", "MODE": "prod"}`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[Dict[str, str]], address: Address) -> Optional[FrozenDict[str, str]]:
        value = super().compute_value(raw_value, address)
        for name in value or {}:
            try:
                validate_env_name(name)
            except ImageError:
                raise invalid_value(
                    FieldName(cls.alias, address),
                    name,
                    "environment variable names must be non-empty and must not contain '='",
                ) from None
        return value


class OciImageUserField(StringField):
    alias = "user"
    help = help_text(
        """
        The user (and optionally group) the container runs as.

        Example: `user="1000:1000"` or `user="nobody"`
        """
    )


class _CheckedStringField(StringField):
    """A string checked by `check`, which raises naming the target, field and value."""

    @classmethod
    def check(cls, field: FieldName, value: str) -> str:
        raise NotImplementedError

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        return cls.check(FieldName(cls.alias, address), value) if value is not None else None


class OciImageWorkdirField(_CheckedStringField):
    alias = "workdir"
    help = help_text(
        """
        The absolute working directory of the container.

        Example: `workdir="/app"`
        """
    )

    @classmethod
    def check(cls, field: FieldName, value: str) -> str:
        return validate_image_path(field, value)


class OciImageLabelsField(DictStringToStringField):
    alias = "labels"
    help = help_text(
        """
        Labels in the image config, merged over the base image's.

        Example: `labels={"org.opencontainers.image.source": "https://example.com/repo"}`
        """
    )


class OciImageAnnotationsField(DictStringToStringField):
    alias = "annotations"
    help = help_text(
        """
        Annotations on the image manifest (and on the index of a multi-platform image).

        Example: `annotations={"org.opencontainers.image.version": "1.2.3"}`
        """
    )


class _CheckedStringSequenceField(StringSequenceField):
    """A list of strings each checked by `check_item`, which raises naming the bad item."""

    @classmethod
    def check_item(cls, field: FieldName, item: str) -> None:
        raise NotImplementedError

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[str]], address: Address) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        for item in value or ():
            cls.check_item(FieldName(cls.alias, address), item)
        return value


class OciImageExposedPortsField(_CheckedStringSequenceField):
    alias = "exposed_ports"
    help = help_text(
        """
        Ports the container listens on: `PORT` (tcp) or `PORT/tcp|udp|sctp`, PORT in 1-65535.

        Example: `exposed_ports=["8080", "53/udp"]`
        """
    )

    @classmethod
    def check_item(cls, field: FieldName, item: str) -> None:
        try:
            normalize_port(item)
        except ImageError as e:
            raise invalid_value(field, item, str(e).split(": ", 1)[1]) from None


class OciImageVolumesField(_CheckedStringSequenceField):
    alias = "volumes"
    help = help_text(
        """
        Absolute paths the container expects volumes at.

        Example: `volumes=["/data"]`
        """
    )

    @classmethod
    def check_item(cls, field: FieldName, item: str) -> None:
        validate_image_path(field, item)


class OciImageStopSignalField(_CheckedStringField):
    alias = "stop_signal"
    help = help_text(
        """
        The signal that stops the container.

        Example: `stop_signal="SIGTERM"`
        """
    )

    @classmethod
    def check(cls, field: FieldName, value: str) -> str:
        if not re.match(r"^(SIG[A-Z0-9+-]+|[0-9]{1,2})$", value):
            raise invalid_value(
                field, value, "expected a signal name such as 'SIGTERM' or 'SIGRTMIN+3', or a signal number"
            )
        return value


class OciImagePlatformsField(_CheckedStringSequenceField):
    alias = "platforms"
    value: tuple[str, ...]
    default = ("linux/amd64",)
    help = help_text(
        """
        The platforms (`os/arch[/variant]`) this image is for. One platform gives an image
        manifest; several give an image index whose per-platform manifests share the same
        layers (the files are platform-independent; a multi-platform base contributes each
        platform's own layers).

        Example: `platforms=["linux/amd64", "linux/arm64/v8"]`
        """
    )

    @classmethod
    def check_item(cls, field: FieldName, item: str) -> None:
        try:
            Platform.parse(item)
        except ImageError as e:
            raise invalid_value(field, item, str(e).split(": ", 1)[1]) from None

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[str]], address: Address) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        named = FieldName(cls.alias, address)
        if not value:
            raise invalid_value(named, value, "expected at least one platform such as 'linux/amd64'")
        seen = set()
        for platform in value:
            parsed = Platform.parse(platform)  # each item is already checked by check_item
            if parsed in seen:
                raise invalid_value(named, platform, "each platform may appear only once")
            seen.add(parsed)
        return value


class OciImageRepositoryField(_CheckedStringField):
    alias = "repository"
    help = help_text(
        """
        The repository name of this image (without registry or tag), recorded in the layout's
        `index.json` and used by `publish`. Defaults to `[oci].default_repository`
        (the target's name unless configured). May hold the placeholders of `image_tags`,
        stamped by `publish` and `oci-verify` only (the layout then records no repository).

        Example: `repository="team/web-server"` or `repository="team/{env.CHANNEL}/web"`
        """
    )

    @classmethod
    def check(cls, field: FieldName, value: str) -> str:
        return validate_stamped(field, value, validate_repository, is_valid_repository, REPOSITORY_ACCEPTED)


class OciImageTagsField(_CheckedStringSequenceField):
    alias = "image_tags"
    default: ClassVar[Optional[Tuple[str, ...]]] = ("latest",)
    help = help_text(
        """
        Tags of the image (`tags` is Pants' own field for selecting targets). Each is
        recorded in the layout's `index.json` as `org.opencontainers.image.ref.name` (so
        `skopeo copy oci:DIR:TAG ...` finds it) and pushed by `publish`. Tags match
        `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.

        A tag may hold placeholders, stamped by `publish` (and `oci-verify`) and never part of
        the image, its digest or the layout: `{git.commit}` and `{git.commit_short}` (HEAD's
        hash, 40 or 12 hex digits, with `-dirty` appended when tracked files differ from it),
        `{env.NAME}` (a variable listed in `[oci].stamp_env_vars`), `{image.digest}` and
        `{image.digest_short}` (the hex of the image's digest, 64 or 12 digits).

        Example: `image_tags=["1.2.3", "latest"]` or `image_tags=["sha-{git.commit_short}"]`
        """
    )

    @classmethod
    def check_item(cls, field: FieldName, item: str) -> None:
        validate_stamped(field, item, validate_tag, is_valid_tag, TAG_ACCEPTED)


class OciImageOutputPathField(OutputPathField):
    help = help_text(
        """
        Where the OCI image layout directory goes, relative to `dist/`. Defaults to
        `path.to.target_dir/target_name`.

        Example: `output_path="images/web"`
        """
    )


class OciImageRegistriesField(StringSequenceField):
    alias = "registries"
    default = ("<default>",)
    help = help_text(
        """
        Where `pants publish` pushes this image: `@alias` names a registry configured in
        `[oci].registries`, `<default>` every registry marked `default` there, and anything
        else is a registry address (`host[:port]`). Each image is pushed as
        `ADDRESS/REPOSITORY:TAG` for each of its `image_tags`, and by digest.

        Example: `registries=["@prod", "127.0.0.1:5000"]`
        """
    )


class OciImageSkipPushField(BoolField):
    alias = "skip_push"
    default = False
    help = help_text(
        """
        If true, `pants publish` skips this image.
        """
    )
