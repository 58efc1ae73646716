"""The inventory's installer signer reaches PowerShell, so it passes a strict pattern first (and
is then quoted through the one helper like every value)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.domain.validation import ValidationError, validate_subject
from workers.runbook.powershell import quote
from workers.runbook.steps import MICROSOFT_SIGNERS


@pytest.mark.parametrize("subject", [*MICROSOFT_SIGNERS, "CN=Contoso Tools, O=Contoso, C=US"])
def test_microsofts_subjects_and_a_plain_one_are_accepted(subject: str) -> None:
    assert validate_subject(subject) == subject


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "CN=Evil'; Remove-Item C:\\ -Recurse; '",
        "CN=$(Invoke-Expression x)",
        'CN="quoted"',
        "CN=Contoso,O=NoSpace",
        "CN=Contoso\nO=Newline",
        "CN=Contoso, O=Contoso`",
        "Contoso Corporation",
    ],
)
def test_subjects_that_could_be_code_are_refused(subject: str) -> None:
    with pytest.raises(ValidationError, match="certificate subject"):
        validate_subject(subject)


@given(st.text(max_size=80))
def test_any_accepted_subject_is_inert_once_quoted(text: str) -> None:
    try:
        accepted = validate_subject(text)
    except ValidationError:
        return
    assert not set(accepted) & set("'\"`$;\r\n{}[]|<>")
    assert quote(accepted) == "'" + accepted + "'"
