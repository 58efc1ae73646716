"""``/cloudsync logs HOST`` through the real stack: a signed slash command, the bot, Redis, a
Celery worker collecting over WinRM from a simulated host, and the upload to the loopback Slack
server. A secret the configuration knows, planted in a trace file and in an Admin event, is not
in the uploaded archive; the archive's text never passes through Redis."""

from __future__ import annotations

import io
import zipfile

from tests.e2e.harness import CHANNEL, DEMO, E2EStack
from tests.e2e.secret_scan import forms, redis_contents
from tests.e2e.slack_helpers import ack_text
from workers.runbook.trace_logs import ADMIN_CHANNEL, MAX_ARCHIVE_CHARS


def _secret(name: str) -> str:
    return (DEMO / "secrets" / f"{name}.txt").read_text().strip()


def test_logs_uploads_a_bounded_redacted_archive(e2e: E2EStack) -> None:
    winrm_pw, entra_pw = _secret("winrm"), _secret("entra_admin")
    host = e2e.sim_host("TRACE01")
    host.apply_install()  # the agent runs and writes traces
    host.write_trace(f"Connecting as svc-cloudsync with {winrm_pw}\nmarker-line-4711 ok")
    host.write_trace(f"token request for hybrid-admin password={entra_pw}")
    host.log_event(ADMIN_CHANNEL, 2001, 2, f"Registration failed for password {entra_pw}")
    before = set(e2e.slack.uploads)

    assert e2e.slash("carol", "logs TRACE01 --since 2h").status_code == 200
    upload = e2e.wait_for(
        lambda: next(
            (u for f, u in e2e.slack.uploads.items() if f not in before and u.completed), None
        ),
        timeout=60,
        what="the log archive upload",
    )
    assert upload.channel == CHANNEL and upload.filename.startswith("TRACE01-logs")
    assert upload.data is not None and len(upload.data) < MAX_ARCHIVE_CHARS
    with zipfile.ZipFile(io.BytesIO(upload.data)) as archive:
        texts = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    assert any(name.endswith("README.txt") for name in texts)
    everything = "\n".join(texts.values())
    assert "marker-line-4711 ok" in everything and "Registration failed" in everything
    for secret in (winrm_pw, entra_pw):
        for form in forms(secret):
            assert form not in everything
            assert form.encode() not in upload.data
    comment = str(upload.initial_comment)
    assert "TRACE01" in comment and "trace file" in comment and "1 Admin error" in comment
    assert winrm_pw not in comment and entra_pw not in comment
    # the archive went from the worker to Slack, never through Redis or a Celery message
    e2e.wait_quiet()
    assert "marker-line-4711" not in "\n".join(e2e.monitor_lines)
    assert "marker-line-4711" not in redis_contents(e2e.redis_url)
    assert "collect_logs" in "\n".join(e2e.monitor_lines)


def test_a_span_beyond_seven_days_is_a_usage_error(e2e: E2EStack) -> None:
    response = e2e.slash("carol", "logs TRACE01 --since 9d")
    assert response.status_code == 200
    assert "at most 7d" in ack_text(response)


def test_an_upload_slack_refuses_is_explained_to_the_asker(e2e: E2EStack) -> None:
    """Without ``files:write`` Slack answers ``missing_scope``: the asker is told, nothing is
    posted, and the next ``logs`` of that host may start (the per-host guard is released)."""
    e2e.sim_host("TRACE01").apply_install()
    saved = list(e2e.slack.scopes)
    e2e.slack.scopes = [s for s in saved if s != "files:write"]
    try:
        assert e2e.slash("bob", "logs TRACE01").status_code == 200
        text = e2e.wait_for(
            lambda: next((t for t in e2e.ephemerals_for("bob") if "were not uploaded" in t), ""),
            what="the failure answer",
        )
    finally:
        e2e.slack.scopes = saved
    assert "missing_scope" in text and "files:write" in text

    def started() -> int:
        return sum("Collecting the agent logs of TRACE01" in t for t in e2e.ephemerals_for("bob"))

    before = started()
    assert e2e.slash("bob", "logs TRACE01").status_code == 200
    e2e.wait_for(lambda: started() == before + 1, what="a new collection, not a joined one")
    e2e.wait_quiet()
