"""The local Python an `oci_python_app`'s requirements are resolved, installed and compiled for:
one of the image's Python version (the constraints name one minor version), found on Pants'
interpreter search path and linked into the named cache by its version (`.ocikit/cpython3.11`),
so the processes that use it name only the link.

Pants' own lookup (`PythonExecutable` from the constraints) runs the pex CLI, which starts
three interpreters and builds a pex to learn one path: seconds, paid on every pantsd start
before the requirements can be resolved (it is cached per run only). The search here asks the
candidates directly, most specific name first (`python3.11`), in the search path's order, in
the process that makes the link (docs/benchmarks-python.md measures both). It takes the first
CPython 3.11 it meets where pex takes the newest patch release: both run the same wheels and
write the same bytecode. The resolve is then told that Python's exact version
(`CPython==3.11.7`) and its directory as the only place to look (trees.py), instead of being
handed its path: Pants refuses a pex request with both a path and constraints, and fills in a
resolve's constraints itself. Where the search finds none, Pants' lookup decides (it also knows
interpreters the names do not reach); in a docker or remote environment, where there is no
named cache to link into, Pants' lookup always does.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_oci.util_rules.worker_runner import (
    FindInterpreterRequest,
    FoundInterpreter,
    LinkedInterpreter,
    LinkInterpreterRequest,
    OcikitRunner,
)


@dataclass(frozen=True)
class AppPythonRequest:
    interpreter_constraints: InterpreterConstraints  # one minor version
    implementation: str  # sys.implementation.name: "cpython"
    minor_version: str  # "3.11"

    @property
    def name(self) -> str:
        return f"{self.implementation}{self.minor_version}"


@dataclass(frozen=True)
class AppPython:
    executable: PythonExecutable  # its absolute path
    linked: LinkedInterpreter | None  # its link in the named cache; None where processes run elsewhere
    version: str | None = None  # its full version ("3.11.7") when the search found it

    def exact_constraints(self, request: AppPythonRequest) -> InterpreterConstraints | None:
        """Constraints only this Python's version meets (`CPython==3.11.7`), when it is known."""
        if self.version is None:
            return None
        project = {"cpython": "CPython", "pypy": "PyPy"}.get(request.implementation, request.implementation)
        return InterpreterConstraints([f"{project}=={self.version}"])


def candidate_names(request: AppPythonRequest, bootstrap_names: tuple[str, ...]) -> tuple[str, ...]:
    """The file names to look for, most specific first: `python3.11`, then Pants'
    `[python-bootstrap].names` (`python3`, `python`) that are plain names, not `<PYENV>`-style
    placeholders (those are expanded into the search path itself)."""
    major = request.minor_version.split(".", 1)[0]
    program = "pypy" if request.implementation == "pypy" else "python"
    names = [f"{program}{request.minor_version}", f"{program}{major}"]
    names.extend(n for n in bootstrap_names if not n.startswith("<"))
    return tuple(dict.fromkeys(names))


@rule(desc="Find the Python of a Python app", level=LogLevel.DEBUG)
async def find_app_python(request: AppPythonRequest, runner: OcikitRunner, bootstrap: PythonBootstrap) -> AppPython:
    if runner.shipped:
        return AppPython(await Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints), None)
    found = await Get(
        FoundInterpreter,
        FindInterpreterRequest(
            request.name,
            request.implementation,
            request.minor_version,
            tuple(bootstrap.interpreter_search_paths),
            candidate_names(request, tuple(bootstrap.interpreter_names)),
        ),
    )
    if found.path is not None:
        executable = PythonExecutable(found.path, found.fingerprint)
        return AppPython(executable, LinkedInterpreter(request.name), found.version)
    executable = await Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints)
    linked = await Get(LinkedInterpreter, LinkInterpreterRequest(request.name, executable.path))
    return AppPython(executable, linked)


def rules():
    return collect_rules()
