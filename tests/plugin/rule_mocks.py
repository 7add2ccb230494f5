"""A rule test's way to stop a rule at the process it asks for: run it with
`MockGet(ProcessResult, (Process,), stop_at)` inside `pytest.raises(Ran)`, then check
`raised.value.args[0]`, the Process the rule built."""

from __future__ import annotations

from pants.engine.process import Process, ProcessResult


class Ran(Exception):
    """Stops a rule at the process it asks for: the process is what the test checks."""


def stop_at(process: Process) -> ProcessResult:
    raise Ran(process)
