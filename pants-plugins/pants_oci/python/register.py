"""Python apps as images: `oci_python_app`. Enable with `pants.backend.python` and `pants_oci`:

    backend_packages = ["pants.backend.python", "pants_oci", "pants_oci.python"]
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.rules import collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule

from pants_oci.python import app, trees
from pants_oci.python.target_types import OciPythonAppBinaryField, OciPythonAppTarget
from pants_oci.util_rules.dependencies import address_in_field


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
        *trees.rules(),
    ]
