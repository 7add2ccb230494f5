"""The `oci_layer`, `oci_pull`, `oci_image`, `oci_promotion` and `oci_deploy_manifests` targets;
their fields live in `layer_fields`, `pull_fields`, `image_fields`, `promotion_fields` and
`deploy_fields`."""

from __future__ import annotations

from pants.core.util_rules.environments import EnvironmentField
from pants.engine.target import COMMON_TARGET_FIELDS, Target
from pants.util.strutil import help_text

from pants_oci.deploy_fields import (
    OciDeployDependenciesField,
    OciDeployOutputPathField,
    OciDeployRegistryField,
    OciDeploySourcesField,
)
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
from pants_oci.promotion_fields import (
    OciPromotionDependenciesField,
    OciPromotionOutputPathField,
    OciPromotionRepositoryField,
    OciPromotionSourceField,
    OciPromotionTagsField,
)
from pants_oci.pull_fields import OciPullDependenciesField, OciPullImageField

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
    core_fields = (*COMMON_TARGET_FIELDS, OciPullImageField, OciPullDependenciesField)
    help = help_text(
        """
        An image from a registry, to build `oci_image` targets on (`base`), pinned by a
        digest in its `image` field or, for a tag alone, by the base-image lockfile
        (`pants generate-lockfiles --resolve=oci-base-images` writes it). Its manifests,
        configs and layers are fetched once by a process keyed by the digest, every blob's
        sha256 checked, and cached like a layer; the packaged layout holds them so it works
        offline, and publishing to the same registry mounts them instead of uploading.

        Example:

            oci_pull(name="debian", image="registry.example.com/base/debian:12")
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
        EnvironmentField,
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


# ---------------------------------------------------------------------------------------------
# oci_deploy_manifests
# ---------------------------------------------------------------------------------------------


class OciDeployManifestsTarget(Target):
    alias = "oci_deploy_manifests"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciDeploySourcesField,
        OciDeployRegistryField,
        OciDeployDependenciesField,
        OciDeployOutputPathField,
    )
    help = help_text(
        """
        Deploy manifests (Kubernetes YAML, Compose files) whose `image:` values name our
        `oci_image` targets, by address or repository. `pants package` writes the files under
        `dist/` with each such value replaced by `REGISTRY/REPOSITORY@sha256:...`: the digest
        `package` computes for the image, which is the one `publish` pushes, on the registry
        chosen by `registry`. Everything else in the files is kept byte for byte (comments,
        key order, quoting, anchors); the output is parsed back and compared with the input,
        so nothing else can change. The images are inferred dependencies: `pants dependents`
        and `--changed-dependents` see this target.

        Example:

            oci_deploy_manifests(
                name="k8s",
                sources=["k8s/*.yaml"],   # image: //services/web:web, or image: team/web
                registry="@prod",
            )
        """
    )


# ---------------------------------------------------------------------------------------------
# oci_promotion
# ---------------------------------------------------------------------------------------------


class OciPromotionTarget(Target):
    alias = "oci_promotion"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciPromotionSourceField,
        OciPromotionDependenciesField,
        OciImageRegistriesField,
        OciPromotionRepositoryField,
        OciPromotionTagsField,
        OciImageSkipPushField,
        OciPromotionOutputPathField,
    )
    help = help_text(
        """
        An image that a registry already holds (the one staging tested), published to our
        registries unchanged, by digest: no rebuild. `pants publish` copies the image `source`
        names (an index with every platform's manifest) with its cosign attachments
        (`sha256-<hex>.sig`, `.att`, `.sbom`) to `REGISTRY/repository:TAG` for each of
        `registries` and `image_tags`; the digest there is the source's. Blobs are mounted
        when the source is on the same registry, copied otherwise. It is reported like an
        `oci_image` (`dist/<output_path>.publish.json`, `dist/oci-publish.json`), and its tags
        count in the check that no two targets push the same tag.

        Example:

            oci_pull(name="staging_web", image="registry.example.com/staging/web@sha256:...")
            oci_promotion(
                name="prod_web",
                source=":staging_web",
                registries=["@prod"],
                repository="web",
                image_tags=["1.4.2"],
            )
        """
    )
