"""Python apps as images: `oci_python_app`. Enable with `pants.backend.python` and `pants_oci`:

backend_packages = ["pants.backend.python", "pants_oci", "pants_oci.python"]
"""

from __future__ import annotations

from pants.version import PANTS_SEMVER

from pants_oci.pants_version import check_pants_version

# First, as in pants_oci's register.py: this backend may be listed before that one.
check_pants_version(str(PANTS_SEMVER))

from dataclasses import dataclass  # noqa: E402

from pants.engine.rules import collect_rules, rule  # noqa: E402
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies  # noqa: E402
from pants.engine.unions import UnionRule  # noqa: E402

from pants_oci.python import app, interpreter, requirement_layers, sbom, trees  # noqa: E402
from pants_oci.python.target_types import OciPythonAppBinaryField, OciPythonAppTarget  # noqa: E402
from pants_oci.util_rules.dependencies import address_in_field  # noqa: E402


@dataclass(frozen=True)
class OciPythonAppInferenceFieldSet(FieldSet):
    required_fields = (OciPythonAppBinaryField,)

    binary: OciPythonAppBinaryField


class InferOciPythonAppDependencies(InferDependenciesRequest):
    infer_from = OciPythonAppInferenceFieldSet


@rule(desc="Infer the binary of an oci_python_app")
async def infer_oci_python_app_binary(request: InferOciPythonAppDependencies) -> InferredDependencies:
    field_set = request.field_set
    binary = await address_in_field(field_set.binary.value, field_set.address, "binary")
    return InferredDependencies([binary] if binary else [])


def target_types():
    return [OciPythonAppTarget]


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferOciPythonAppDependencies),
        *app.rules(),
        *interpreter.rules(),
        *requirement_layers.rules(),
        *sbom.rules(),
        *trees.rules(),
    ]
