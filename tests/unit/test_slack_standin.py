"""`cloudsync slack-standin` (issue 14, point 7): the loopback Slack Web API served on its own,
for rehearsals of the HTTP path, and the signed send/click it comes with; for Socket Mode, the
app-level token it makes up and the envelopes another process delivers through it (driven by
slack_sdk's own Socket Mode client); and the simulator's
start-up banner and --help, which say what the simulated host expects."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import cli
from bot.local import extras
from bot.local.child_process import ends_with_parent
from bot.local.send import SendError, send_command
from bot.local.send_socket import send_command_socket
from simulator.host import INSTALLER_SHA256
from tests.support import eventually
from workers.domain.config import REPO_ROOT, load_config

DEMO = REPO_ROOT / "config" / "demo"


def _spawn(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CLOUDSYNC_CONFIG": str(DEMO)}
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ends_with_parent(),
    )


@pytest.fixture()
def standin() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc = _spawn("bot.cli", "slack-standin", "--listen", "127.0.0.1:0")
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(4)]  # the URL, tokens, address
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_the_standin_prints_its_url_and_token_serves_and_stops_on_sigterm(
    standin: tuple[subprocess.Popen[str], list[str]],
) -> None:
    proc, lines = standin
    assert lines[0].startswith("SLACK_API_URL=http://127.0.0.1:"), lines
    assert lines[1].startswith("SLACK_BOT_TOKEN=xoxb-")
    api_url = lines[0].removeprefix("SLACK_API_URL=")
    token = lines[1].split("=", 1)[1].split()[0]
    # the bot is a member of the configuration's channels, as after /invite
    answer = WebClient(token=token, base_url=api_url).chat_postMessage(channel="C01OPS", text="hi")
    assert answer["ok"]
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("posted in C01OPS (")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def _socket_client(api_url: str, token: str, seen: list[SocketModeRequest]) -> SocketModeClient:
    """slack_sdk's own Socket Mode client, acking as Bolt does (a slash command with its text)."""

    def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        seen.append(request)
        answer = {"text": "heard you"} if request.type == "slash_commands" else None
        client.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload=answer))

    client = SocketModeClient(app_token=token, web_client=WebClient(base_url=api_url))
    client.socket_mode_request_listeners.append(listener)
    client.connect()
    return client


def test_the_standin_makes_up_an_app_token_and_delivers_envelopes_from_another_process(
    standin: tuple[subprocess.Popen[str], list[str]],
) -> None:
    _, lines = standin
    token_line = lines[3]  # after the lines the HTTP rehearsal reads by position
    assert re.fullmatch(r"SLACK_APP_TOKEN=xapp-1-A\w+-\d+-[0-9a-f]{64} \(.*\)", token_line)
    token = token_line.split("=", 1)[1].split()[0]
    api_url = lines[0].removeprefix("SLACK_API_URL=")
    base = api_url.removesuffix("/api/")
    with pytest.raises(SlackApiError, match="invalid_auth"):  # only the token it printed
        WebClient(base_url=api_url).apps_connections_open(app_token="xapp-1-A0-1-other")
    seen: list[SocketModeRequest] = []
    client = _socket_client(api_url, token, seen)
    try:
        config = load_config(DEMO)
        answer = send_command_socket(config, api_url=api_url, user="alice", text="status")
        assert answer == "heard you"
        assert [r.type for r in seen] == ["slash_commands"]
        assert seen[0].payload["text"] == "status" and seen[0].payload["user_id"] == "U01ALICE"
        assert seen[0].payload["response_url"].startswith(f"{base}/_response/")

        reply = requests.post(f"{base}/_loopback/socket/interactive", json={"type": "x"}, timeout=5)
        envelope_id = reply.json()["envelope_id"]
        eventually(lambda: len(seen) == 2, what="the click's envelope")
        acked = eventually(
            lambda: (
                requests.get(
                    f"{base}/_loopback/socket/envelopes",
                    params={"envelope_id": envelope_id},
                    timeout=5,
                ).json()[0]["acked_at"]
                is not None
            ),
            what="its ack",
        )
        assert acked and seen[1].type == "interactive" and seen[1].payload == {"type": "x"}
        listed = requests.get(f"{base}/_loopback/socket/envelopes", timeout=5).json()
        assert [e["type"] for e in listed] == ["slash_commands", "interactive"]
        assert listed[0]["ack_payload"] == {"text": "heard you"} and not listed[0]["missed"]
        bad = requests.post(f"{base}/_loopback/socket/interactive", json={}, timeout=5)
        assert bad.status_code == 400
    finally:
        client.close()


def test_socket_send_says_when_no_bot_is_connected() -> None:
    from simulator.slack_api import LoopbackSlack

    with LoopbackSlack() as server:
        with pytest.raises(SendError, match="no Socket Mode connection took the slash_command"):
            send_command_socket(
                load_config(DEMO), api_url=server.api_url, user="alice", text="help", wait_s=0.5
            )
        assert server.socket_mode.pending() == 1  # kept for the bot's next connection
    with pytest.raises(SendError, match="SLACK_API_URL"):
        send_command_socket(load_config(DEMO), api_url=None, user="alice", text="help")


def test_the_standin_writes_its_app_token_file_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    target = tmp_path / "app-token"
    proc = _spawn("bot.cli", "slack-standin", "--app-token-file", str(target))
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        token = target.read_text().strip()
        assert token.startswith("xapp-") and lines[3].startswith(f"SLACK_APP_TOKEN={token} ")
        assert target.stat().st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_standin_says_when_the_sim_extra_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(extras, "simulator_available", lambda: False)
    assert cli.main(["slack-standin", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "slack-standin" in err and "'sim' extra" in err and extras.SIM_EXTRA_HINT in err


def test_the_standin_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.slack_api import main

    assert main(["--listen", "0.0.0.0:3100"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_send_names_the_users_it_knows_and_needs_the_signing_secret() -> None:
    config = load_config(DEMO)
    common = {"url": "http://127.0.0.1:9/slack/events", "api_url": "http://127.0.0.1:9/api/"}
    with pytest.raises(SendError, match=r"no user 'zed'.*alice, bob, carol"):
        send_command(config, secret="s", user="zed", text="help", **common)
    with pytest.raises(SendError, match="SLACK_SIGNING_SECRET"):
        send_command(config, secret=None, user="alice", text="help", **common)
    with pytest.raises(SendError, match="cannot reach the bot"):
        send_command(config, secret="s", user="alice", text="help", **common)


def test_sim_help_lists_the_built_in_accounts_and_the_installer_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from simulator import cli as sim_cli

    with pytest.raises(SystemExit):
        sim_cli.main(["--help"])
    out = capsys.readouterr().out
    assert INSTALLER_SHA256 in out
    assert "hybrid-admin@contoso.onmicrosoft.com" in out and "CONTOSO\\Administrator" in out
    assert "Pass-1!" not in out  # the built-in passwords are never shown


def test_sim_banner_lists_accounts_hash_and_scenario_never_a_password() -> None:
    proc = _spawn(
        "simulator.cli", "--listen", "127.0.0.1:0", "--account", "CONTOSO\\svc-x:Banner-Pw-3"
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(6)]
        assert lines[0].startswith("listening on http://127.0.0.1:")
        banner = "\n".join(lines[1:])
        assert "scenario: none" in banner
        assert "SIM01: WinRM logons: CONTOSO\\svc-x" in banner
        assert "hybrid-admin@contoso.onmicrosoft.com" in banner
        assert INSTALLER_SHA256 in banner
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "Banner-Pw-3" not in banner + proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
