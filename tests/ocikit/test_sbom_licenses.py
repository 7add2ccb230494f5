"""Declared licenses from Python METADATA -> a valid SPDX expression, or NOASSERTION."""

from __future__ import annotations

import pytest

from ocikit.sbom.licenses import declared_license, normalize_expression


@pytest.mark.parametrize(
    "text, expected",
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("apache-2.0 OR mit", "Apache-2.0 OR MIT"),
        ("(MIT or BSD-3-Clause) and Apache-2.0", "(MIT OR BSD-3-Clause) AND Apache-2.0"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ("BSD", None),
        ("MIT OR", None),
        ("(MIT", None),
        ("MIT Or Apache-2.0", None),  # operators are all upper or all lower case
        ("GPL-2.0", None),  # deprecated: not an expression a validator accepts
        ("LicenseRef-custom", None),  # would need the license text in the document
        ("", None),
    ],
)
def test_expressions(text: str, expected: str | None) -> None:
    assert normalize_expression(text) == expected


def test_the_metadata_fields_in_pep_639_order() -> None:
    assert declared_license("Apache-2.0", "MIT", ["License :: OSI Approved :: MIT License"]) == ("Apache-2.0", "")
    assert declared_license("", "Apache License, Version 2.0") == ("Apache-2.0", "")
    assert declared_license("", "GPL-2.0") == ("GPL-2.0-only", "")
    # A whole license text in `License`: the classifier names it.
    text = "Copyright (c) 2020 Someone\n\nPermission is hereby granted, free of charge, ..."
    assert declared_license("", text, ["License :: OSI Approved :: MIT License"]) == ("MIT", "")
    assert declared_license("", "", ["License :: OSI Approved :: MIT No Attribution License (MIT-0)"]) == ("MIT-0", "")


def test_what_cannot_be_named_is_noassertion_with_what_was_declared() -> None:
    expression, comment = declared_license("", "BSD", ["License :: OSI Approved :: BSD License"])
    assert expression == "NOASSERTION"
    assert comment == (
        "Declared, not an SPDX expression: License: BSD; Classifier: License :: OSI Approved :: BSD License"
    )
    # Two classifiers say neither "and" nor "or".
    two = ["License :: OSI Approved :: MIT License", "License :: OSI Approved :: ISC License (ISCL)"]
    assert declared_license("", "", two)[0] == "NOASSERTION"
    assert declared_license() == ("NOASSERTION", "The distribution declares no license.")
    assert declared_license("", "Public Domain")[0] == "NOASSERTION"
    long_text = "Some license\n" + "x" * 5000
    assert len(declared_license("", long_text)[1]) < 300
