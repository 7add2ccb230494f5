"""The SBOM `package` writes beside each layout: its facts gathered from the build graph."""
