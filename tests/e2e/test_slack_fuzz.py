"""Hypothesis fuzzes /cloudsync's text through Bolt's signed HTTP endpoint: every input gets a 200
and either a request (or a reply) or a clear ephemeral error; nothing escapes as an exception and
nothing is stored for an invalid one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import grammar
from tests.e2e.harness import USERS, E2EStack
from tests.e2e.slack_helpers import ErrorLog, ack_text, bot_errors, mark
from workers.domain.model import State

WORDS = [
    "install",
    "plan",
    "check",
    "agents",
    "status",
    "list",
    "ls",
    "cancel",
    "retry",
    "help",
    "writeback",
    "enable",
    "disable",
    "domain",
    "add",
    "permissions",
    "restart",
    "approve",
    "TWIN01",
    "TWIN02,LAB01",
    "lab01",
    "NOPE",
    "--domain",
    "contoso.com",
    "fabrikam.com:DC1,DC2",
    "—domain",
    "--gmsa",
    "--cloud",
    "usgov",
    "--writeback",
    "--permissions",
    "--type",
    "PasswordWriteback",
    "--host",
    "--pending",
    "--mine",
    "--from",
    "connect",
    "CS-9999",
    "CS-0",
    "<!channel>",
    "<http://contoso.com|contoso.com>",
    "`$(whoami)`",
    "'; DROP",
    "--domain=",
    "=",
    "-",
    "\u202e",
]

texts = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=7).map(" ".join),
    st.text(max_size=80),
    st.tuples(st.sampled_from(WORDS), st.text(max_size=20)).map(" ".join),
)


@pytest.fixture(scope="module")
def errors() -> Iterator[ErrorLog]:
    with bot_errors() as log:
        yield log


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=texts)
@example(text="status CS-9999")
@example(text="cancel CS-9999")
@example(text="retry CS-9999 --from connect")
@example(text="install TWIN01,LAB01 --domain contoso.com --writeback")
@example(text="list --pending --mine")
def test_any_text_gets_a_200_and_a_clear_answer(e2e: E2EStack, errors: ErrorLog, text: str) -> None:
    before = {r.id for r in e2e.store.recent(limit=10000)}
    seen = mark(e2e, "alice")
    response = e2e.slash("alice", text)
    assert response.status_code == 200, (text, response.status_code, response.text)
    parsed = grammar.parse(text, e2e.config.hosts.keys())
    if isinstance(parsed, grammar.UsageError | grammar.Help):
        answer = ack_text(response)
        assert answer.strip(), f"no explanation for {text!r}"
        assert response.json().get("response_type") == "ephemeral"
        assert {r.id for r in e2e.store.recent(limit=10000)} == before, text
        assert "<!channel>" not in answer, "typed mentions are escaped"
    else:
        # acknowledged at once, then exactly one reply to the typer (a result or a refusal)
        assert ack_text(response) == ""
        e2e.wait_for(lambda: len(e2e.ephemerals_for("alice")) > seen, 15, what=f"reply to {text!r}")
        created = [r for r in e2e.store.recent(limit=10000) if r.id not in before]
        if isinstance(parsed, grammar.Change):
            assert len(created) == 1 and created[0].change == parsed.change
        else:
            assert not created, text
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_fuzz_leaves_nothing_pending(e2e: E2EStack) -> None:
    """Tidy up: the fuzzed requests are cancelled so later tests see a quiet channel."""
    for request in e2e.store.in_states([State.PENDING_APPROVAL]):
        if request.requester == USERS["alice"]:
            e2e.slash("alice", f"cancel {request.id}")
            e2e.wait_state(request.id, State.CANCELLED, State.EXPIRED)
