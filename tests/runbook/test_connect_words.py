"""A WinRM connection failure is said in words (issue 14, point 11): "cannot connect to
SYNC01:5985: connection refused", never the urllib3 repr requests wraps it in."""

from __future__ import annotations

import socket

import pytest

from workers.domain.config import HostConfig
from workers.domain.secrets import Credential
from workers.metrics import winrm_error_kind
from workers.runbook.session import RunbookSession, SessionLost, connection_failure


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening, then closed: nothing answers there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_said_in_words() -> None:
    port = _closed_port()
    host = HostConfig(name="SYNC01", address="127.0.0.1", port=port)
    with pytest.raises(SessionLost) as caught:
        RunbookSession(host, Credential("CONTOSO\\svc-cloudsync", "Pw-Never-Shown-1"))
    message = str(caught.value)
    assert message == f"SYNC01: cannot connect to SYNC01:{port}: connection refused"
    assert "urllib3" not in message and "0x" not in message and "Pw-Never" not in message
    assert winrm_error_kind(caught.value) == "connection"  # the metric's kind is unchanged
    unresolved = SessionLost(
        "SYNC01: cannot connect to SYNC01:5985: the name does not resolve", may_have_started=False
    )
    assert winrm_error_kind(unresolved) == "connection"


def test_a_name_that_does_not_resolve_and_other_errors() -> None:
    assert connection_failure(socket.gaierror(-2, "Name or service not known")) == (
        "the name does not resolve"
    )
    assert connection_failure(TimeoutError("timed out")) == "no answer (timed out)"
    assert connection_failure(ValueError("not a connection problem")) is None
