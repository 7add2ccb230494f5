"""ocikit: the Pants-independent core of the OCI image plugin.

Values (digests, references, image configs, manifests), deterministic layers, OCI image
layouts and the registry client. Standard library, requests and PyYAML only: never imports
pants (tests/test_core_is_pants_free.py keeps it so).
"""
