"""Hints for Entra sign-in failures at ``connect``.

Sources: Microsoft Learn, "Microsoft Entra authentication and authorization error codes"
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes) for the AADSTS codes
and their messages; "Handle errors and exceptions in MSAL.NET"
(https://learn.microsoft.com/entra/msal/dotnet/advanced/exceptions/msal-error-handling) for
``MsalUiRequiredException``.
"""

from __future__ import annotations

import pytest

from workers.runbook.hints import hint_for
from workers.runbook.steps import Step

CONNECT = Step("connect", "Sign in", "x", credentials=("entra_admin",))


@pytest.mark.parametrize(
    ("error", "expect"),
    [
        (
            "AADSTS50053: The account is locked, you've tried to sign in too many times with an "
            "incorrect user ID or password.",
            "is locked",
        ),
        ("AADSTS50057: The user account is disabled.", "is disabled"),
        ("AADSTS53003: Access has been blocked by Conditional Access policies.", "policy blocks"),
        ("AADSTS50055: The password is expired.", "has expired"),
        (
            "Microsoft.Identity.Client.MsalUiRequiredException: No account or login hint was "
            "passed to the AcquireTokenSilent call.",
            "needs interaction",
        ),
    ],
)
def test_signin_errors_have_hints_naming_the_secret(error: str, expect: str) -> None:
    hint = hint_for(error, CONNECT)
    assert hint is not None and expect in hint, hint
    assert "secret 'entra_admin'" in hint


def test_mfa_wrapped_in_msal_stays_the_mfa_hint() -> None:
    hint = hint_for("MsalUiRequiredException: AADSTS50076: multi-factor authentication", CONNECT)
    assert hint is not None and "MFA" in hint
