"""Typed contracts for what crosses the boundary between the Pants rules and ocikit's worker
processes (layer specs, publish plans, check results, pull requests).

Each contract is a frozen dataclass that subclasses `Contract` and names its `KIND`; both sides
import the one definition, so a field renamed on one side is renamed on the other. The JSON
form carries `kind` and `version`; `from_json` refuses another kind or version, an unknown key
and a missing required field, naming the field, so a mismatch fails loudly where it is read
instead of as a missing key deep inside a worker.

Field types understood: str, int, float, bool, None, Optional[X], tuple[X, ...], dict[str, X]
and nested contracts. Write annotations that Python 3.9 can evaluate (`Optional[X]`, not
`X | None`): the plugin runs on Pants' Python 3.9.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, ClassVar, Dict, Mapping, Tuple, Type, TypeVar, Union

from ocikit.canonical_json import canonical_json
from ocikit.errors import OcikitError

_C = TypeVar("_C", bound="Contract")


class ContractError(OcikitError, ValueError):
    """A contract's JSON form does not match its definition."""


class Contract:
    """Base of the worker contracts: subclasses are `@dataclass(frozen=True)` and set KIND."""

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        reserved = {"kind", "version"} & set(cls.__dict__.get("__annotations__", {}))
        if reserved:  # its value would overwrite the JSON's own key
            raise TypeError(f"{cls.__name__}: a contract cannot have a field named {', '.join(sorted(reserved))}")

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"kind": self.KIND, "version": self.VERSION}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            out[field.name] = _encode(getattr(self, field.name))
        return out

    def dumps(self) -> bytes:
        """Canonical JSON bytes: the same value always gives the same bytes (a cache key)."""
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls: Type[_C], data: Any, origin: str = "") -> _C:
        where = origin or cls.KIND
        if not isinstance(data, Mapping):
            raise ContractError(f"{where}: expected a JSON object ({cls.KIND}), got {type(data).__name__}")
        kind, version = data.get("kind"), data.get("version")
        if kind != cls.KIND:
            raise ContractError(f"{where}: expected a {cls.KIND!r}, got kind {kind!r}")
        if version != cls.VERSION:
            raise ContractError(
                f"{where}: {cls.KIND} version {version!r}, this ocikit reads version {cls.VERSION}: "
                "the Pants plugin and its worker code come from different versions"
            )
        return _decode_contract(cls, data, where)

    @classmethod
    def loads(cls: Type[_C], raw: Union[bytes, str], origin: str = "") -> _C:
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ContractError(f"{origin or cls.KIND}: not JSON ({e})") from None
        return cls.from_json(data, origin)

    @classmethod
    def read(cls: Type[_C], path: str) -> _C:
        with open(path, "rb") as f:
            return cls.loads(f.read(), path)


def field_names(contract: Type[Contract]) -> Tuple[str, ...]:
    """The JSON keys of a contract besides `kind` and `version`."""
    return tuple(f.name for f in dataclasses.fields(contract))  # type: ignore[arg-type]


def _encode(value: Any) -> Any:
    if isinstance(value, Contract):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode_contract(cls: Type[_C], data: Mapping[str, Any], where: str) -> _C:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields) - {"kind", "version"})
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {', '.join(unknown)} in a {cls.KIND}")
    hints = _type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _decode(hints[name], data[name], f"{where}: {name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ContractError(f"{where}: the required key {name!r} is missing from a {cls.KIND}")
    return cls(**values)


_HINTS: Dict[type, Dict[str, Any]] = {}


def _type_hints(cls: type) -> Dict[str, Any]:
    # Evaluating string annotations compiles each one: once per class, not per value read.
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


_SCALARS = (str, int, float, bool)


def _all_plain(hint: Any, values: list) -> bool:
    """Whether every value is exactly a `str`/`int`/`bool` `hint`, or a list of exactly the
    types of a fixed tuple of them: long lists of such (a layer's files) are taken as they are
    instead of decoded item by item. Anything else, an error included, takes the slow path."""
    if hint in (str, int, bool):
        return all(type(v) is hint for v in values)
    if typing.get_origin(hint) in (tuple, Tuple):
        types = typing.get_args(hint)
        if Ellipsis in types or not all(t in (str, int, bool) for t in types):
            return False
        n = len(types)
        return all(type(v) is list and len(v) == n and all(type(x) is t for x, t in zip(v, types)) for v in values)
    return False


def _decode(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value, where)
    if isinstance(hint, type) and issubclass(hint, Contract):
        return hint.from_json(value, where)
    if origin in (tuple, Tuple):
        if not isinstance(value, list):
            raise ContractError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            if _all_plain(args[0], value):
                return tuple(tuple(v) if isinstance(v, list) else v for v in value)
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ContractError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Dict, Mapping, typing.Mapping) or hint in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ContractError(f"{where}: expected an object, got {type(value).__name__}")
        inner = args[1] if args else Any
        return {str(k): _decode(inner, v, f"{where}.{k}") for k, v in value.items()}
    if hint in _SCALARS:
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ContractError(f"{where}: expected {hint.__name__}, got {json.dumps(value)[:80]}")
        return value
    if hint is type(None):
        if value is not None:
            raise ContractError(f"{where}: expected null")
        return None
    raise TypeError(f"{where}: contracts cannot hold a {hint!r}")  # a definition bug, not input
