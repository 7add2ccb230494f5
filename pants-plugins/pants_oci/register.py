"""The OCI image backend: `oci_layer`, `oci_pull`, `oci_image`, `oci_promotion`,
`oci_deploy_manifests` and `oci_debian_packages` targets, `package`, `publish`, `run`,
`oci-verify` and the `oci-base-images` and `oci-debian-packages` lockfiles."""

from pants.version import PANTS_SEMVER

from pants_oci.pants_version import check_pants_version

# Before anything else: on another Pants version, one error naming the supported range
# instead of a failure deep inside the rules.
check_pants_version(str(PANTS_SEMVER))

from pants_oci import pantsd_memory  # noqa: E402
from pants_oci.debian import layers as debian_layers  # noqa: E402
from pants_oci.debian import lockfile as debian_lockfile  # noqa: E402
from pants_oci.debian import sbom as debian_sbom  # noqa: E402
from pants_oci.debian.target_types import OciDebianPackagesTarget  # noqa: E402
from pants_oci.goals import (  # noqa: E402
    image_test,  # noqa: E402
    lockfile,
    package,
    package_deploy,
    promote,
    publish,
    publish_attestations,
    publish_roots,
    publish_run,
    run,
)
from pants_oci.goals import verify as verify_goal  # noqa: E402
from pants_oci.image_test_fields import OciImageTestTarget  # noqa: E402
from pants_oci.sbom import base_packages as sbom_base_packages  # noqa: E402
from pants_oci.sbom import contents as sbom_contents  # noqa: E402
from pants_oci.sbom import files as sbom_files  # noqa: E402
from pants_oci.sbom import rules as sbom_rules  # noqa: E402
from pants_oci.subsystem import OciSubsystem  # noqa: E402
from pants_oci.target_types import (  # noqa: E402
    OciDeployManifestsTarget,
    OciImageTarget,
    OciLayerTarget,
    OciPromotionTarget,
    OciPullTarget,
)
from pants_oci.util_rules import (  # noqa: E402
    base,
    base_lockfile,
    dependencies,
    deploy_images,
    image,
    layer_inputs,
    layer_shards,
    layers,
    pull,
    runtime,
    settings,
    stamp,
    stamp_annotations,
    targets_with_field,
    worker_environment,
    worker_runner,
)


def target_types():
    return [
        OciLayerTarget,
        OciImageTarget,
        OciPullTarget,
        OciPromotionTarget,
        OciDeployManifestsTarget,
        OciImageTestTarget,
        OciDebianPackagesTarget,
    ]


def rules():
    return [
        *OciSubsystem.rules(),
        *pantsd_memory.rules(),
        *worker_runner.rules(),
        *worker_environment.rules(),
        *dependencies.rules(),
        *deploy_images.rules(),
        *targets_with_field.rules(),
        *settings.rules(),
        *stamp.rules(),
        *stamp_annotations.rules(),
        *image_test.rules(),
        *layer_inputs.rules(),
        *layers.rules(),
        *layer_shards.rules(),
        *base.rules(),
        *base_lockfile.rules(),
        *image.rules(),
        *pull.rules(),
        *package.rules(),
        *publish.rules(),
        *promote.rules(),
        *package_deploy.rules(),
        *lockfile.rules(),
        *publish_run.rules(),
        *publish_roots.rules(),
        *publish_attestations.rules(),
        *runtime.rules(),
        *run.rules(),
        *verify_goal.rules(),
        *sbom_files.rules(),
        *sbom_base_packages.rules(),
        *sbom_contents.rules(),
        *sbom_rules.rules(),
        *debian_lockfile.rules(),
        *debian_layers.rules(),
        *debian_sbom.rules(),
    ]
