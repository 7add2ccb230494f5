"""The fields of the `oci_deploy_manifests` target (the target itself is in `pants_oci.target_types`)."""

from __future__ import annotations

from typing import Optional

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import Dependencies, MultipleSourcesField, StringField
from pants.util.strutil import help_text

from pants_oci.field_validation import FieldName, invalid_value


class OciDeploySourcesField(MultipleSourcesField):
    default = ("*.yaml", "*.yml")
    expected_file_extensions = (".yaml", ".yml")
    help = help_text(
        """
        The YAML files (Kubernetes manifests, Compose files; several documents per file are
        fine) whose `image:` values are resolved. An `image:` string value may name an
        `oci_image` by address (`//path/to:target`, or `:target` in this directory), or by its
        repository (`team/web`, optionally with one of its `image_tags`: `team/web:1.0`); it
        becomes `REGISTRY/REPOSITORY@sha256:...` for the image `package` builds. A value with a
        registry host (`docker.io/library/postgres:15`) or a digest is left as it is; any other
        value that names no `oci_image` is an error, so a typo never deploys someone else's
        image from Docker Hub.

        Example: `sources=["k8s/*.yaml"]`
        """
    )


class OciDeployRegistryField(StringField):
    alias = "registry"
    help = help_text(
        """
        The registry the resolved references point at, as `@alias` from `[oci].registries`;
        default: the one registry marked `default` there. Every image the files name must be
        published to it (its `registries` field includes it and it does not `skip_push`).

        Example: `registry="@prod"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and (not value.startswith("@") or len(value) < 2):
            raise invalid_value(
                FieldName(cls.alias, address),
                value,
                "expected a registry alias from [oci].registries written as '@alias', e.g. '@prod'",
            )
        return value


class OciDeployDependenciesField(Dependencies):
    help = help_text(
        """
        Added to the `oci_image` targets the files name, which are inferred: `pants dependents
        //path/to:image` and `--changed-dependents` see this target without listing them.
        """
    )


class OciDeployOutputPathField(OutputPathField):
    help = help_text(
        """
        Where `package` writes the resolved files, relative to `dist/`: each source keeps its
        path relative to this target's directory below it. Default: `path.to.dir/target_name`.

        Example: `output_path="deploy/prod"`
        """
    )
