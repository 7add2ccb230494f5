"""The image model: platforms, descriptors, config mutations, manifests and indexes.

Small immutable values; transforms return new values (go-containerregistry's pkg/v1/mutate).
Every blob is canonical JSON (`ocikit.canonical_json`), so the same inputs give the same
digests on every run and machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.digest import sha256_digest, validate_digest
from ocikit.errors import OcikitError

_PLATFORM_PART = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PORT_RE = re.compile(r"^([0-9]{1,5})(?:/(tcp|udp|sctp))?$")
_ENV_NAME_RE = re.compile(r"^[^=\x00]+$")


class ImageError(OcikitError, ValueError):
    """A value that cannot go into an image (bad platform, port, env name, path...)."""


class PlatformError(ImageError):
    """A malformed platform, or one an image does not have (the message lists those it has)."""


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, value: str) -> Platform:
        parts = value.split("/") if isinstance(value, str) else []
        if len(parts) not in (2, 3) or not all(_PLATFORM_PART.match(p) for p in parts):
            raise PlatformError(
                f"invalid platform {value!r}: expected 'os/arch' or 'os/arch/variant' in "
                "lowercase, e.g. 'linux/amd64', 'linux/arm64/v8', 'linux/arm/v7'"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Platform:
        """From a platform object, or an image config (which holds the same three keys)."""
        return cls(value.get("os") or "", value.get("architecture") or "", value.get("variant") or None)

    @classmethod
    def of_index_entry(cls, entry: Mapping[str, Any]) -> Platform | None:
        """The platform of an index entry; None when it names none: no `platform`, no os or
        architecture, or os "unknown" (what BuildKit gives its attestation manifests)."""
        value = entry.get("platform") if isinstance(entry, Mapping) else None
        if not isinstance(value, Mapping) or not value.get("os") or not value.get("architecture"):
            return None
        if value["os"] == "unknown":
            return None
        return cls.from_json(value)

    def matches(self, other: Platform) -> bool:
        """Does `other` (an image's platform) satisfy this (a requested) platform?

        Architecture aliases are equal (x86_64 = amd64, aarch64 = arm64) and a missing variant
        means the default one (arm64 -> v8, arm -> v7), as containerd's platform matcher.
        """
        if self.os != other.os or _arch(self.architecture) != _arch(other.architecture):
            return False
        if self.variant is None:
            return True
        return _variant(self.architecture, self.variant) == _variant(other.architecture, other.variant)


def select_platform(wanted: Platform, offered: Sequence[Platform]) -> int | None:
    """The position in `offered` of the platform that satisfies `wanted`: an exact match first,
    else the first one `wanted.matches` (aliases, default variants); None when none does.

    The one way to pick a platform out of an index or a multi-platform base."""
    for i, platform in enumerate(offered):
        if platform == wanted:
            return i
    return next((i for i, platform in enumerate(offered) if wanted.matches(platform)), None)


def select_index_entry(index: Mapping[str, Any], wanted: Platform, what: str) -> tuple[Mapping[str, Any], Platform]:
    """The entry of `index` (an image index's JSON) that `select_platform` picks for `wanted`,
    with its platform; a PlatformError naming `what` and listing the platforms it has if none."""
    entries = index_platforms(index)
    i = select_platform(wanted, [platform for _, platform in entries])
    if i is None:
        raise PlatformError(f"{what} has no {wanted} image; it has {describe_platforms(entries)}")
    return entries[i]


def index_platforms(index: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Platform]]:
    """The entries of an image index's JSON that name a platform, each with it, in order."""
    entries = index.get("manifests") if isinstance(index, Mapping) else None
    found = [(e, Platform.of_index_entry(e)) for e in entries or [] if isinstance(e, Mapping)]
    return [(e, p) for e, p in found if p is not None]


def describe_platforms(entries: Sequence[tuple[Any, Platform]]) -> str:
    """'linux/amd64, linux/arm64/v8' (sorted, once each), or 'none'."""
    return ", ".join(sorted({str(platform) for _, platform in entries})) or "none"


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}


def _arch(value: str) -> str:
    return _ARCH_ALIASES.get(value, value)


def _variant(arch: str, variant: str | None) -> str | None:
    if _arch(arch) == "arm64" and variant in (None, "v8"):
        return "v8"
    if _arch(arch) == "arm" and variant is None:
        return "v7"
    return variant


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    platform: Platform | None = None

    def __post_init__(self) -> None:
        validate_digest(self.digest)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Descriptor:
        platform = value.get("platform")
        return cls(
            media_type=value["mediaType"],
            digest=value["digest"],
            size=int(value["size"]),
            annotations=tuple(sorted((value.get("annotations") or {}).items())),
            platform=Platform.from_json(platform) if platform else None,
        )


@dataclass(frozen=True)
class Layer:
    """A built layer: its blob descriptor, the digest of its uncompressed tar, and its history."""

    descriptor: Descriptor
    diff_id: str
    created_by: str = ""


@dataclass(frozen=True)
class Blob:
    """A small blob held in memory (config, manifest, index): its exact bytes and descriptor."""

    data: bytes
    descriptor: Descriptor

    @classmethod
    def of_json(cls, value: Any, media_type: str, **kwargs: Any) -> Blob:
        data = canonical_json(value)
        return cls(data, Descriptor(media_type, sha256_digest(data), len(data), **kwargs))


@dataclass(frozen=True)
class ConfigMutations:
    """What an `oci_image` target changes in the config of its base (None = keep the base's)."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    workdir: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None


def normalize_port(value: str) -> str:
    """'8080' -> '8080/tcp'; '53/udp' stays; anything else is an ImageError."""
    match = _PORT_RE.match(str(value).strip().lower())
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise ImageError(
            f"invalid port {value!r}: expected PORT or PORT/PROTOCOL with PORT in 1-65535 and "
            "PROTOCOL one of tcp, udp, sctp, e.g. '8080' or '53/udp'"
        )
    return f"{int(match.group(1))}/{match.group(2) or 'tcp'}"


def validate_env_name(name: str) -> str:
    if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
        raise ImageError(f"invalid environment variable name {name!r}: it must be non-empty without '='")
    return name


def epoch_to_rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_env(base: Sequence[str], updates: Sequence[tuple[str, str]]) -> list[str]:
    """Override a base variable of the same name in place; append new ones in order."""
    merged = list(base)
    positions = {entry.split("=", 1)[0]: i for i, entry in enumerate(merged)}
    for name, value in updates:
        validate_env_name(name)
        if name in positions:
            merged[positions[name]] = f"{name}={value}"
        else:
            positions[name] = len(merged)
            merged.append(f"{name}={value}")
    return merged


def _merge_set(base: Mapping[str, Any] | None, keys: Sequence[str]) -> dict[str, dict]:
    merged: dict[str, dict] = {k: {} for k in (base or {})}
    merged.update({k: {} for k in keys})
    return merged


def apply_mutations(container: Mapping[str, Any], mutations: ConfigMutations) -> dict[str, Any]:
    """The seed's config composition on the `config` object of an image config."""
    out = dict(container)
    if mutations.entrypoint is not None:
        out["Entrypoint"] = list(mutations.entrypoint)
        # As `docker build`: a new ENTRYPOINT drops the CMD it would otherwise be given.
        if mutations.cmd is None:
            out.pop("Cmd", None)
    if mutations.cmd is not None:
        out["Cmd"] = list(mutations.cmd)
    if mutations.env:
        out["Env"] = _merge_env(out.get("Env") or [], mutations.env)
    if mutations.user is not None:
        out["User"] = mutations.user
    if mutations.workdir is not None:
        out["WorkingDir"] = mutations.workdir
    if mutations.labels:
        out["Labels"] = {**(out.get("Labels") or {}), **dict(mutations.labels)}
    if mutations.exposed_ports:
        ports = [normalize_port(p) for p in mutations.exposed_ports]
        out["ExposedPorts"] = _merge_set(out.get("ExposedPorts"), ports)
    if mutations.volumes:
        out["Volumes"] = _merge_set(out.get("Volumes"), list(mutations.volumes))
    if mutations.stop_signal is not None:
        out["StopSignal"] = mutations.stop_signal
    return {k: v for k, v in out.items() if v is not None}


def compose_config(
    base_config: Mapping[str, Any] | None,
    platform: Platform,
    layers: Sequence[Layer],
    mutations: ConfigMutations,
    created: str,
) -> dict[str, Any]:
    """A new image config: the base's, mutated, with `layers` appended to rootfs and history."""
    base = dict(base_config or {})
    base_layers = list((base.get("rootfs") or {}).get("diff_ids") or [])
    history = list(base.get("history") or [])
    for layer in layers:
        entry = {"created": created, "created_by": layer.created_by or "ocikit layer"}
        history.append(entry)
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": apply_mutations(base.get("config") or {}, mutations),
        "rootfs": {"type": "layers", "diff_ids": base_layers + [layer.diff_id for layer in layers]},
        "history": history,
    }
    if platform.variant:
        config["variant"] = platform.variant
    return config


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image: its config blob, its manifest blob and all its layers."""

    platform: Platform
    config: Blob
    manifest: Blob
    layers: tuple[Layer, ...]


# A layer's bytes do not change with the media type's vendor prefix: an image built on a Docker
# v2 base is an OCI image, and names the base's layers with OCI media types.
_OCI_LAYER_TYPE = {media_types.DOCKER_LAYER_GZIP: media_types.OCI_LAYER_GZIP}


def pulled_platform_image(manifest: Descriptor, manifest_data: bytes, config_data: bytes) -> PlatformImage:
    """A registry image (as pulled: `manifest` from the index, the manifest's and the config's
    exact bytes) as the base of a new image. A manifest without platform is linux/amd64."""
    manifest_json = json.loads(manifest_data)
    config_descriptor = Descriptor.from_json(manifest_json["config"])
    diff_ids = json.loads(config_data)["rootfs"]["diff_ids"]
    layers = tuple(
        Layer(
            Descriptor(
                _OCI_LAYER_TYPE.get(entry["mediaType"], entry["mediaType"]), entry["digest"], int(entry["size"])
            ),
            diff_id,
        )
        for entry, diff_id in zip(manifest_json["layers"], diff_ids)
    )
    return PlatformImage(
        platform=manifest.platform or Platform("linux", "amd64"),
        config=Blob(config_data, Descriptor(media_types.OCI_CONFIG, config_descriptor.digest, config_descriptor.size)),
        manifest=Blob(manifest_data, manifest),
        layers=layers,
    )


def build_platform_image(
    platform: Platform,
    base: PlatformImage | None,
    base_config: Mapping[str, Any] | None,
    layers: Sequence[Layer],
    mutations: ConfigMutations,
    created: str,
    annotations: Mapping[str, str] = {},
) -> PlatformImage:
    all_layers = tuple(base.layers if base else ()) + tuple(layers)
    config_json = compose_config(base_config, platform, layers, mutations, created)
    config = Blob.of_json(config_json, media_types.OCI_CONFIG)
    manifest_json: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_MANIFEST,
        "config": config.descriptor.to_json(),
        "layers": [layer.descriptor.to_json() for layer in all_layers],
    }
    if annotations:
        manifest_json["annotations"] = dict(annotations)
    manifest = Blob.of_json(manifest_json, media_types.OCI_MANIFEST, platform=platform)
    return PlatformImage(platform, config, manifest, all_layers)


def build_index(images: Sequence[PlatformImage], annotations: Mapping[str, str] = {}) -> Blob:
    index_json: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_INDEX,
        "manifests": [img.manifest.descriptor.to_json() for img in images],
    }
    if annotations:
        index_json["annotations"] = dict(annotations)
    return Blob.of_json(index_json, media_types.OCI_INDEX)
