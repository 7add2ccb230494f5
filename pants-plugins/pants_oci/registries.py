"""The `[oci].registries` option: aliases, addresses and defaults, shaped like `[docker].registries`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pants.option.errors import OptionsError

from ocikit.reference import is_valid_repository
from pants_oci.field_validation import REPOSITORY_ACCEPTED

_ADDRESS_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$"
)
_KEYS = {"address", "default", "insecure", "skip_push"}
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class OciRegistry:
    alias: str
    address: str
    default: bool = False
    insecure: bool = False
    skip_push: bool = False


def validate_registry_address(address: Any, where: str) -> str:
    match = _ADDRESS_RE.match(address) if isinstance(address, str) else None
    port = address.rpartition(":")[2] if match and not address.endswith("]") and ":" in address else None
    if match is None or "://" in address or "/" in address or (port is not None and not 1 <= int(port) <= 65535):
        raise OptionsError(
            f"{where}: invalid registry address {address!r}: expected HOST or HOST:PORT (port "
            "1-65535) with no scheme or path, e.g. 'registry.example.com', '127.0.0.1:5000' or "
            "'[::1]:5000'"
        )
    return address


@dataclass(frozen=True)
class OciRegistries:
    """`[oci].registries`, parsed and validated once (`OciSubsystem.registries()`)."""

    registries: tuple[OciRegistry, ...]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OciRegistries:
        return cls(parse_registries(raw))

    @property
    def insecure_addresses(self) -> tuple[str, ...]:
        """In the order configured: what `ocikit pull` and `ocikit lock` get as
        `insecure_registries` (ocikit.contracts)."""
        return tuple(r.address for r in self.registries if r.insecure)

    def select(self, requested: Sequence[str] | None, where: str) -> tuple[OciRegistry, ...]:
        """The registries an image's `registries` field names (see `select_registries`)."""
        return select_registries(self.registries, requested, where)


def parse_registries(raw: Mapping[str, Any]) -> tuple[OciRegistry, ...]:
    for alias in raw:
        if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
            raise OptionsError(
                f"[oci].registries: invalid alias {alias!r}: expected letters, digits, '.', '_' "
                "or '-' (not first), e.g. 'prod'; an image's `registries` field names it as '@prod'"
            )
    registries = []
    for alias, entry in sorted(raw.items()):
        where = f"[oci].registries[{alias!r}]"
        if not isinstance(entry, Mapping):
            raise OptionsError(f"{where}: expected a dict such as {{'address': 'host:port'}}, got {entry!r}")
        unknown = set(entry) - _KEYS
        if unknown:
            raise OptionsError(f"{where}: unknown keys {sorted(map(str, unknown))}; accepted: {sorted(_KEYS)}")
        if "address" not in entry:
            raise OptionsError(
                f"{where}: missing `address`: expected HOST or HOST:PORT, e.g. {{'address': 'registry.example.com'}}"
            )
        for key in ("default", "insecure", "skip_push"):
            if not isinstance(entry.get(key, False), bool):
                raise OptionsError(f"{where}: `{key}` must be True or False, got {entry[key]!r}")
        registries.append(
            OciRegistry(
                alias=alias,
                address=validate_registry_address(entry["address"], where),
                default=entry.get("default", False),
                insecure=entry.get("insecure", False),
                skip_push=entry.get("skip_push", False),
            )
        )
    return tuple(registries)


def select_registries(
    registries: Sequence[OciRegistry], requested: Sequence[str] | None, where: str
) -> tuple[OciRegistry, ...]:
    """`@alias` names a configured registry, `<default>` every default one, anything else is an address."""
    by_alias = {r.alias: r for r in registries}
    chosen: list[OciRegistry] = []
    for name in requested if requested is not None else ("<default>",):
        if name == "<default>":
            chosen.extend(r for r in registries if r.default)
        elif name.startswith("@"):
            if name[1:] not in by_alias:
                raise OptionsError(
                    f"{where}: unknown registry alias {name!r}; configured in [oci].registries: "
                    f"{', '.join('@' + a for a in sorted(by_alias)) or '(none)'}"
                )
            chosen.append(by_alias[name[1:]])
        else:
            known = next((r for r in registries if r.address == name), None)
            chosen.append(known or OciRegistry(alias=name, address=validate_registry_address(name, where)))
    unique = {r.address: r for r in chosen}
    return tuple(unique.values())


def format_repository(template: str, *, name: str, directory: str, where: str) -> str:
    parts = directory.split("/") if directory else []
    values = {
        "name": name,
        "directory": parts[-1] if parts else "",
        "parent_directory": parts[-2] if len(parts) > 1 else "",
        "full_directory": directory,
    }
    available = ", ".join("{" + k + "}" for k in values)
    try:
        repository = template.format(**values).strip("/").lower()
    except KeyError as e:
        raise OptionsError(
            f"{where}: unknown placeholder {{{e.args[0]}}} in {template!r}; available placeholders: {available}"
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as e:
        raise OptionsError(
            f"{where}: cannot format {template!r} ({e}); available placeholders: {available} "
            "(write '{{' and '}}' for literal braces)"
        ) from None
    if not is_valid_repository(repository):
        raise OptionsError(
            f"{where}: {template!r} gives the repository {repository!r}, which is not a valid "
            f"repository name: {REPOSITORY_ACCEPTED}. Change [oci].default_repository or set "
            "the target's `repository` field."
        )
    return repository


def image_repository(repository_field_value: str | None, address: Any, template: str) -> str:
    """An image's repository: its `repository` field, else `[oci].default_repository`."""
    if repository_field_value:
        return repository_field_value
    return format_repository(
        template,
        name=address.target_name,
        directory=address.spec_path,
        where=f"[oci].default_repository for {address}",
    )
