"""CycloneDX's own validator for the documents we write: cyclonedx-python-lib's strict JSON
schema check (the CycloneDX 1.5 schema it ships), run from a venv of its own made once per
machine under the tests' cache. Its dependencies (jsonschema and a dozen more) stay out of the
launcher's venv, which Pants itself runs from."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from python_tools import CACHE, _locked

REQUIREMENT = "cyclonedx-python-lib[json-validation]==7.6.2"
_VALIDATE = """\
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
validator = JsonStrictValidator(SchemaVersion.V1_5)
errors = [(path, validator.validate_str(open(path, encoding="utf-8").read())) for path in sys.argv[1:]]
errors = [f"{path}: {error}" for path, error in errors if error]
print("\\n".join(errors))
sys.exit(1 if errors else 0)
"""


def _python() -> Path:
    home = CACHE / "cyclonedx-validator"
    python = home / "bin" / "python"
    with _locked("cyclonedx-validator"):
        ready = home / "ready"
        if not ready.is_file() or ready.read_text() != REQUIREMENT + "\n":
            venv.EnvBuilder(with_pip=True, clear=True).create(home)
            subprocess.run([str(python), "-m", "pip", "install", "-q", REQUIREMENT], check=True, capture_output=True)
            ready.write_text(REQUIREMENT + "\n")
    return python


def cyclonedx_errors(*documents: Path) -> str:
    """Empty when the CycloneDX 1.5 schema accepts every document; else what it says is wrong."""
    result = subprocess.run([str(_python()), "-c", _VALIDATE, *map(str, documents)], capture_output=True, text=True)
    return "" if result.returncode == 0 else (result.stdout + result.stderr).strip() or "invalid"


if __name__ == "__main__":
    problems = cyclonedx_errors(*map(Path, sys.argv[1:]))
    print(problems or "valid")
    sys.exit(1 if problems else 0)
