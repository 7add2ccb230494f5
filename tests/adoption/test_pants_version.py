"""The backend refuses to load on a Pants version it was not made for, with one clear error."""

from __future__ import annotations

import importlib
import sys

import pytest
from packaging.version import Version

from pants_oci import __version__
from pants_oci.pants_version import SUPPORTED_PANTS, UnsupportedPantsVersion, check_pants_version


@pytest.mark.parametrize("version", ["2.17.0", "2.17.1", "2.17.2", "2.17.3rc1"])
def test_every_2_17_release_is_supported(version):
    check_pants_version(version)


@pytest.mark.parametrize("version", ["2.16.1", "2.18.0", "2.18.0.dev3", "3.0.0", "not-a-version"])
def test_other_versions_get_one_error_naming_the_supported_range(version):
    with pytest.raises(UnsupportedPantsVersion) as info:
        check_pants_version(version)
    assert str(info.value).startswith(
        f"pants-oci {__version__} supports Pants >=2.17.0, <2.18, and this is Pants {version}."
    )
    assert 'pants_version = "2.17.1"' in str(info.value)


def test_the_installed_pants_is_supported():
    from pants.version import PANTS_SEMVER

    assert SUPPORTED_PANTS.contains(str(PANTS_SEMVER))


@pytest.mark.parametrize("backend", ["pants_oci.register", "pants_oci.python.register"])
def test_loading_the_backend_on_another_pants_raises_it(monkeypatch, backend):
    import pants.version

    monkeypatch.setattr(pants.version, "PANTS_SEMVER", Version("2.18.0"))
    monkeypatch.delitem(sys.modules, backend, raising=False)
    with pytest.raises(UnsupportedPantsVersion, match="this is Pants 2.18.0"):
        importlib.import_module(backend)
    monkeypatch.undo()
    sys.modules.pop(backend, None)
    importlib.import_module(backend)
