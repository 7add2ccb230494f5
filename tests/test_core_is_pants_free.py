"""The core (src/python/ocikit) must never import pants: the arrow points plugin -> core only."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "python" / "ocikit"


def test_core_never_imports_pants():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "pants"]
    assert list(CORE.rglob("*.py")), "the core package was not found"
    assert offenders == []


def _core_imports() -> dict:
    """module -> the ocikit modules it imports (at any level, type-only imports included)."""
    graph = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = {t for t in targets if t.split(".")[0] == "ocikit" and t != module}
    return graph


def test_the_core_has_no_import_cycle():
    graph = _core_imports()
    modules = set(graph)

    def resolve(name: str) -> str:  # `from ocikit.registry import x` counts as the package
        return name if name in modules else name.rsplit(".", 1)[0]

    edges = {m: {resolve(t) for t in ts} - {m} for m, ts in graph.items()}
    state: dict = {}
    cycles = []

    def visit(module: str, stack: list) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target] if target in stack else [module, target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    # A package's __init__ re-exporting its modules is not a cycle of ours to break.
    cycles = [c for c in cycles if not any(m in ("ocikit", "ocikit.registry") for m in c)]
    assert cycles == []


def test_every_error_of_the_core_has_one_root():
    import importlib
    import pkgutil

    import ocikit
    from ocikit.errors import OcikitError

    loose = []
    for info in pkgutil.walk_packages(ocikit.__path__, "ocikit."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and value.__module__ == module.__name__
                and not issubclass(value, OcikitError)
            ):
                loose.append(f"{module.__name__}.{value.__name__}")
    assert loose == []
