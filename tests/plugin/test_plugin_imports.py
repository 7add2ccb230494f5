"""What Pants imports of ours must not need the workers' dependencies: a plugin installed into a
Pants environment without `requests` or `zstandard` still loads, and then names what is missing
(tests/adoption). Importing any of them from a plugin module breaks that, so every plugin module
is imported here in a fresh interpreter and the workers' packages must stay out."""

from __future__ import annotations

import subprocess
import sys

WORKER_ONLY = ("requests", "urllib3", "zstandard", "charset_normalizer", "idna", "certifi")

SCRIPT = """
import importlib, pkgutil, sys
import pants_oci
for module in pkgutil.walk_packages(pants_oci.__path__, "pants_oci."):
    importlib.import_module(module.name)
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {names!r})))
"""


def test_no_plugin_module_imports_what_only_the_workers_need() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(names=set(WORKER_ONLY))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [], f"plugin modules import worker-only packages: {out.stdout}"
