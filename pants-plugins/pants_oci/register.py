"""The OCI image backend: `oci_layer`, `oci_pull`, `oci_image` and `oci_deploy_manifests`
targets, `package`, `publish` and the `oci-base-images` lockfile."""


from pants_oci.goals import lockfile, package, package_deploy, publish
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import (
    OciDeployManifestsTarget,
    OciImageTarget,
    OciLayerTarget,
    OciPullTarget,
)
from pants_oci.util_rules import (
    base,
    base_lockfile,
    core,
    dependencies,
    deploy_images,
    image,
    layer_inputs,
    layers,
    pull,
    settings,
)


def target_types():
    return [OciLayerTarget, OciImageTarget, OciPullTarget, OciDeployManifestsTarget]


def rules():
    return [
        *OciSubsystem.rules(),
        *core.rules(),
        *dependencies.rules(),
        *deploy_images.rules(),
        *settings.rules(),
        *layer_inputs.rules(),
        *layers.rules(),
        *base.rules(),
        *base_lockfile.rules(),
        *image.rules(),
        *pull.rules(),
        *package.rules(),
        *publish.rules(),
        *package_deploy.rules(),
        *lockfile.rules(),
    ]
