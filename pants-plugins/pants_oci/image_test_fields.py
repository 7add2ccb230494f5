"""The `oci_image_test` target: checks of an `oci_image` that `pants test` runs
(goals/image_test.py). Each check is parsed here into the core's contract
(ocikit.contracts.image_test) when the BUILD file is read; a bad one names the target, the
field, the check and what is accepted."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Optional

from pants.engine.addresses import Address
from pants.engine.target import COMMON_TARGET_FIELDS, Field, StringField, Target
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from ocikit.contracts.image_test import CommandCheck, ConfigCheck, FileCheck
from pants_oci.field_validation import FieldName, invalid_value

FILE_TYPES = ("file", "dir", "symlink", "hardlink")
_FILE_KEYS = {"path", "exists", "type", "mode", "uid", "gid", "content"}
_COMMAND_KEYS = {"args", "entrypoint", "exit_code", "stdout", "stderr"}
_CONFIG_KEYS = {"entrypoint", "cmd", "env", "labels", "user", "workdir"}


class CheckError(ValueError):
    """What is wrong with one check; the field names the target and the check."""


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CheckError(f'`{what}` must be a list of strings, e.g. ["/bin/sh", "-c", "true"]')
    return tuple(value)


def _pairs(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CheckError(f'`{what}` must be a dict of strings, e.g. {{"LANG": "C.UTF-8"}}')
    return dict(value)


def _regex(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CheckError(f"`{what}` must be a regular expression (a string)")
    try:
        re.compile(value)
    except re.error as e:
        raise CheckError(f"`{what}` is not a valid regular expression: {e}") from e
    return value


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CheckError(f"`{what}` must be a whole number from {low} to {high}")
    return value


def _mode(value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value):
        return int(value, 8)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    raise CheckError('`mode` must be permission bits: an octal string such as "0755", or 0o755')


def _keys(item: Any, accepted: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise CheckError(f"each check is a dict with keys among {sorted(accepted)}")
    unknown = set(item) - accepted
    if unknown:
        raise CheckError(f"unknown keys {sorted(map(str, unknown))}; accepted: {sorted(accepted)}")
    missing = required - set(item)
    if missing:
        raise CheckError(f"missing {', '.join(f'`{k}`' for k in sorted(missing))}")
    return item


def parse_file_check(item: Any) -> FileCheck:
    item = _keys(item, _FILE_KEYS, {"path"})
    path = item["path"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise CheckError('`path` must be an absolute path in the image, e.g. "/app/main.py"')
    exists = item.get("exists", True)
    if not isinstance(exists, bool):
        raise CheckError("`exists` must be True or False")
    if not exists and set(item) - {"path", "exists"}:
        raise CheckError("a path checked to be absent takes no other key")
    kind = item.get("type")
    if kind is not None and kind not in FILE_TYPES:
        raise CheckError(f"`type` must be one of {', '.join(FILE_TYPES)}")
    return FileCheck(
        path=path,
        exists=exists,
        type=kind,
        mode=_mode(item["mode"]) if "mode" in item else None,
        uid=_int(item["uid"], "uid", 0, 2**32 - 1) if "uid" in item else None,
        gid=_int(item["gid"], "gid", 0, 2**32 - 1) if "gid" in item else None,
        content=_regex(item["content"], "content") if "content" in item else None,
    )


def parse_command_check(item: Any) -> CommandCheck:
    item = _keys(item, _COMMAND_KEYS, {"args"})
    return CommandCheck(
        args=_strings(item["args"], "args"),
        entrypoint=_strings(item["entrypoint"], "entrypoint") if "entrypoint" in item else None,
        exit_code=_int(item.get("exit_code", 0), "exit_code", 0, 255),
        stdout=_regex(item["stdout"], "stdout") if "stdout" in item else None,
        stderr=_regex(item["stderr"], "stderr") if "stderr" in item else None,
    )


def parse_config_check(item: Any) -> FrozenDict[str, Any]:
    """The config checks, as a hashable value (a field's value must be one); `config_check`
    turns it into the contract."""
    item = _keys(item, _CONFIG_KEYS, set())
    parsed: dict[str, Any] = {}
    for key, value in item.items():
        if key in ("entrypoint", "cmd"):
            parsed[key] = _strings(value, key)
        elif key in ("env", "labels"):
            parsed[key] = FrozenDict(_pairs(value, key))
        elif not isinstance(value, str):
            raise CheckError(f"`{key}` must be a string")
        else:
            parsed[key] = value
    return FrozenDict(parsed)


def config_check(value: Optional[Mapping[str, Any]]) -> Optional[ConfigCheck]:
    if not value:
        return None
    return ConfigCheck(**{k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()})


class _ChecksField(Field):
    """A list of checks, each a dict parsed by `parse`."""

    default = None

    @staticmethod
    def parse(item: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[Any]], address: Address) -> tuple:
        value = super().compute_value(raw_value, address)
        if value is None:
            return ()
        if isinstance(value, (str, Mapping)) or not isinstance(value, (list, tuple)):
            raise invalid_value(FieldName(cls.alias, address), value, "expected a list of checks (dicts)")
        checks = []
        for n, item in enumerate(value):
            try:
                checks.append(cls.parse(item))
            except CheckError as e:
                raise invalid_value(FieldName(cls.alias, address), item, f"check #{n + 1}: {e}") from e
        return tuple(checks)


class OciImageTestImageField(StringField):
    alias = "image"
    value: str
    required = True
    help = help_text('The `oci_image` target to check, e.g. `image=":app"` or `image="//apps/web:image"`.')


class OciImageTestFileChecksField(_ChecksField):
    alias = "file_checks"

    @staticmethod
    def parse(item: Any) -> FileCheck:
        return parse_file_check(item)

    help = help_text(
        """
        Paths of the image's filesystem (its layers applied in order), read from the built
        layout without a container runtime. Keys: `path` (absolute, required), `exists` (default
        True; False checks it is absent), `type` (file, dir, symlink, hardlink), `mode` ("0755"
        or 0o755), `uid`, `gid`, `content` (a regex searched in a file's content).

        Example: `file_checks=[{"path": "/app/main.py", "mode": "0644", "uid": 0},
        {"path": "/root/.cache", "exists": False}]`
        """
    )


class OciImageTestConfigChecksField(Field):
    alias = "config_checks"
    default = None
    help = help_text(
        """
        Fields of the image's config, read from the built layout: `entrypoint` and `cmd` (lists,
        equal), `user` and `workdir` (equal), `env` and `labels` (each pair given must be set
        to that value; others may be there too).

        Example: `config_checks={"entrypoint": ["/app/run"], "env": {"LANG": "C.UTF-8"},
        "user": "1000"}`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[Mapping[str, Any]], address: Address) -> Optional[FrozenDict[str, Any]]:
        value = super().compute_value(raw_value, address)
        if value is None:
            return None
        try:
            return parse_config_check(value)
        except CheckError as e:
            raise invalid_value(FieldName(cls.alias, address), value, str(e)) from e


class OciImageTestCommandChecksField(_ChecksField):
    alias = "command_checks"

    @staticmethod
    def parse(item: Any) -> CommandCheck:
        return parse_command_check(item)

    help = help_text(
        """
        Commands run in a container of the image, with the runtime and `[oci].run_args` of
        `pants run` (podman by default); without that runtime each fails saying so, and the other
        checks still run. Keys: `args` (replace the image's cmd; required), `entrypoint`
        (replaces the image's), `exit_code` (default 0), `stdout` and `stderr` (regexes searched
        in the output).

        Example: `command_checks=[{"args": ["--version"], "stdout": "^web 1\\\\."}]`
        """
    )


class OciImageTestTarget(Target):
    alias = "oci_image_test"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciImageTestImageField,
        OciImageTestFileChecksField,
        OciImageTestConfigChecksField,
        OciImageTestCommandChecksField,
    )
    help = help_text(
        """
        Checks of an `oci_image` that `pants test` runs, like container-structure-test: files
        with their modes and owners, config fields, and commands run in a container. Results
        are cached like any test's.

        Example: `oci_image_test(name="web_test", image=":web", file_checks=[{"path":
        "/app/main.py"}], command_checks=[{"args": ["--help"], "exit_code": 0}])`
        """
    )
