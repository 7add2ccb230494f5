"""Where a layer's inputs land, checked before any byte is written: pure functions."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence


class LayerInputError(Exception):
    """A layer whose inputs cannot be built (no inputs, two inputs on one path)."""


ACCEPTED_INPUTS = (
    "`files` and `relocated_files` (at their path from the build root), `resources` and "
    "`python_sources` (stripped of their source root, as in a pex), and any target Pants can "
    "package (its built output)"
)


def strip_source_root(path: str, root: str) -> str:
    """`src/python/app/x.py` with root `src/python` -> `app/x.py`; root `.` keeps the path."""
    if root in ("", "."):
        return path
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not under the source root {root}")
    return path[len(prefix) :]


def describe_stripped(owner: Any, path: str, root: str) -> str:
    """How a conflict names an input that was stripped of its source root."""
    if root in ("", "."):
        return str(owner)
    return f"{owner} (from {path}, source root {root})"


def no_source_root_error(what: str, owner: Any, paths: Sequence[str]) -> LayerInputError:
    shown = ", ".join(sorted(paths)[:3]) + (" ..." if len(paths) > 3 else "")
    return LayerInputError(
        f"{what} cannot place {owner}: its files ({shown}) are under no source root, and "
        "`python_sources` and `resources` land at their path below their source root, as in a "
        'pex. Add a pattern to `[source].root_patterns` (e.g. `root_patterns = ["/src/python"]` '
        'or `"/"` for the build root) or a `[source].marker_filenames` file, or depend on '
        "`files` instead, which keep their path from the build root."
    )


def unused_dependencies(direct: Sequence[tuple[Any, str]], contributed: Mapping[Any, bool]) -> list[tuple[Any, str]]:
    """The direct dependencies (address, alias) whose whole closure put nothing in the layer."""
    return [(address, alias) for address, alias in direct if not contributed.get(address)]


def unused_dependency_error(what: str, unused: Sequence[tuple[Any, str]]) -> LayerInputError:
    listed = ", ".join(f"{address} (a `{alias}` target)" for address, alias in unused)
    return LayerInputError(
        f"{what} lists {listed} in its `dependencies`, but it puts no file in the layer, and a "
        f"layer never drops an input silently. A layer takes {ACCEPTED_INPUTS}. For a Python "
        "app with third-party requirements, use an `oci_python_app` of its `pex_binary`; "
        "otherwise remove the dependency."
    )


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
            f"{what} has no inputs: its `dependencies` give no files. Add {ACCEPTED_INPUTS} to it, or `symlinks`."
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
