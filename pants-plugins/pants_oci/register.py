"""The OCI image backend: `oci_layer` and `oci_image` targets, `package` and `publish`."""


from pants_oci.goals import package, publish
from pants_oci.subsystem import OciSubsystem
from pants_oci.target_types import OciImageTarget, OciLayerTarget, OciPullTarget
from pants_oci.util_rules import base, core, dependencies, image, layer_inputs, layer_shards, layers, pull, settings


def target_types():
    return [OciLayerTarget, OciImageTarget, OciPullTarget]


def rules():
    return [
        *OciSubsystem.rules(),
        *core.rules(),
        *dependencies.rules(),
        *settings.rules(),
        *layer_inputs.rules(),
        *layers.rules(),
        *layer_shards.rules(),
        *base.rules(),
        *image.rules(),
        *pull.rules(),
        *package.rules(),
        *publish.rules(),
    ]
