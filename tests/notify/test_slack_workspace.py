"""The loopback Slack server behaves like a real workspace where the bot can trip: channel
membership, archived channels, revoked tokens, Block Kit limits, message length, per-method
rate tiers, response_url expiry, and the scopes header. Driven through a real slack_sdk client."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from simulator.slack_api import MAX_TEXT_CHARS, LoopbackSlack, block_kit_errors


def _error(call: Any) -> str:
    with pytest.raises(SlackApiError) as err:
        call()
    return str(err.value.response["error"])


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _control(slack: LoopbackSlack, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"{slack.base_url}/_loopback/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_posting_needs_membership_until_invited(slack: LoopbackSlack, client: WebClient) -> None:
    assert _error(lambda: client.chat_postMessage(channel="CNEW", text="x")) == "not_in_channel"
    assert (
        _error(lambda: client.chat_postEphemeral(channel="CNEW", user="U1", text="x"))
        == "not_in_channel"
    )
    info = client.conversations_info(channel="CNEW")["channel"]
    assert info["is_member"] is False and info["is_archived"] is False
    _control(slack, "invite", {"channels": ["CNEW"]})
    assert client.conversations_info(channel="CNEW")["channel"]["is_member"] is True
    assert client.chat_postMessage(channel="CNEW", text="x")["ok"]
    slack.kick("CNEW")
    assert _error(lambda: client.chat_postMessage(channel="CNEW", text="y")) == "not_in_channel"


def test_chat_write_public_lifts_membership_for_public_channels_only(
    slack: LoopbackSlack, client: WebClient
) -> None:
    slack.scopes.append("chat:write.public")
    slack.private_channels.add("CPRIV")
    assert client.chat_postMessage(channel="CPUB", text="x")["ok"]
    assert _error(lambda: client.chat_postMessage(channel="CPRIV", text="x")) == "channel_not_found"
    assert _error(lambda: client.conversations_info(channel="CPRIV")) == "channel_not_found"


def test_archived_and_missing_channels(slack: LoopbackSlack, client: WebClient) -> None:
    slack.archive("C1")
    assert _error(lambda: client.chat_postMessage(channel="C1", text="x")) == "is_archived"
    assert client.conversations_info(channel="C1")["channel"]["is_archived"] is True
    slack.missing_channels.add("CGONE")
    assert _error(lambda: client.conversations_info(channel="CGONE")) == "channel_not_found"


def test_revoked_and_invalid_tokens(slack: LoopbackSlack) -> None:
    slack.revoke("xoxb-old")
    old = WebClient(token="xoxb-old", base_url=slack.api_url, timeout=5)
    assert _error(old.auth_test) == "token_revoked"
    bad = WebClient(token="nonsense", base_url=slack.api_url, timeout=5)
    assert _error(bad.auth_test) == "invalid_auth"


def test_scopes_header_on_auth_test(slack: LoopbackSlack, client: WebClient) -> None:
    answer = client.auth_test()
    assert "chat:write" in answer.headers["x-oauth-scopes"].split(",")
    slack.scopes = ["chat:write"]
    assert client.auth_test().headers["x-oauth-scopes"] == "chat:write"
    assert _error(lambda: client.conversations_info(channel="C1")) == "missing_scope"


def test_text_length_and_block_kit_limits(slack: LoopbackSlack, client: WebClient) -> None:
    long_text = "x" * (MAX_TEXT_CHARS + 1)
    assert _error(lambda: client.chat_postMessage(channel="C1", text=long_text)) == "msg_too_long"
    too_many = [_section(f"{i}") for i in range(51)]
    assert (
        _error(lambda: client.chat_postMessage(channel="C1", text="x", blocks=too_many))
        == "invalid_blocks"
    )
    big_section = [_section("y" * 3001)]
    assert (
        _error(lambda: client.chat_postMessage(channel="C1", text="x", blocks=big_section))
        == "invalid_blocks"
    )
    posted = client.chat_postMessage(channel="C1", text="x", blocks=[_section("y" * 3000)])
    assert (
        _error(lambda: client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=too_many))
        == "invalid_blocks"
    )
    # a Home tab takes 100 blocks, not 101
    home = {"type": "home", "blocks": [_section(f"{i}") for i in range(100)]}
    assert client.views_publish(user_id="U1", view=home)["ok"]
    home["blocks"].append(_section("one more"))
    assert _error(lambda: client.views_publish(user_id="U1", view=home)) == "invalid_arguments"


def test_block_kit_errors_name_the_broken_limit() -> None:
    assert block_kit_errors([_section("ok")]) == []
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "value": "v"}
    actions = {"type": "actions", "elements": [button]}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}
    errors = block_kit_errors([header, actions, fields, {"type": "context", "elements": []}])
    assert len(errors) == 4, errors


def test_rate_tiers_answer_429_with_retry_after(slack: LoopbackSlack, client: WebClient) -> None:
    client.retry_handlers = []
    slack.enforce_tiers({"chat.update": 2})
    posted = client.chat_postMessage(channel="C1", text="x")
    for n in range(2):
        client.chat_update(channel="C1", ts=posted["ts"], text=f"v{n}")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=posted["ts"], text="v3")
    assert err.value.response.status_code == 429
    assert 1 <= int(err.value.response.headers["Retry-After"]) <= 60
    assert client.chat_postMessage(channel="C1", text="other methods are not limited")["ok"]
    slack.enforce_tiers(on=False)
    assert client.chat_update(channel="C1", ts=posted["ts"], text="v4")["ok"]


def test_response_url_takes_five_posts_within_thirty_minutes(slack: LoopbackSlack) -> None:
    hook = WebhookClient(slack.response_url("cmd-5"))
    assert [hook.send(text=f"{n}").status_code for n in range(5)] == [200] * 5
    assert hook.send(text="sixth").status_code == 404
    assert [p.body["text"] for p in slack.response_posts] == ["0", "1", "2", "3", "4"]
    slack.response_url_ttl_s = 0.2
    late = WebhookClient(slack.response_url("cmd-late"))
    time.sleep(0.3)
    assert late.send(text="too late").status_code == 404
