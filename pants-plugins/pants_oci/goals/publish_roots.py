"""The one place that reads the command line of a `pants publish` from Pants' internal options.

Pants 2.17 gives a rule below the `PublishRequest` union neither the run's `Specs` nor the
client's working directory. The images of the command line are guessed here from the options
(`_Options`, internal to Pants) and `$PWD`, which a program that starts Pants without a shell
may leave stale: the guess only groups images into one check and one push (a batch), and
never decides what is pushed (see publish_run.py). `--changed-*` gives no guess.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from pants.base.build_root import BuildRoot
from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.core.goals.publish import PublishFieldSet
from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.internals.options_parsing import _Options
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import NoApplicableTargetsBehavior, TargetRootsToFieldSets, TargetRootsToFieldSetsRequest
from pants.option.global_options import GlobalOptions
from pants.util.logging import LogLevel
from pants.vcs.changed import ChangedOptions

from pants_oci.image_fields import OciImageRegistriesField

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OciPublishBatchRequest:
    pass


@dataclass(frozen=True)
class OciPublishBatch:
    """The `oci_image`s the command line seems to name; None when they cannot be guessed."""

    addresses: Optional[tuple[Address, ...]]

    def batch_of(self, address: Address) -> tuple[Address, ...]:
        """The images checked and pushed together with `address`: the guess, when it holds it."""
        return self.addresses if self.addresses and address in self.addresses else (address,)


def command_line_specs(options: _Options) -> Optional[tuple[str, ...]]:
    """The run's spec arguments, or None with `--changed-*` (their targets come from git)."""
    if ChangedOptions.from_options(options.options.for_scope("changed")).provided:
        return None
    return tuple(options.options.specs)


def working_directory_guess(pwd: Optional[str], build_root: str) -> str:
    """`$PWD` when it lies inside the build root, else the build root."""
    if pwd:
        real = os.path.realpath(pwd)
        root = os.path.realpath(build_root)
        if real == root or real.startswith(root + os.sep):
            return real
    return build_root


@rule(desc="Guess the OCI images this publish names", level=LogLevel.DEBUG)
async def guess_publish_batch(
    _: OciPublishBatchRequest, options: _Options, global_options: GlobalOptions, build_root: BuildRoot
) -> OciPublishBatch:
    spec_args = command_line_specs(options)
    if spec_args is None:
        return OciPublishBatch(None)
    pwd = (await Get(EnvironmentVars, EnvironmentVarsRequest(["PWD"]))).get("PWD")
    try:
        specs = SpecsParser(
            root_dir=build_root.path, working_dir=working_directory_guess(pwd, build_root.path)
        ).parse_specs(
            spec_args, description_of_origin="CLI arguments", unmatched_glob_behavior=global_options.unmatched_cli_globs
        )
        roots = await Get(
            TargetRootsToFieldSets,
            {
                TargetRootsToFieldSetsRequest(
                    PublishFieldSet,
                    goal_description="",
                    no_applicable_targets_behavior=NoApplicableTargetsBehavior.ignore,
                ): TargetRootsToFieldSetsRequest,
                specs: Specs,
            },
        )
    except Exception as e:  # noqa: BLE001 - a stale $PWD can name what does not exist: no batch
        logger.debug("no publish batch: the command line did not resolve from %s: %s", pwd, e)
        return OciPublishBatch(None)
    return OciPublishBatch(tuple(sorted(t.address for t in roots.targets if t.has_field(OciImageRegistriesField))))


def rules():
    return collect_rules()
