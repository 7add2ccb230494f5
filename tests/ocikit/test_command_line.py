"""The command-line base: what the plugin writes is what the worker's parser reads back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional, Tuple

import pytest

from ocikit.command_line import CommandLine, argument, option, remainder


@dataclass(frozen=True)
class _Copy(CommandLine):
    COMMAND = "copy"

    source: str = argument("what to copy", metavar="SRC")
    out: str = option("--out", "where to")
    jobs: int = option("--jobs", "at a time", default=4)
    label: Optional[str] = option("--label", "a label", default=None)
    tags: Tuple[str, ...] = option("--tag", "repeatable", default=())
    extra: Tuple[str, ...] = option("--extra", "values that may start with '-'", joined=True, default=())
    dry_run: bool = option("--dry-run", "a switch", default=False)


@dataclass(frozen=True)
class _Exec(CommandLine):
    COMMAND = "exec"

    image: str = option("--image", "what to run")
    rest: Tuple[str, ...] = remainder("for the child")


def test_argv_in_field_order_leaving_out_defaults():
    assert _Copy("a b", "o").to_argv() == ("copy", "a b", "--out", "o")
    full = _Copy("a", "o", 2, "x", ("t1", "t2"), ("--ulimit", "n=1"), True)
    assert full.to_argv() == (
        "copy",
        "a",
        "--out",
        "o",
        "--jobs",
        "2",
        "--label",
        "x",
        "--tag",
        "t1",
        "--tag",
        "t2",
        "--extra=--ulimit",
        "--extra=n=1",
        "--dry-run",
    )
    assert _Exec("i").to_argv() == ("exec", "--image", "i", "--")
    assert _Exec("i", ("-v", "--", "z")).to_argv() == ("exec", "--image", "i", "--", "-v", "--", "z")


@pytest.mark.parametrize(
    "value",
    [
        _Copy("a", "o"),
        _Copy("-", "o", 0, "", ("t",), ("-x",), True),
        _Copy("a", "o", 2, "x", ("t1", "t2"), ("--ulimit", "n=1"), True),
        _Exec("i"),
        _Exec("i", ("-v", "--", "z")),
    ],
)
def test_the_parser_reads_back_what_to_argv_writes(value):
    assert type(value).parse(value.to_argv()[1:]) == value


def test_a_workers_own_options_sit_beside_the_contract():
    parser = argparse.ArgumentParser()
    _Copy.add_arguments(parser)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(["a", "--out", "o", "--quiet"])
    assert args.quiet and _Copy.from_args(args) == _Copy("a", "o")


def test_a_missing_required_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        _Copy.parse(["a"])
    assert "--out" in capsys.readouterr().err


def test_definition_errors():
    @dataclass(frozen=True)
    class Plain(CommandLine):
        COMMAND = "plain"
        plain: str = "x"

    @dataclass(frozen=True)
    class Mixed(CommandLine):
        COMMAND = "mixed"
        source: str = argument("argparse would take the options after it as the remainder")
        rest: Tuple[str, ...] = remainder("for the child")

    with pytest.raises(TypeError, match="Plain.plain: declare it"):
        Plain().to_argv()
    with pytest.raises(TypeError, match="Mixed: a remainder"):
        Mixed("a").to_argv()
    with pytest.raises(ValueError, match="--tag .*'-t'.* needs option\\(joined=True\\)"):
        _Copy("a", "o", tags=("-t",)).to_argv()
