"""What crosses the boundary between the Pants plugin and ocikit's worker processes, defined
once and imported by both sides: one module per command.

  layer     LayerCommand, LayerSpec (its --spec file), LayerDescriptor (the --descriptor it writes)
  pull      PullCommand
  lockfile  LockCommand, TrackedImages (its --tracked file): `python -m ocikit lock`
  bytecode  BytecodeCommand
  requirement_layers  RequirementLayersCommand, RequirementLayersSpec (its --spec file, with
            a RequirementsInstall), RequirementLayersResult (the result.json it writes, beside a
            LayerDescriptor per layer); RequirementsMetadataCommand
  run       RunCommand
  verify    VerifyCommand, VerifyPlan (its --plan file), VerifyResult (what it prints)
  debian    DebLockCommand, DebLockRequest (its --request file), DebFetchCommand,
            DebLayerCommand, DebLayerSpec (its --spec file; it writes a LayerDescriptor)
  sbom      SbomDpkgCommand, DpkgScanRequest, DpkgLayerScan; SbomSha1Command, FileSha1s;
            SbomDocumentCommand, SbomDocumentRequest (its --request file), SbomFileList

JSON files are `ocikit.contract.Contract`s, command lines `ocikit.command_line.CommandLine`s.
These modules import neither the registry client nor anything outside the standard library:
the plugin imports them inside Pants, where the workers' packages may be missing.
"""
