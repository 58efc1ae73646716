"""Slack's external upload flow on the loopback server, driven by slack_sdk's own client
(``files_upload_v2``) and by raw HTTP for what a client could get wrong; transient refusals
(the loopback's rate tiers, 5xx, a dropped connection) tried again within a bound."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from simulator.slack_api import DEFAULT_SCOPES, LoopbackSlack
from workers.notify.upload import SlackTarget, UploadFailed, upload_file

TOKEN = "xoxb-upload-tests"


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack(member_of=["C01OPS"]) as server:
        yield server


def test_files_upload_v2_shares_the_bytes_in_the_channel(slack: LoopbackSlack) -> None:
    data = bytes(range(256)) * 40
    file_id = upload_file(
        SlackTarget(TOKEN, slack.api_url),
        channel="C01OPS",
        filename="SYNC01-logs.zip",
        data=data,
        title="Agent logs of SYNC01",
        comment=":package: logs",
    )
    upload = slack.uploads[file_id]
    assert upload.data == data and upload.completed and upload.channel == "C01OPS"
    assert upload.filename == "SYNC01-logs.zip" and upload.title == "Agent logs of SYNC01"
    assert [m.text for m in slack.messages("C01OPS")] == [":package: logs"]
    methods = [c.method for c in slack.calls]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


def test_the_scope_and_the_channel_rules_apply(slack: LoopbackSlack) -> None:
    target = SlackTarget(TOKEN, slack.api_url)
    kwargs = {"filename": "a.zip", "data": b"PK", "title": "t", "comment": "c"}
    with pytest.raises(UploadFailed, match="not_in_channel"):
        upload_file(target, channel="C99OTHER", **kwargs)  # type: ignore[arg-type]
    slack.scopes = [s for s in DEFAULT_SCOPES if s != "files:write"]
    with pytest.raises(UploadFailed, match=r"missing_scope.*files:write"):
        upload_file(target, channel="C01OPS", **kwargs)  # type: ignore[arg-type]
    assert slack.messages("C01OPS") == []


def test_length_must_match_and_the_file_must_be_uploaded(slack: LoopbackSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    got = client.files_getUploadURLExternal(filename="a.zip", length=4)
    url, file_id = got["upload_url"], got["file_id"]
    assert url.startswith(slack.base_url + "/")
    with pytest.raises(SlackApiError) as refused:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id="C01OPS")
    assert refused.value.response["error"] == "file_not_found"
    assert requests.post(url, data=b"123", timeout=5).status_code == 400
    multipart = requests.post(url, files={"file": ("a.zip", b"1234")}, timeout=5)
    assert multipart.status_code == 200
    done = client.files_completeUploadExternal(
        files=[{"id": file_id, "title": "A"}], channel_id="C01OPS", initial_comment="here"
    )
    assert done["files"][0]["id"] == file_id and slack.uploads[file_id].data == b"1234"
    assert requests.post(url, data=b"1234", timeout=5).status_code == 404  # shared already
    with pytest.raises(SlackApiError) as zero:
        client.files_getUploadURLExternal(filename="a.zip", length=0)
    assert zero.value.response["error"] == "missing_argument"


def test_an_upload_can_go_into_a_thread(slack: LoopbackSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    parent = client.chat_postMessage(channel="C01OPS", text="card")["ts"]
    client.files_upload_v2(
        channel="C01OPS", file=b"PK..", filename="a.zip", initial_comment="c", thread_ts=parent
    )
    assert [m.thread_ts for m in slack.messages("C01OPS")] == [None, parent]
    calls = [c for c in slack.calls if c.method == "files.completeUploadExternal"]
    assert json.loads(json.dumps(calls[0].args["files"]))[0]["id"] in slack.uploads


KWARGS = {"filename": "a.zip", "data": b"PK..", "title": "t", "comment": "logs"}


def test_a_rate_limited_upload_waits_what_retry_after_says(slack: LoopbackSlack) -> None:
    slack.enforce_tiers(per_minute={"files.getUploadURLExternal": 1}, window_s=2)
    target = SlackTarget(TOKEN, slack.api_url)
    upload_file(target, channel="C01OPS", **KWARGS)  # type: ignore[arg-type]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    file_id = upload_file(target, channel="C01OPS", sleep=sleep, **KWARGS)  # type: ignore[arg-type]
    assert slack.uploads[file_id].completed
    assert waits == [2.0]  # the loopback's Retry-After for the rest of its 2-second window
    statuses = [c.status for c in slack.calls_for("files.getUploadURLExternal")]
    assert statuses == [200, 429, 200]
    assert [m.text for m in slack.messages("C01OPS")] == ["logs", "logs"]


def test_a_5xx_and_a_dropped_connection_are_tried_again(slack: LoopbackSlack) -> None:
    target = SlackTarget(TOKEN, slack.api_url)
    waits: list[float] = []
    slack.fail("files.completeUploadExternal", status=503, count=1)
    file_id = upload_file(target, channel="C01OPS", sleep=waits.append, **KWARGS)  # type: ignore[arg-type]
    assert slack.uploads[file_id].completed and waits == [2.0]

    def back_online(seconds: float) -> None:
        waits.append(seconds)
        slack.reachable()

    slack.unreachable()
    upload_file(target, channel="C01OPS", sleep=back_online, **KWARGS)  # type: ignore[arg-type]
    assert waits == [2.0, 2.0]
    assert [m.text for m in slack.messages("C01OPS")] == ["logs", "logs"]


def test_a_lasting_outage_is_told_after_the_bounded_tries(slack: LoopbackSlack) -> None:
    slack.fail_for(60, status=503, method="files.getUploadURLExternal")
    waits: list[float] = []
    with pytest.raises(UploadFailed, match=r"Slack refused the upload: .*\(3 tries\)"):
        upload_file(
            SlackTarget(TOKEN, slack.api_url), channel="C01OPS", sleep=waits.append, **KWARGS
        )  # type: ignore[arg-type]
    assert waits == [2.0, 8.0] and len(slack.calls_for("files.getUploadURLExternal")) == 3


def test_a_retry_after_beyond_the_time_limit_is_told_at_once(slack: LoopbackSlack) -> None:
    slack.fail("files.getUploadURLExternal", status=429, retry_after=600, count=1)
    waits: list[float] = []
    with pytest.raises(UploadFailed, match=r"ratelimited \(1 try; Slack asks to wait 600 s\)"):
        upload_file(
            SlackTarget(TOKEN, slack.api_url), channel="C01OPS", sleep=waits.append, **KWARGS
        )  # type: ignore[arg-type]
    assert waits == []


def test_a_permanent_refusal_is_not_tried_again(slack: LoopbackSlack) -> None:
    waits: list[float] = []
    target = SlackTarget(TOKEN, slack.api_url)
    with pytest.raises(UploadFailed, match="not_in_channel"):
        upload_file(target, channel="C99OTHER", sleep=waits.append, **KWARGS)  # type: ignore[arg-type]
    slack.scopes = [s for s in DEFAULT_SCOPES if s != "files:write"]
    with pytest.raises(UploadFailed, match="missing_scope"):
        upload_file(target, channel="C01OPS", sleep=waits.append, **KWARGS)  # type: ignore[arg-type]
    assert waits == [] and len(slack.calls_for("files.getUploadURLExternal")) == 2
