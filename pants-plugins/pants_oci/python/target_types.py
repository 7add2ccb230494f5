"""The `oci_python_app` target: a `pex_binary` as image layers (backend `pants_oci.python`)."""

from __future__ import annotations

from typing import Optional

from pants.engine.addresses import Address
from pants.engine.target import COMMON_TARGET_FIELDS, IntField, StringField, Target
from pants.util.strutil import help_text

from pants_oci.field_validation import FieldName, invalid_value, validate_image_path
from pants_oci.layer_fields import OciLayerOwnerField


class OciPythonAppBinaryField(StringField):
    alias = "binary"
    value: str
    required = True
    help = help_text(
        """
        The address of the app's `pex_binary`. Its `entry_point`, `args`, `env`,
        `inherit_path`, `include_requirements`, `include_sources`, resolve and
        `interpreter_constraints` decide what the image holds and runs; its `layout`,
        `execution_mode`, `shebang` and the other settings of a pex file do not apply.

        Example: `binary="src/python/greeter:bin"`
        """
    )


class OciPythonAppDestinationField(StringField):
    alias = "destination"
    value: str
    default = "/app"
    help = help_text(
        """
        The absolute directory in the image that holds the app: `__main__.py` (the launcher
        the image's entrypoint runs), `lib/` (the installed third-party requirements) and
        `src/` (the app's sources and resources, below their source roots).

        Example: `destination="/srv/greeter"`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        validated = validate_image_path(FieldName(cls.alias, address), value)
        if validated == "/":
            raise invalid_value(
                FieldName(cls.alias, address), value, "the app needs a directory of its own, e.g. '/app'"
            )
        return validated


class OciPythonAppPythonField(StringField):
    alias = "python"
    value: str
    default = "python3"
    help = help_text(
        """
        The base image's Python, as the image's entrypoint names it: a command looked up on
        the image's `PATH`, or an absolute path. Its version must match the `pex_binary`'s
        `interpreter_constraints`; when the base declares it (`PYTHON_VERSION` in its config,
        as the official Python images do) a mismatch fails `package`, otherwise the launcher
        stops at start-up with a message naming both.

        Example: `python="/usr/local/bin/python3.11"`
        """
    )


class OciPythonAppCompileBytecodeField(StringField):
    alias = "compile_bytecode"
    value: str
    default = "requirements"
    valid_choices = ("requirements", "all", "none")
    help = help_text(
        """
        What to compile to bytecode at build time, with a local interpreter of the constraints'
        Python version: `requirements` (the default), `all` (the app's code too) or `none`. A
        container compiles every module it imports without bytecode on each start (what it
        compiles vanishes with it); the requirements are most of that and are compiled once
        per resolve, while compiling the code runs once more on every edit. The `.pyc` files
        are hash-based and reproducible, so compiling changes no digest from machine to machine.

        Example: `compile_bytecode="all"`
        """
    )


class OciPythonAppLargeRequirementField(IntField):
    alias = "large_requirement_mib"
    value: int
    default = 10
    help = help_text(
        """
        Third-party distributions that install at least this many MiB (numpy, pandas, torch,
        ...) get an image layer each; the smaller ones share one layer. A new version of one
        large requirement then re-uploads its layer only, and runtimes pull layers in parallel.
        `0` gives every distribution a layer of its own.

        Example: `large_requirement_mib=50`
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> int:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if value < 0:
            raise invalid_value(FieldName(cls.alias, address), value, "expected 0 or more MiB")
        return value


class OciPythonAppTarget(Target):
    alias = "oci_python_app"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciPythonAppBinaryField,
        OciPythonAppDestinationField,
        OciLayerOwnerField,
        OciPythonAppPythonField,
        OciPythonAppCompileBytecodeField,
        OciPythonAppLargeRequirementField,
    )
    help = help_text(
        """
        A Python app, from its `pex_binary`, as image layers: listed in an `oci_image`'s
        `layers`, it adds its third-party requirements, installed as in a virtualenv, in
        layers that depend only on the resolved requirements (one per large distribution, one
        for the rest), then the app's own code in a small layer of its own. An edit to the app
        rebuilds and uploads the code layer only. The image runs the app with the base image's
        Python (`python`), and takes the app's entry point as its `entrypoint` unless it sets
        one.

        Needs the `pants.backend.python` and `pants_oci.python` backends.

        Example:

            oci_python_app(name="app", binary="src/python/greeter:bin")

            oci_image(
                name="greeter",
                base=":python",   # an oci_pull of an image with python3
                layers=[":app"],
            )
        """
    )
