"""A customer's fields as Brevo takes them: the phone, or why it is left out."""

from __future__ import annotations

import pytest

from brevo_sync.normalize import normalize_phone, phone_problem


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+33 6 12 34 56 78", None, "+33612345678"),
    ("0033612345678", None, "+33612345678"),
    ("33612345678", None, "+33612345678"),       # Brevo's "country code, no plus" form
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("(020) 7946-0958", "GB", "+442079460958"),
    ("", None, None),
    (None, None, None),
])
def test_a_phone_brevo_takes_comes_out_in_e164(raw: str | None, region: str | None,
                                               expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected
    assert phone_problem(raw, region) is None


@pytest.mark.parametrize(("raw", "region", "hint"), [
    ("+1 555 0100", None, False),
    ("12-34", None, True),
    ("garbage-phone", None, True),
    ("06 12 34 56 78", None, True),               # national, and no region to read it in
    ("06 12", "FR", False),
])
def test_a_phone_brevo_would_refuse_is_left_out_with_the_reason(
        raw: str, region: str | None, hint: bool) -> None:
    assert normalize_phone(raw, region) is None
    problem = phone_problem(raw, region)
    assert problem is not None and f"{raw!r} left out: not a valid phone number" in problem
    assert ("PHONE_DEFAULT_REGION" in problem) is hint
