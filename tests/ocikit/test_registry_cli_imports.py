"""What `python -m ocikit push` imports: the registry package loads its names on first use."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_push_imports_only_what_a_push_needs():
    """Each `python -m ocikit push` compiles what it imports afresh (Pants runs it with
    PYTHONDONTWRITEBYTECODE): the package's names load on first use, not pull's modules."""
    code = (
        "import json, sys, ocikit.cli, ocikit.registry.cli, ocikit.registry.push, ocikit.registry as r; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ocikit')))); "
        "print(sorted(r.__all__) == sorted(r._MODULE_OF)); "
        "from ocikit.registry import pull_image, RetryPolicy, StderrProgress; print(pull_image.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules, exports_match, pull_module = result.stdout.splitlines()
    assert not {"ocikit.registry.pull", "ocikit.registry.inspect", "ocikit.image"} & set(json.loads(modules))
    assert exports_match == "True" and pull_module == "ocikit.registry.pull"
