from __future__ import annotations

import pytest
from pants.core.goals import package as package_goal
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.core.target_types import (
    FilesGeneratorTarget,
    FileTarget,
    GenerateFileSourceRequest,
    LockfilesGeneratorTarget,
    LockfileTarget,
    RelocatedFiles,
    RelocateFilesViaCodegenRequest,
    hydrate_file_source,
    relocate_files,
)
from pants.core.util_rules import adhoc_binaries, source_files
from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import QueryRule
from pants.engine.target import GenerateSourcesRequest
from pants.engine.unions import UnionRule
from pants.source import source_root
from pants.testutil.rule_runner import RuleRunner

from pants_oci import register
from pants_oci.goals.package import OciImageFieldSet
from pants_oci.goals.publish import PublishOciImageRequest
from pants_oci.util_rules.settings import OciBuildSettings


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *register.rules(),
            *source_files.rules(),
            *source_root.rules(),
            *package_goal.rules(),
            *adhoc_binaries.rules(),
            hydrate_file_source,
            relocate_files,
            UnionRule(GenerateSourcesRequest, GenerateFileSourceRequest),
            UnionRule(GenerateSourcesRequest, RelocateFilesViaCodegenRequest),
            QueryRule(BuiltPackage, [OciImageFieldSet]),
            QueryRule(PublishProcesses, [PublishOciImageRequest]),
            QueryRule(OciBuildSettings, []),
            QueryRule(DigestContents, [Digest]),
        ],
        # Pants core registers `_lockfile(s)`; the base-image lockfile is one (synthetic).
        target_types=[
            *register.target_types(),
            FileTarget,
            FilesGeneratorTarget,
            RelocatedFiles,
            LockfilesGeneratorTarget,
            LockfileTarget,
        ],
    )
    runner.set_options([], env_inherit={"PATH", "HOME"})
    return runner
