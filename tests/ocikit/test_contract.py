"""The contract base: round trips, and loud failures on a mismatch between the two sides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest

from ocikit.contract import Contract, ContractError, field_names


@dataclass(frozen=True)
class _Inner(Contract):
    KIND = "test-inner"

    name: str
    size: int = 0


@dataclass(frozen=True)
class _Outer(Contract):
    KIND = "test-outer"
    VERSION = 2

    items: tuple[_Inner, ...]
    labels: dict[str, str]
    note: Optional[str] = None
    ratio: float = 1.0


def _outer() -> _Outer:
    return _Outer(items=(_Inner("a", 1), _Inner("b")), labels={"x": "y"}, note=None, ratio=0.5)


def test_round_trip_and_bytes():
    value = _outer()
    assert _Outer.loads(value.dumps()) == value
    data = value.to_json()
    assert data["kind"] == "test-outer" and data["version"] == 2
    assert data["items"][0] == {"kind": "test-inner", "version": 1, "name": "a", "size": 1}
    assert value.dumps() == _outer().dumps()
    assert field_names(_Outer) == ("items", "labels", "note", "ratio")


def test_defaults_fill_missing_optional_keys():
    data = _outer().to_json()
    del data["note"], data["ratio"]
    assert _Outer.from_json(data) == _Outer(items=_outer().items, labels={"x": "y"})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(kind="other"), "expected a 'test-outer', got kind 'other'"),
        (lambda d: d.update(version=1), "version 1, this ocikit reads version 2"),
        (lambda d: d.update(extra=1), "unknown key(s) extra"),
        (lambda d: d.pop("labels"), "the required key 'labels' is missing"),
        (lambda d: d.update(items="nope"), "items: expected a list"),
        (lambda d: d["items"][0].update(size="1"), "items[0]: size: expected int"),
        (lambda d: d["items"][1].update(size=True), "items[1]: size: expected int"),
        (lambda d: d.update(note=3), "note: expected str"),
    ],
)
def test_mismatches_fail_naming_the_field(change, message):
    data = _outer().to_json()
    change(data)
    with pytest.raises(ContractError) as e:
        _Outer.from_json(data, "plan.json")
    assert message in str(e.value)
    assert str(e.value).startswith("plan.json")


def test_not_json():
    with pytest.raises(ContractError, match="not JSON"):
        _Outer.loads(b"{", "plan.json")


def test_a_field_named_like_the_envelope_is_refused():
    with pytest.raises(TypeError, match="cannot have a field named version"):

        @dataclass(frozen=True)
        class _Bad(Contract):
            KIND = "bad"

            version: str


@dataclass(frozen=True)
class _Rows(Contract):
    KIND = "test-rows"

    rows: tuple[tuple[str, int, bool], ...]
    names: tuple[str, ...] = ()


def test_long_lists_of_plain_values_decode_as_the_item_by_item_path_would():
    """Lists of scalars, or of fixed tuples of them, are taken whole when every item has exactly
    the declared types; one item off takes the checking path, which names it."""
    value = _Rows(tuple((f"r{i}", i, i % 2 == 0) for i in range(1000)), ("a", "b"))
    decoded = _Rows.loads(value.dumps())
    assert decoded == value and all(type(r) is tuple for r in decoded.rows)
    for rows, message in [
        ([["a", 1, True], ["b", True, False]], "rows[1][1]: expected int"),
        ([["a", 1, True], ["b", 1]], "rows[1]: expected 3 items, got 2"),
        ([["a", 1, True], "b"], "rows[1]: expected a list"),
    ]:
        with pytest.raises(ContractError) as e:
            _Rows.from_json({**value.to_json(), "rows": rows})
        assert message in str(e.value)
    with pytest.raises(ContractError, match=r"names\[1\]: expected str"):
        _Rows.from_json({**value.to_json(), "names": ["a", 2]})
