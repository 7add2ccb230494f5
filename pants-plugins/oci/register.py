"""The OCI image backend: `oci_layer` and `oci_image` targets, `package` and `publish`."""


from oci.goals import package, publish
from oci.subsystem import OciSubsystem
from oci.target_types import OciImageTarget, OciLayerTarget
from oci.util_rules import core, image, layers, settings


def target_types():
    return [OciLayerTarget, OciImageTarget]


def rules():
    return [
        *OciSubsystem.rules(),
        *core.rules(),
        *settings.rules(),
        *layers.rules(),
        *image.rules(),
        *package.rules(),
        *publish.rules(),
    ]
