"""The OCI image backend: `oci_layer` and `oci_image` targets, `package` and `publish`."""

from pants.version import PANTS_SEMVER

from pants_oci.pants_version import check_pants_version

# Before anything else: on another Pants version, one error naming the supported range
# instead of a failure deep inside the rules.
check_pants_version(str(PANTS_SEMVER))

from pants_oci.goals import package, publish  # noqa: E402
from pants_oci.subsystem import OciSubsystem  # noqa: E402
from pants_oci.target_types import OciImageTarget, OciLayerTarget, OciPullTarget  # noqa: E402
from pants_oci.util_rules import core, dependencies, image, layers, pull, settings  # noqa: E402


def target_types():
    return [OciLayerTarget, OciImageTarget, OciPullTarget]


def rules():
    return [
        *OciSubsystem.rules(),
        *core.rules(),
        *dependencies.rules(),
        *settings.rules(),
        *layers.rules(),
        *image.rules(),
        *pull.rules(),
        *package.rules(),
        *publish.rules(),
    ]
