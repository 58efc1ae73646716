"""A WS-Management fault reaches the operator in words, not as pywinrm's dict repr."""

from __future__ import annotations

from winrm.exceptions import WSManFaultError

from workers.runbook.session import fault_text


def test_fault_in_words_without_a_python_repr() -> None:
    exc = WSManFaultError(
        500,
        "Bad HTTP response returned from server. Code 500",
        "<s:Envelope/>",
        "The WS-Management service cannot process the request because the request contained\n"
        " invalid selectors for the resource. ",
        fault_code="s:Sender",
        fault_subcode="w:InvalidSelectors",
        wsman_fault_code=2150858843,
    )
    assert "{'" in str(exc)  # what pywinrm itself says
    text = fault_text(exc)
    assert "{'" not in text and "': '" not in text
    assert text == (
        "WSManFaultError: The WS-Management service cannot process the request because the "
        "request contained invalid selectors for the resource. (HTTP 500, WS-Management code "
        "2150858843, w:InvalidSelectors)"
    )
