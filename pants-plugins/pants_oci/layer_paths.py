"""Where a layer's inputs land, checked before any byte is written: pure functions."""

from __future__ import annotations

from typing import Any, Iterable


class LayerInputError(Exception):
    """A layer whose inputs cannot be built (no inputs, two inputs on one path)."""


def check_layer_paths(claims: Iterable[tuple[str, Any]], what: str, destination: str) -> dict[str, Any]:
    """The owner of each path, from (path, owner) claims in the order given. Two owners of one
    path, or a file where another input needs a directory, is a LayerInputError naming both;
    so is a layer with no inputs at all."""
    owner_of: dict[str, Any] = {}
    where = destination.rstrip("/")
    for path, owner in claims:
        other = owner_of.setdefault(path, owner)
        if other != owner:
            raise LayerInputError(
                f"Two inputs of {what} land on the same path {where}/{path}: {other} and {owner}. "
                "Move one with `relocated_files` or put them in different layers."
            )
    if not owner_of:
        raise LayerInputError(
            f"{what} has no inputs: its `dependencies` give no files. Add `files`, "
            "`resources`, `relocated_files` or packageable targets to it, or `symlinks`."
        )
    directory_owner: dict[str, Any] = {}
    for path, owner in owner_of.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            directory_owner.setdefault("/".join(parts[:i]), owner)
    for path, owner in owner_of.items():
        if path in directory_owner:
            raise LayerInputError(
                f"Two inputs of {what} land on the same path {where}/{path}: {owner} puts a file "
                f"there and {directory_owner[path]} a directory. Move one with `relocated_files` "
                "or put them in different layers."
            )
    return owner_of
