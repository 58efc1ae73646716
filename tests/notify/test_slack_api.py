"""The loopback Slack Web API server, driven through a real slack_sdk WebClient."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from simulator.slack_api import Call, LoopbackSlack, Message

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]


def _control(slack: LoopbackSlack, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{slack.base_url}/_loopback/{path}",
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_api_url_shape(slack: LoopbackSlack) -> None:
    assert slack.api_url == f"http://127.0.0.1:{slack.port}/api/"


def test_auth_test_and_auth_required(slack: LoopbackSlack, client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == "UBOT"
    assert answer["bot_id"] == "BBOT"
    assert answer["team_id"] == "T01DEMO"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    assert all("xoxb-test" not in json.dumps(c.to_dict()) for c in slack.calls)


def test_post_thread_update_and_history(slack: LoopbackSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="card", blocks=BLOCKS)
    second = client.chat_postMessage(channel="C1", text="two")
    assert first["ts"] < second["ts"]
    assert first["message"]["blocks"] == BLOCKS
    reply = client.chat_postMessage(
        channel="C1", text="step 1", thread_ts=first["ts"], reply_broadcast=True
    )
    edited = client.chat_update(channel="C1", ts=first["ts"], text="card v2")
    assert edited["text"] == "card v2"

    msgs = slack.messages("C1")
    assert [m.text for m in msgs] == ["card v2", "two", "step 1"]
    assert msgs[0].edits[0]["text"] == "card" and msgs[0].edits[0]["blocks"] == BLOCKS
    assert msgs[0].blocks is None
    thread = slack.thread("C1", first["ts"])
    assert [m.ts for m in thread] == [first["ts"], reply["ts"]]
    assert thread[1].thread_ts == first["ts"] and thread[1].reply_broadcast
    assert [c.method for c in slack.calls] == ["chat.postMessage"] * 3 + ["chat.update"]
    assert slack.calls_for("chat.postMessage")[2].thread_ts == first["ts"]


@pytest.mark.filterwarnings("ignore:The top-level `text`:UserWarning")
def test_post_and_update_errors(slack: LoopbackSlack, client: WebClient) -> None:
    slack.missing_channels.add("CGONE")
    cases = [
        (lambda: client.chat_postMessage(channel="CGONE", text="x"), "channel_not_found"),
        (lambda: client.chat_postMessage(channel="C1"), "no_text"),
        (lambda: client.chat_update(channel="C1", ts="1.2", text="x"), "message_not_found"),
        (
            lambda: client.chat_postMessage(channel="C1", text="x", thread_ts="9.9"),
            "thread_not_found",
        ),
        (lambda: client.api_call("nope.nothing"), "unknown_method"),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as err:
            call()
        assert err.value.response["error"] == error
    assert slack.messages("C1") == []
    assert [c.error for c in slack.calls] == [e for _, e in cases]


def test_ephemeral_views_usergroups_users(slack: LoopbackSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U02BOB", text="only you", blocks=BLOCKS)
    assert answer["message_ts"]
    assert slack.ephemerals[0].user == "U02BOB" and slack.ephemerals[0].blocks == BLOCKS
    view = {"type": "home", "blocks": BLOCKS}
    published = client.views_publish(user_id="U02BOB", view=view)
    assert published["view"]["id"] and slack.home_views["U02BOB"]["blocks"] == BLOCKS
    opened = client.views_open(trigger_id="trig.1", view={"type": "modal", "blocks": []})
    assert opened["view"]["id"].startswith("V")
    slack.usergroups = {"S01APPROVERS": ["U02BOB"]}
    assert client.usergroups_users_list(usergroup="S01APPROVERS")["users"] == ["U02BOB"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="SNOPE")
    assert err.value.response["error"] == "no_such_subteam"
    assert client.users_info(user="U02BOB")["user"]["id"] == "U02BOB"


def test_form_encoded_calls_are_understood(slack: LoopbackSlack, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage", params={"channel": "C1", "text": "f", "blocks": json.dumps(BLOCKS)}
    )
    assert slack.messages("C1")[0].blocks == BLOCKS


def test_429_with_retry_after_then_normal(slack: LoopbackSlack, client: WebClient) -> None:
    slack.fail(method="chat.postMessage", status=429, retry_after=3, count=1)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "3"
    assert err.value.response["error"] == "ratelimited"
    client.auth_test()  # other methods unaffected
    client.chat_postMessage(channel="C1", text="x")
    assert [m.text for m in slack.messages("C1")] == ["x"]
    assert [c.status for c in slack.calls] == [429, 200, 200]


def test_503_and_fail_for(slack: LoopbackSlack, client: WebClient) -> None:
    slack.fail(status=503, count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C1", text="x")
        assert err.value.response.status_code == 503
    slack.fail_for(60, status=500, method="chat.update")
    posted = client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=posted["ts"], text="y")
    assert err.value.response.status_code == 500
    assert slack.messages("C1")[0].text == "x"


def test_unreachable_drops_connections(slack: LoopbackSlack) -> None:
    bare = WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5, retry_handlers=[])
    slack.unreachable()
    with pytest.raises(OSError):
        bare.chat_postMessage(channel="C1", text="x")
    slack.reachable()
    bare.chat_postMessage(channel="C1", text="x")
    assert [(c.status, c.error) for c in slack.calls] == [(0, "dropped"), (200, None)]
    assert len(slack.messages("C1")) == 1


def test_enforce_rate_answers_429_beyond_burst(slack: LoopbackSlack, client: WebClient) -> None:
    slack.enforce_rate(per_channel_per_s=0.5, burst=2)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="3")
    assert err.value.response.status_code == 429
    assert int(err.value.response.headers["Retry-After"]) >= 1
    client.chat_postMessage(channel="C2", text="other channel")
    assert [m.text for m in slack.messages("C1")] == ["1", "2"]


def test_response_url_posts(slack: LoopbackSlack) -> None:
    url = slack.response_url("cmd-1")
    answer = WebhookClient(url).send(text="done", response_type="ephemeral", replace_original=True)
    assert answer.status_code == 200 and answer.body == "ok"
    post = slack.response_posts[0]
    assert post.name == "cmd-1" and post.body["text"] == "done"
    assert post.body["replace_original"] is True
    assert slack.calls[-1].method == "response_url"


def test_subscribe_sees_calls_in_order(slack: LoopbackSlack, client: WebClient) -> None:
    seen: list[tuple[str, str | None]] = []

    def on_call(call: Call, message: Message | None) -> None:
        seen.append((call.method, message.text if message else None))

    slack.subscribe(on_call)
    posted = client.chat_postMessage(channel="C1", text="a")
    client.chat_update(channel="C1", ts=posted["ts"], text="b")
    client.auth_test()
    assert seen == [("chat.postMessage", "a"), ("chat.update", "b"), ("auth.test", None)]


def test_control_endpoints(slack: LoopbackSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="a")
    calls = _control(slack, "calls")
    assert [c["method"] for c in calls] == ["chat.postMessage"]
    assert [m["text"] for m in _control(slack, "messages?channel=C1")] == ["a"]
    assert _control(slack, "fail", {"method": "auth.test", "status": 429, "count": 1})["ok"]
    with pytest.raises(SlackApiError):
        client.auth_test()
    assert _control(slack, "reset", {})["ok"]
    assert slack.calls == [] and slack.messages("C1") == []
    client.auth_test()
