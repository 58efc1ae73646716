"""The loopback Slack as Socket Mode's far end (``simulator.slack_socket``): apps.connections.open
and its token rules, the hello, envelopes and their acks (on time, late, never), Events API
retries, disconnects and reconnects, driven by slack_sdk's own Socket Mode client (unmodified)
and, for what a well-behaved client never does, by a raw WebSocket client."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from simulator import websocket as ws
from simulator.slack_api import LoopbackSlack
from tests.support import eventually

APP_TOKEN = "xapp-1-A01CLOUDSYNC-test"


@pytest.fixture()
def slack() -> Iterator[LoopbackSlack]:
    server = LoopbackSlack()
    server.add_app_token(APP_TOKEN)
    server.socket_mode.refresh_grace_s = 2.0
    with server:
        yield server


Listener = Callable[[SocketModeClient, SocketModeRequest], None]


def _acking(seen: list[SocketModeRequest], delay_s: float = 0.0) -> Listener:
    def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        seen.append(request)
        time.sleep(delay_s)
        answer = {"text": "ok"} if request.type == "slash_commands" else None
        client.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload=answer))

    return listener


@pytest.fixture()
def sdk_client(slack: LoopbackSlack) -> Iterator[Callable[[Listener], SocketModeClient]]:
    made: list[SocketModeClient] = []

    def make(listener: Listener) -> SocketModeClient:
        client = SocketModeClient(
            app_token=APP_TOKEN, web_client=WebClient(base_url=slack.api_url), ping_interval=1
        )
        client.socket_mode_request_listeners.append(listener)
        made.append(client)
        client.connect()
        return client

    yield make
    for client in made:
        client.close()


def _slash(text: str = "check SYNC01") -> dict[str, str]:
    return {"command": "/cloudsync", "text": text, "user_id": "U01ALICE", "channel_id": "C01OPS"}


def test_connections_open_needs_this_apps_token_with_connections_write(
    slack: LoopbackSlack,
) -> None:
    web = WebClient(base_url=slack.api_url)
    url = web.apps_connections_open(app_token=APP_TOKEN)["url"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "ws",
        "127.0.0.1",
        slack.port,
        "/link/",
    )
    assert parts.query.startswith("ticket=")
    for token, error in (
        ("xoxb-the-bot-token", "invalid_auth"),
        ("xapp-1-unknown", "invalid_auth"),
    ):
        with pytest.raises(SlackApiError) as caught:
            web.apps_connections_open(app_token=token)
        assert caught.value.response["error"] == error
    slack.add_app_token("xapp-1-no-scope", scopes=("authorizations:read",))
    with pytest.raises(SlackApiError) as caught:
        web.apps_connections_open(app_token="xapp-1-no-scope")
    assert caught.value.response["error"] == "missing_scope"
    with pytest.raises(SlackApiError) as caught:  # and an app token is not a bot token
        WebClient(token=APP_TOKEN, base_url=slack.api_url).auth_test()
    assert caught.value.response["error"] == "invalid_auth"
    assert all(APP_TOKEN not in json.dumps(c.to_dict()) for c in slack.calls)


def test_envelopes_of_each_kind_reach_slack_sdks_client_and_are_acked(
    slack: LoopbackSlack, sdk_client: Callable[[Listener], SocketModeClient]
) -> None:
    seen: list[SocketModeRequest] = []
    sdk_client(_acking(seen))
    slack.socket_mode.wait_connections(1)
    command = slack.socket_mode.slash_command(_slash())
    click = slack.socket_mode.interactive({"type": "block_actions", "actions": []})
    home = slack.socket_mode.event({"type": "event_callback", "event": {"type": "app_home_opened"}})
    settled = [slack.socket_mode.wait_ack(e.envelope_id) for e in (command, click, home)]
    assert [e.missed for e in settled] == [False, False, False]
    assert all(e.ack_s is not None and e.ack_s < 3.0 for e in settled)
    assert settled[0].ack_payload == {"text": "ok"}
    assert [(r.type, r.accepts_response_payload) for r in seen] == [
        ("slash_commands", True),
        ("interactive", True),
        ("events_api", False),
    ]
    assert seen[0].payload["text"] == "check SYNC01"
    assert len({e.envelope_id for e in settled}) == 3


def test_refresh_requested_is_answered_by_a_new_connection_and_nothing_is_lost(
    slack: LoopbackSlack, sdk_client: Callable[[Listener], SocketModeClient]
) -> None:
    seen: list[SocketModeRequest] = []
    sdk_client(_acking(seen))
    hub = slack.socket_mode
    hub.wait_connections(1)
    assert hub.disconnect("refresh_requested") == 1
    during = hub.slash_command(_slash("during the refresh"))  # the old connection is retiring
    hub.wait_connections(2)
    after = hub.slash_command(_slash("after the refresh"))
    for envelope in (during, after):
        settled = hub.wait_ack(envelope.envelope_id)
        assert not settled.missed and settled.connection == 2
    assert len(slack.calls_for("apps.connections.open")) == 2
    eventually(lambda: hub.open_connections() == 1, timeout=10, what="the old connection closed")


def test_envelopes_wait_while_no_connection_is_open(slack: LoopbackSlack) -> None:
    hub = slack.socket_mode
    queued = hub.event({"type": "event_callback", "event": {"type": "app_home_opened"}})
    assert hub.pending() == 1 and hub.get(queued.envelope_id).sent_at is None  # type: ignore[union-attr]
    seen: list[SocketModeRequest] = []
    client = SocketModeClient(app_token=APP_TOKEN, web_client=WebClient(base_url=slack.api_url))
    client.socket_mode_request_listeners.append(_acking(seen))
    try:
        client.connect()
        assert not hub.wait_ack(queued.envelope_id).missed
    finally:
        client.close()
    assert [r.envelope_id for r in seen] == [queued.envelope_id]


def test_a_late_ack_is_missed_and_only_events_are_retried(
    slack: LoopbackSlack, sdk_client: Callable[[Listener], SocketModeClient]
) -> None:
    hub = slack.socket_mode
    hub.ack_timeout_s = 0.3
    hub.events_retry_delays_s = (0.0, 0.2)
    seen: list[SocketModeRequest] = []
    sdk_client(_acking(seen, delay_s=0.6))
    hub.wait_connections(1)
    event = hub.event({"type": "event_callback", "event_id": "Ev1", "event": {"type": "x"}})
    command = hub.slash_command(_slash())
    assert hub.wait_ack(command.envelope_id).missed
    first = hub.wait_ack(event.envelope_id)
    assert first.missed
    retries = eventually(
        lambda: [e for e in hub.envelopes if e.payload.get("event_id") == "Ev1"][2:] or None,
        timeout=10,
        what="two retries of the event",
    )
    attempts = [(e.retry_attempt, e.retry_reason) for e in hub.envelopes if e.type == "events_api"]
    assert attempts == [(None, None), (1, "http_timeout"), (2, "http_timeout")]
    assert retries[-1].retry_of != event.envelope_id
    eventually(
        lambda: any(r.retry_attempt == 2 for r in seen), timeout=10, what="the client saw retry 2"
    )
    assert [e.type for e in hub.envelopes].count("slash_commands") == 1  # not retried
    late = eventually(
        lambda: (e := hub.get(command.envelope_id)) and e.acked_at and e,
        timeout=5,
        what="the late ack recorded",
    )
    assert late.missed and late.ack_s is not None and late.ack_s > hub.ack_timeout_s


def test_link_disabled_closes_the_connection_and_the_client_comes_back(
    slack: LoopbackSlack, sdk_client: Callable[[Listener], SocketModeClient]
) -> None:
    seen: list[SocketModeRequest] = []
    sdk_client(_acking(seen))
    hub = slack.socket_mode
    hub.wait_connections(1)
    hub.disconnect("link_disabled")
    hub.wait_connections(2, timeout=20)
    assert not hub.wait_ack(hub.slash_command(_slash()).envelope_id).missed


# -- a raw client, for what slack_sdk never does -------------------------------------------


class RawClient:
    def __init__(self, url: str, key: str | None = None) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.file = self.sock.makefile("rb")
        self.status_line = self.file.readline().decode()
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def frame(self) -> ws.Frame:
        return ws.read_frame(self.file.read)

    def message(self) -> Any:
        frame = self.frame()
        assert frame.opcode == ws.OP_TEXT and not frame.masked
        return json.loads(frame.payload)

    def send(self, opcode: int, payload: bytes, **kw: Any) -> None:
        self.sock.sendall(ws.encode_frame(opcode, payload, mask=b"", **kw))

    def close(self) -> None:
        self.sock.close()


def _url(slack: LoopbackSlack) -> str:
    return str(WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"])


def test_hello_ping_fragmented_ack_and_the_close_handshake(slack: LoopbackSlack) -> None:
    client = RawClient(_url(slack))
    try:
        assert client.status_line.startswith("HTTP/1.1 101")
        assert client.headers["sec-websocket-accept"] == ws.accept_key(client.key)
        hello = client.message()
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"]["app_id"] == slack.socket_mode.app_id
        client.send(ws.OP_PING, b"are you there")
        pong = client.frame()
        assert (pong.opcode, pong.payload) == (ws.OP_PONG, b"are you there")
        envelope = slack.socket_mode.slash_command(_slash())
        delivered = client.message()
        assert delivered["envelope_id"] == envelope.envelope_id
        assert delivered["type"] == "slash_commands" and delivered["payload"]["text"]
        ack = json.dumps({"envelope_id": envelope.envelope_id, "payload": {"text": "hi"}}).encode()
        client.send(ws.OP_TEXT, ack[:10], fin=False)
        client.send(ws.OP_CONTINUATION, ack[10:])
        settled = slack.socket_mode.wait_ack(envelope.envelope_id)
        assert settled.ack_payload == {"text": "hi"} and not settled.missed
        client.send(ws.OP_CLOSE, ws.close_payload(1000, "done"))
        echoed = client.frame()
        assert echoed.opcode == ws.OP_CLOSE and ws.parse_close(echoed.payload)[0] == 1000
        assert client.file.read(1) == b""  # and the server ends the TCP connection
    finally:
        client.close()
    eventually(lambda: slack.socket_mode.open_connections() == 0, timeout=5, what="closed")


def test_an_unmasked_client_frame_is_a_protocol_error(slack: LoopbackSlack) -> None:
    client = RawClient(_url(slack))
    try:
        client.message()  # hello
        client.sock.sendall(ws.encode_frame(ws.OP_TEXT, b"{}"))  # no mask
        closing = client.frame()
        assert closing.opcode == ws.OP_CLOSE
        assert ws.parse_close(closing.payload)[0] == ws.CLOSE_PROTOCOL_ERROR
    finally:
        client.close()


def test_a_ticket_works_once_and_a_bad_handshake_is_refused(slack: LoopbackSlack) -> None:
    url = _url(slack)
    first = RawClient(url)
    try:
        assert first.status_line.startswith("HTTP/1.1 101")
        again = RawClient(url)
        assert again.status_line.startswith("HTTP/1.1 401")
        again.close()
        bad = RawClient(_url(slack), key="c2hvcnQ=")  # not 16 bytes
        assert bad.status_line.startswith("HTTP/1.1 400")
        bad.close()
    finally:
        first.close()
    assert slack.socket_mode.connections_opened == 1
    assert "unknown or used ticket" in slack.socket_mode.refused_handshakes


def test_a_refresh_closes_a_client_that_never_reconnects_and_keeps_its_envelopes(
    slack: LoopbackSlack,
) -> None:
    client = RawClient(_url(slack))
    try:
        client.message()  # hello
        slack.socket_mode.disconnect("refresh_requested")
        assert client.message() == {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "wss-loopback"},
        }
        queued = slack.socket_mode.slash_command(_slash())
        closing = client.frame()  # after the grace period, with nothing sent to it meanwhile
        assert closing.opcode == ws.OP_CLOSE
        assert ws.parse_close(closing.payload)[0] == ws.CLOSE_GOING_AWAY
    finally:
        client.close()
    assert slack.socket_mode.pending() == 1
    second = RawClient(_url(slack))
    try:
        assert second.message()["type"] == "hello"
        assert second.message()["envelope_id"] == queued.envelope_id
    finally:
        second.close()


def test_deliveries_from_many_threads_each_reach_the_client_once(
    slack: LoopbackSlack, sdk_client: Callable[[Listener], SocketModeClient]
) -> None:
    seen: list[SocketModeRequest] = []
    sdk_client(_acking(seen))
    slack.socket_mode.wait_connections(1)
    sent: list[str] = []
    lock = threading.Lock()

    def burst() -> None:
        for _ in range(10):
            envelope = slack.socket_mode.interactive({"type": "block_actions", "actions": []})
            with lock:
                sent.append(envelope.envelope_id)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for envelope_id in sent:
        assert not slack.socket_mode.wait_ack(envelope_id).missed
    assert sorted(r.envelope_id for r in seen) == sorted(sent)


def test_pongs_keep_slack_sdks_client_on_its_first_connection(slack: LoopbackSlack) -> None:
    """slack_sdk pings every ``ping_interval`` and drops a connection whose pongs stop for four
    intervals: answered pings keep the first connection."""
    client = SocketModeClient(
        app_token=APP_TOKEN, web_client=WebClient(base_url=slack.api_url), ping_interval=0.25
    )
    try:
        client.connect()
        time.sleep(4.0)  # without pongs the client reconnects within this (checked)
        assert client.is_connected()
        assert slack.socket_mode.connections_opened == 1
    finally:
        client.close()
