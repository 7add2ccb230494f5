"""`pants package` for `oci_deploy_manifests`: the YAML files with each `image:` value that
names one of our images replaced by `REGISTRY/REPOSITORY@sha256:...`.

The digest is the one `package` computes for the image, which is the one `publish` pushes;
nothing here talks to a registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule

from ocikit.yaml_images import replace_image_values
from pants_oci.deploy_fields import OciDeployOutputPathField, OciDeployRegistryField, OciDeploySourcesField
from pants_oci.deploy_images import DeployImageError, deploy_registry, replacement_for, resolved_reference
from pants_oci.image_fields import OciImageRepositoryField
from pants_oci.registries import OciRegistry, image_repository
from pants_oci.subsystem import OciSubsystem
from pants_oci.util_rules.deploy_images import DeployImages, DeployImagesRequest
from pants_oci.util_rules.image import push_registries
from pants_oci.util_rules.image_types import BuiltOciImage, OciImageRequest


@dataclass(frozen=True)
class OciDeployManifestsFieldSet(PackageFieldSet):
    required_fields = (OciDeploySourcesField, OciDeployRegistryField)

    sources: OciDeploySourcesField
    registry: OciDeployRegistryField
    output_path: OciDeployOutputPathField


def _check_published_to(image: Target, registry: OciRegistry, oci: OciSubsystem, deploy: Address) -> None:
    pushed = push_registries(image, oci)
    if registry.address not in {r.address for r in pushed}:
        where = ", ".join(f"@{r.alias}" if r.alias != r.address else r.address for r in pushed) or "none"
        raise DeployImageError(
            f"{deploy} points its images at @{registry.alias} ({registry.address}), but {image.address} "
            f"is not published there (it is published to: {where}). Add '@{registry.alias}' to its "
            "`registries`, or choose another `registry` for the manifests."
        )


async def _resolved_references(
    found: DeployImages, registry: OciRegistry, oci: OciSubsystem, deploy: Address
) -> dict[str, str]:
    """image value -> `REGISTRY/REPOSITORY@DIGEST` of the image it names."""
    addresses = sorted(set(found.images.values()))
    wrapped = await MultiGet(
        Get(WrappedTarget, WrappedTargetRequest(a, description_of_origin=f"the image values of {deploy}"))
        for a in addresses
    )
    for image in wrapped:
        _check_published_to(image.target, registry, oci, deploy)
    built = await MultiGet(Get(BuiltOciImage, OciImageRequest(a)) for a in addresses)
    reference = {
        w.target.address: resolved_reference(
            registry,
            image_repository(w.target[OciImageRepositoryField].value, w.target.address, oci.default_repository),
            b.top.digest,
        )
        for w, b in zip(wrapped, built)
    }
    return {value: reference[address] for value, address in found.images.items()}


@rule(desc="Package deploy manifests pointing at image digests")
async def package_deploy_manifests(field_set: OciDeployManifestsFieldSet, oci: OciSubsystem) -> BuiltPackage:
    where = f"the `registry` field of {field_set.address}"
    registry = deploy_registry(oci.registries(), field_set.registry.value, where)
    found = await Get(DeployImages, DeployImagesRequest(field_set.address, field_set.sources))
    resolved = await _resolved_references(found, registry, oci, field_set.address)
    output_dir = field_set.output_path.value_or_default(file_ending=None)
    replace = replacement_for(resolved)
    files = [
        FileContent(
            os.path.join(output_dir, os.path.relpath(f.path, field_set.address.spec_path)),
            replace_image_values(f.content, f.path, replace).encode("utf-8"),
        )
        for f in found.files
    ]
    digest = await Get(Digest, CreateDigest(files))
    artifact = BuiltPackageArtifact(
        relpath=output_dir,
        extra_log_lines=tuple(f"    {value} -> {ref}" for value, ref in sorted(resolved.items())),
    )
    return BuiltPackage(digest, (artifact,))


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, OciDeployManifestsFieldSet)]
