"""The end-to-end suite's repr scan catches a Python repr planted in any payload it covers, sent
through a real WebClient to the loopback Slack server (as every e2e stack's notifier sends)."""

from __future__ import annotations

import json

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from simulator.slack_api import LoopbackSlack
from tests.e2e.repr_scan import ReprWatch, repr_findings

CLEAN = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SYNC01*: 'quoted' is fine"}}]


def _planted(text: str) -> list[dict]:
    return [{"type": "section", "fields": [{"type": "mrkdwn", "text": text}]}]


def test_planted_reprs_are_caught_in_every_payload_kind() -> None:
    watch = ReprWatch()
    with LoopbackSlack(member_of={"C1"}) as slack:
        watch.watch(slack)
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        posted = client.chat_postMessage(channel="C1", text="card", blocks=CLEAN)
        assert watch.findings == []
        client.chat_update(
            channel="C1", ts=posted["ts"], text="x", blocks=_planted("facts: {'os': 'x'}")
        )
        client.chat_postEphemeral(channel="C1", user="U1", text="hosts [('SYNC01', 1)]")
        view = {"type": "home", "blocks": _planted("None {'a': 1}")}
        client.views_publish(user_id="U1", view=json.dumps(view))  # a JSON string, as sent
        hook = WebhookClient(slack.response_url("U1-1"))
        hook.send(text="ok", blocks=_planted("error: 'x': 'y'"))
    methods = [f.split(":")[0] for f in watch.findings]
    assert methods == [
        "chat.update",
        "chat.update",  # both markers of {'os': 'x'}
        "chat.postEphemeral",
        "views.publish",
        "response_url",
    ], watch.findings


def test_what_the_scan_leaves_alone() -> None:
    assert repr_findings("chat.postMessage", {"text": "step 'install' done: 'ok'"}) == []
    assert repr_findings("conversations.info", {"text": "{'a': 'b'}"}) == []  # not shown
    assert repr_findings("chat.postMessage", {"channel": "{'x'", "text": "fine"}) == []
    script = "Plan:\n```$w += ('the service is ' + $s + ': ' + 'start it')```"
    assert repr_findings("response_url", {"text": script}) == []  # PowerShell, shown verbatim
    assert repr_findings("response_url", {"text": script + " then {'a': 1}"}) != []


def test_a_child_process_loopback_reports_through_its_record_file(tmp_path) -> None:
    """A console runs its own loopback Slack in another process: with LOOPBACK_SLACK_RECORD set
    it appends each call to the file, and the scan reads what is new since the last read."""
    import subprocess
    import sys

    from simulator.slack_api import RECORD_ENV
    from tests.e2e.repr_scan import RecordFileScan

    record = tmp_path / "calls.jsonl"
    scan = RecordFileScan(record)
    child = (
        "from slack_sdk import WebClient\n"
        "from simulator.slack_api import LoopbackSlack\n"
        "with LoopbackSlack(member_of={'C1'}) as slack:\n"
        "    client = WebClient(token='xoxb-test', base_url=slack.api_url)\n"
        "    client.chat_postMessage(channel='C1', text='plain words')\n"
        "    client.chat_postMessage(channel='C1', text=\"facts: {'os': 'x'}\")\n"
    )
    env = {**__import__("os").environ, RECORD_ENV: str(record)}
    subprocess.run([sys.executable, "-c", child], env=env, check=True, timeout=60)
    found = scan.new_findings()
    assert len(found) == 2 and all("chat.postMessage" in f for f in found)  # "{'" and "': '"
    assert scan.new_findings() == []  # read once
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert [x["method"] for x in lines] == ["chat.postMessage", "chat.postMessage"]
    assert "xoxb-test" not in record.read_text()
