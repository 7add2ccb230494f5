"""pants-oci: OCI images from Pants, with no Docker daemon (the `pants_oci` backend)."""

# The distribution's version: pyproject.toml reads it from here.
__version__ = "0.1.0"
