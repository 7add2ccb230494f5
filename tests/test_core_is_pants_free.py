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
