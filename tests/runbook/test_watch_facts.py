"""The agent facts the fleet watch reads include the newest error events of the agent's Admin
channel (Get-WinEvent against the simulator), redacted and capped; the channel name is checked
by a strict pattern before it reaches the script."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.runbook.conftest import SimEnv
from workers.domain.redact import default_redactor
from workers.runbook.fleet import (
    AGENT_EVENT_CHANNEL,
    MAX_ERROR_EVENTS,
    event_channel,
    facts_script,
    read_fleet,
)
from workers.runbook.powershell import quote

INSTALLED = {"agent_installed": {"gmsa": "contoso\\pGMSA_1$"}}


def test_error_events_newest_first_capped(sim_env: Callable[..., SimEnv]) -> None:
    errors = [{"id": 1000 + i, "message": f"failure {i}"} for i in range(5)]
    env = sim_env([{"name": "SYNC01", **INSTALLED, "agent_errors": errors}])
    (facts,) = read_fleet(env.config, env.secrets, ["SYNC01"])
    assert facts.reachable and facts.service == "Running"
    assert len(facts.errors) == MAX_ERROR_EVENTS
    assert facts.errors[0]["id"] == 1004 and facts.errors[0]["message"] == "failure 4"
    assert facts.errors[0]["at"]  # TimeCreated, sortable form


def test_no_error_events_and_no_agent_read_as_none(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01", **INSTALLED}, {"name": "SYNC02"}])
    by_host = {f.host: f for f in read_fleet(env.config, env.secrets, ["SYNC01", "SYNC02"])}
    assert by_host["SYNC01"].errors == []  # NoMatchingEventsFound is caught
    assert by_host["SYNC02"].errors == [] and not by_host["SYNC02"].installed


def test_a_secret_in_an_event_message_is_redacted(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01", **INSTALLED}])
    secret = env.secrets.get("entra_admin").password
    default_redactor.add(secret)  # the worker's secrets provider registers what it resolves
    env.host("SYNC01").write_event(AGENT_EVENT_CHANNEL, 7, f"bad pw {secret}")
    (facts,) = read_fleet(env.config, env.secrets, ["SYNC01"])
    assert facts.errors and secret not in str(facts.errors)


def test_the_channel_reaches_the_script_quoted() -> None:
    assert quote(AGENT_EVENT_CHANNEL) in facts_script()


@given(st.text(max_size=60))
def test_event_channel_refuses_anything_off_pattern(name: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-/")
    try:
        checked = event_channel(name)
    except ValueError:
        return
    assert checked == name and set(name) <= allowed and name.count("/") <= 1
    assert "'" not in quote(name)[1:-1]


@pytest.mark.parametrize("bad", ["x'; Remove-Item C:\\", "a/b/c", "", "$env:X", "a`b"])
def test_event_channel_refuses_script_text(bad: str) -> None:
    with pytest.raises(ValueError):
        event_channel(bad)


def test_every_configured_secret_is_resolved_before_events_are_read(
    sim_env: Callable[..., SimEnv],
) -> None:
    """The agent's events may quote any credential it was given (the Entra admin's, a domain
    account's), not only the WinRM login the read itself resolves: read_fleet resolves them all
    first, so the redactor knows each one before an event text is kept."""
    env = sim_env([{"name": "SYNC01", **INSTALLED}])
    asked: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> object:
            return getattr(env.secrets, name)

        def get(self, name: str) -> object:
            asked.append(name)
            return env.secrets.get(name)

    read_fleet(env.config, Recording(), ["SYNC01"])  # type: ignore[arg-type]
    assert set(env.config.secrets) <= set(asked)
