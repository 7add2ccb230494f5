"""Typed command lines for the worker commands Pants runs (`python -m ocikit layer|pull|...`).

Each command is a frozen dataclass that subclasses `CommandLine`, names its `COMMAND`, and
declares every field's flag once (`option`, `argument`, `remainder`). The plugin builds the
value and runs `to_argv()`; the worker registers `add_arguments()` on its parser and reads the
value back with `from_args()`. A flag renamed on one side is renamed on the other, and a test
can parse what the plugin writes with the worker's own parser. `ocikit.contract` does the same
for the JSON files that cross the boundary.

Field types understood: str, int, Optional[str], Optional[int], Tuple[str, ...] (the flag
repeated) and bool (a switch). A field equal to its default is left out of the command line,
so adding an optional flag does not change the command lines (the cache keys) of the others.
Annotations use `typing`'s names: the bytecode command runs on the image's Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

_C = TypeVar("_C", bound="CommandLine")
_META = "ocikit.command_line"


@dataclasses.dataclass(frozen=True)
class _Flag:
    flag: str  # "--out"; "" for a positional argument
    help: str
    metavar: Optional[str] = None
    joined: bool = False  # written `--flag=VALUE`: the value may itself start with '-'
    remainder: bool = False  # everything after `--`


def option(
    flag: str, help: str, *, metavar: Optional[str] = None, joined: bool = False, default: Any = dataclasses.MISSING
) -> Any:
    """A `--flag VALUE` field, required unless it has a default. A Tuple field repeats the flag
    (default `()`); a bool field is a switch (default False). `joined` writes `--flag=VALUE`,
    which argparse reads even when VALUE starts with '-'."""
    return dataclasses.field(default=default, metadata={_META: _Flag(flag, help, metavar, joined)})


def argument(help: str, *, metavar: Optional[str] = None) -> Any:
    """A positional argument, in field order."""
    return dataclasses.field(metadata={_META: _Flag("", help, metavar)})


def remainder(help: str) -> Any:
    """The arguments after `--` (a Tuple[str, ...] field, the last one): `--` is always
    written, so whoever runs the command may append more. Not in a command with positional
    arguments, which argparse would read as part of the remainder."""
    return dataclasses.field(default=(), metadata={_META: _Flag("", help, remainder=True)})


class CommandLine:
    """Base of the worker command lines: subclasses are `@dataclass(frozen=True)` and set COMMAND."""

    COMMAND: ClassVar[str] = ""

    def to_argv(self) -> Tuple[str, ...]:
        """`COMMAND` and its arguments, in field order."""
        argv = [self.COMMAND]
        for field, flag, _ in _fields(type(self)):
            value = getattr(self, field.name)
            if flag.remainder:
                argv += ["--", *value]
            elif not flag.flag:
                argv.append(str(value))
            elif field.default is dataclasses.MISSING or value != field.default:
                argv += _render(flag, value)
        return tuple(argv)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare this command's fields on the worker's parser (dest: the field's name)."""
        for field, flag, hint in _fields(cls):
            if flag.remainder:
                parser.add_argument(field.name, nargs=argparse.REMAINDER, help=flag.help)
            elif not flag.flag:
                parser.add_argument(field.name, metavar=flag.metavar, help=flag.help, **_type(hint))
            else:
                parser.add_argument(flag.flag, dest=field.name, help=flag.help, **_option_kwargs(field, flag, hint))

    @classmethod
    def from_args(cls: Type[_C], args: argparse.Namespace) -> _C:
        """The value a parser with `add_arguments` read (other attributes are ignored)."""
        values: Dict[str, Any] = {}
        for field, flag, hint in _fields(cls):
            value = getattr(args, field.name)
            if flag.remainder:
                value = tuple(value[1:] if value[:1] == ["--"] else value)
            elif _origin(hint) in (tuple, Tuple):
                value = tuple(value or ())
            values[field.name] = value
        return cls(**values)

    @classmethod
    def parse(cls: Type[_C], argv: Sequence[str]) -> _C:
        """The value of `argv` (without COMMAND) read by a parser of this command's fields alone."""
        parser = argparse.ArgumentParser(prog=f"ocikit {cls.COMMAND}")
        cls.add_arguments(parser)
        return cls.from_args(parser.parse_args(list(argv)))


def _fields(cls: type) -> List[Tuple[dataclasses.Field, _Flag, Any]]:
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        flag = field.metadata.get(_META)
        if flag is None:
            raise TypeError(f"{cls.__name__}.{field.name}: declare it with option(), argument() or remainder()")
        found.append((field, flag, hints[field.name]))
    positional = [f.name for f, flag, _ in found if not flag.flag]
    if any(flag.remainder for _, flag, _ in found) and (len(positional) > 1 or not found[-1][1].remainder):
        raise TypeError(f"{cls.__name__}: a remainder() is the last field, and the only positional one")
    return found


def _render(flag: _Flag, value: Any) -> List[str]:
    if value is None or value is False:
        return []
    if value is True:
        return [flag.flag]
    values = [str(v) for v in (value if isinstance(value, tuple) else (value,))]
    if flag.joined:
        return [f"{flag.flag}={v}" for v in values]
    if any(v.startswith("-") for v in values):
        # argparse would take it for an option: fail here, naming it, not in the worker.
        raise ValueError(f"{flag.flag} {values}: a value starting with '-' needs option(joined=True)")
    return [word for v in values for word in (flag.flag, v)]


def _origin(hint: Any) -> Any:
    return getattr(hint, "__origin__", None)


def _type(hint: Any) -> Dict[str, Any]:
    """argparse's `type` for a scalar hint (an Optional one included)."""
    args = getattr(hint, "__args__", ())
    scalar = next((a for a in args if a is not type(None)), hint) if _origin(hint) is typing.Union else hint
    return {"type": int} if scalar is int else {}


def _option_kwargs(field: dataclasses.Field, flag: _Flag, hint: Any) -> Dict[str, Any]:
    required = field.default is dataclasses.MISSING
    if hint is bool:
        return {"action": "store_true"}
    if _origin(hint) in (tuple, Tuple):
        return {"action": "append", "default": None, "metavar": flag.metavar, "required": required}
    return {
        "default": None if required else field.default,
        "metavar": flag.metavar,
        "required": required,
        **_type(hint),
    }
