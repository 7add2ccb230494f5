"""Describe an image in a registry: its manifest (exact bytes) and a JSON summary."""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional, Union

from ocikit import media_types
from ocikit.image import Platform, select_index_entry
from ocikit.reference import Reference, parse_reference
from ocikit.registry.auth import Keychain
from ocikit.registry.pull import open_repository


def inspect_image(
    reference: Union[str, Reference],
    *,
    platform: Optional[str] = None,
    insecure_registries: Iterable[str] = (),
    keychain: Optional[Keychain] = None,
) -> tuple[bytes, dict[str, Any]]:
    """(manifest bytes as served, description). A reference without tag or digest means :latest.

    With `platform`, an index is resolved to that platform's manifest."""
    ref = reference if isinstance(reference, Reference) else parse_reference(reference, default_tag="latest")
    client = open_repository(ref, insecure_registries=insecure_registries, keychain=keychain)
    try:
        manifest = client.get_manifest(ref.identifier)
        description: dict[str, Any] = {
            "reference": f"{ref.name}@{manifest.digest}",
            "digest": manifest.digest,
            "mediaType": manifest.media_type,
            "size": manifest.size,
        }
        if ref.tag:
            description["tag"] = ref.tag
        value = json.loads(manifest.data or b"{}")
        if manifest.media_type in media_types.INDEX_TYPES:
            if platform is None:
                description["manifests"] = [
                    {
                        "digest": e.get("digest"),
                        "mediaType": e.get("mediaType"),
                        "size": e.get("size"),
                        "platform": str(Platform.of_index_entry(e) or "unknown"),
                    }
                    for e in value.get("manifests") or []
                    if isinstance(e, dict)
                ]
                return manifest.data or b"", description
            wanted = Platform.parse(platform)
            entry, have = select_index_entry(value, wanted, str(ref))
            manifest = client.get_manifest(str(entry["digest"]))
            value = json.loads(manifest.data or b"{}")
            description.update(
                {"platform": str(have), "manifest": manifest.digest, "manifestMediaType": manifest.media_type}
            )
        config_descriptor = value.get("config") or {}
        config = json.loads(client.fetch_blob_bytes(str(config_descriptor.get("digest"))))
        container = config.get("config") or {}
        description["config"] = {
            "digest": config_descriptor.get("digest"),
            "os": config.get("os"),
            "architecture": config.get("architecture"),
            **({"variant": config["variant"]} if config.get("variant") else {}),
            **({"created": config["created"]} if config.get("created") else {}),
            **{
                k: container[k]
                for k in ("Entrypoint", "Cmd", "Env", "User", "WorkingDir", "Labels", "ExposedPorts")
                if container.get(k) is not None
            },
        }
        description["layers"] = [
            {"digest": layer.get("digest"), "size": layer.get("size"), "mediaType": layer.get("mediaType")}
            for layer in value.get("layers") or []
        ]
        return manifest.data or b"", description
    finally:
        client.transport.close()
