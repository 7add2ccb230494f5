"""`python -m ocikit sbom-document`: an image's facts and its layers' file lists -> the same
documents the writers give for the whole facts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_sbom_spdx import _file, multiarch_facts

from ocikit.cli import main as cli_main
from ocikit.contracts.sbom import SbomDocumentCommand, SbomFileList, SbomImage, SbomPackageFacts
from ocikit.sbom.document import document_request, file_list, merged_files, request_facts
from ocikit.sbom.formats import FORMATS
from ocikit.sbom.model import ImageRef, SbomFile, SbomPackage


def _write(root: Path, path: str, data: bytes) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)


def test_the_facts_cross_the_request_and_its_lists_unchanged() -> None:
    facts = multiarch_facts()
    facts = dataclasses.replace(facts, files=tuple(sorted(facts.files)))  # as the model keeps them
    first, second = facts.files[: len(facts.files) // 2], facts.files[len(facts.files) // 2 :]
    request = document_request(dataclasses.replace(facts, files=()), ["a.json", "b.json"], {"spdx": "o.json"})
    again = type(request).loads(request.dumps())
    assert request_facts(again, [file_list(second), file_list(first)]) == facts


def test_a_later_layer_wins_a_path_both_hold() -> None:
    lower = SbomFile("/app/x", "a" * 64, "1" * 40, "app:lower")
    upper = SbomFile("/app/x", "b" * 64, "2" * 40, "app:upper")
    other = SbomFile("/app/a", "c" * 64, "3" * 40, "app:lower")
    assert merged_files([file_list([lower, other]), file_list([upper])]) == (other, upper)
    assert merged_files([file_list([upper]), file_list([other, lower])]) == (other, lower)


def test_the_worker_writes_what_the_writers_write(tmp_path: Path) -> None:
    facts = dataclasses.replace(multiarch_facts(), files=(*multiarch_facts().files, _file("/srv/é x.txt", "srv:f")))
    outputs = {name: f"out/team/web{f.suffix}" for name, f in FORMATS.items()}
    lists = ["lists/0/files.json", "lists/1/files.json"]
    request = document_request(dataclasses.replace(facts, files=()), lists, outputs)
    _write(tmp_path, lists[0], file_list(facts.files[:2]).dumps())
    _write(tmp_path, lists[1], file_list(facts.files[2:]).dumps())
    _write(tmp_path, "request.json", request.dumps())
    argv = SbomDocumentCommand(request="request.json").to_argv()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert cli_main(list(argv)) == 0
    for name, path in outputs.items():
        assert (tmp_path / path).read_bytes() == FORMATS[name].write(facts), name


def test_a_request_refuses_files_given_twice_and_unknown_formats() -> None:
    facts = multiarch_facts()
    with pytest.raises(ValueError, match="file lists"):
        document_request(facts, [], {"spdx": "o.json"})
    with pytest.raises(ValueError, match="unknown SBOM format.*swid: expected cyclonedx, spdx"):
        document_request(dataclasses.replace(facts, files=()), [], {"swid": "o.json"})


def test_a_file_list_is_sorted_by_path_whatever_the_order_given() -> None:
    files = [_file("/b"), _file("/a")]
    assert file_list(files) == file_list(reversed(files))
    assert [f[0] for f in SbomFileList.loads(file_list(files).dumps()).files] == ["/a", "/b"]


def test_the_contracts_hold_the_models_fields_in_order() -> None:
    """The conversions go field by field, in order: a field added to one side only fails here."""
    pairs = [(ImageRef, SbomImage), (SbomPackage, SbomPackageFacts)]
    for model, contract in pairs:
        names = [f.name for f in dataclasses.fields(model)]
        assert [f.name for f in dataclasses.fields(contract)] == [
            "package_version" if n == "version" else n for n in names
        ], contract
