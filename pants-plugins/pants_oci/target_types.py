"""The `oci_layer`, `oci_pull` and `oci_image` targets; their fields live in `layer_fields`,
`pull_fields` and `image_fields`."""

from __future__ import annotations

from pants.engine.target import COMMON_TARGET_FIELDS, Target
from pants.util.strutil import help_text

from pants_oci.image_fields import (
    OciImageAnnotationsField,
    OciImageBaseField,
    OciImageCmdField,
    OciImageDependenciesField,
    OciImageEntrypointField,
    OciImageEnvField,
    OciImageExposedPortsField,
    OciImageLabelsField,
    OciImageLayersField,
    OciImageOutputPathField,
    OciImagePlatformsField,
    OciImageRegistriesField,
    OciImageRepositoryField,
    OciImageSkipPushField,
    OciImageStopSignalField,
    OciImageTagsField,
    OciImageUserField,
    OciImageVolumesField,
    OciImageWorkdirField,
)
from pants_oci.layer_fields import (
    OciLayerDependenciesField,
    OciLayerDestinationField,
    OciLayerOwnerField,
    OciLayerShardSizeField,
    OciLayerSymlinksField,
)
from pants_oci.pull_fields import OciPullImageField


# ---------------------------------------------------------------------------------------------
# oci_layer
# ---------------------------------------------------------------------------------------------


class OciLayerTarget(Target):
    alias = "oci_layer"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciLayerDependenciesField,
        OciLayerDestinationField,
        OciLayerOwnerField,
        OciLayerSymlinksField,
        OciLayerShardSizeField,
    )
    help = help_text(
        """
        One layer of an OCI image: a deterministic tar of its inputs, built by one cached
        process. Editing a file rebuilds only the layer that holds it; a layer larger than its
        `shard_size` becomes several image layers ("shards"), each its own process, and an edit
        rebuilds only its shard.

        Example:

            oci_layer(
                name="app_layer",
                dependencies=[":app_files"],
                destination="/app",
                owner="1000:1000",
            )
        """
    )


# ---------------------------------------------------------------------------------------------
# oci_pull
# ---------------------------------------------------------------------------------------------


class OciPullTarget(Target):
    alias = "oci_pull"
    core_fields = (*COMMON_TARGET_FIELDS, OciPullImageField)
    help = help_text(
        """
        An image from a registry, pinned by digest, to build `oci_image` targets on (`base`).
        Its manifests, configs and layers are fetched once by a process keyed by the digest,
        every blob's sha256 checked, and cached like a layer; the packaged layout holds them
        so it works offline, and publishing to the same registry mounts them instead of
        uploading.

        Example:

            oci_pull(
                name="busybox",
                image="127.0.0.1:5000/library/busybox:1.36@sha256:...",
            )
        """
    )


# ---------------------------------------------------------------------------------------------
# oci_image
# ---------------------------------------------------------------------------------------------


class OciImageTarget(Target):
    alias = "oci_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciImageBaseField,
        OciImageLayersField,
        OciImageDependenciesField,
        OciImageEntrypointField,
        OciImageCmdField,
        OciImageEnvField,
        OciImageUserField,
        OciImageWorkdirField,
        OciImageLabelsField,
        OciImageAnnotationsField,
        OciImageExposedPortsField,
        OciImageVolumesField,
        OciImageStopSignalField,
        OciImagePlatformsField,
        OciImageRepositoryField,
        OciImageTagsField,
        OciImageOutputPathField,
        OciImageRegistriesField,
        OciImageSkipPushField,
    )
    help = help_text(
        """
        An OCI container image, built without a Docker daemon. `pants package` writes a
        standard OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) under
        `dist/` and prints its digest; each layer is one cached process, so an edit rebuilds
        only the layer holding it and a no-op rebuild runs nothing.

        Example:

            oci_image(
                name="web",
                base=":runtime",
                layers=[":deps_layer", ":app_layer"],
                entrypoint=["/app/bin/server"],
                env={"MODE": "prod"},
                exposed_ports=["8080"],
                platforms=["linux/amd64", "linux/arm64"],
                repository="team/web",
                image_tags=["1.0", "latest"],
            )
        """
    )

