"""Property tests of the reference parser: what it prints, it parses back to the same value."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocikit.reference import InvalidReference, parse_reference

component = st.from_regex(r"\A[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+){0,2}\Z")
# Short enough components that registry/repository stays within the 255 characters a name may have.
repository = st.lists(component.filter(lambda c: len(c) <= 48), min_size=2, max_size=4).map("/".join)
registry = st.one_of(
    st.just("127.0.0.1:5000"),
    st.just("registry.example.com"),
    st.just("[::1]:5000"),
    # A DNS label neither starts nor ends with '-' (the distribution reference grammar).
    st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,9}[a-z0-9])?\.[a-z]{2,5}(?::[1-9][0-9]{0,3})?\Z"),
)
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
digest = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)


@pytest.mark.slow  # hypothesis, 300 examples of generated regex text
@settings(max_examples=300, deadline=None)
@given(registry, repository, st.none() | tag, st.none() | digest)
def test_parse_format_round_trip(reg: str, repo: str, t, d) -> None:
    text = f"{reg}/{repo}" + (f":{t}" if t else "") + (f"@{d}" if d else "")
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (reg, repo, t, d)
    assert str(ref) == text
    assert parse_reference(str(ref)) == ref


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable, max_size=60))
def test_any_text_parses_or_fails_with_a_clear_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReference as e:
        assert repr(text) in str(e) or "digest" in str(e) or "tag" in str(e), str(e)
    else:
        assert parse_reference(str(ref)) == ref
