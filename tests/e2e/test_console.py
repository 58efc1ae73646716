"""The local console as a user runs it: the real ``cloudsync run`` (no Slack tokens) with its stdin
from a pipe, on a fresh data folder. alice requests, bob approves: the card with the preflight, the
checklist edited as steps run, one thread reply per step, the summary, and ``/cloudsync status``
saying succeeded. Then a second request is denied through the Deny dialog."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from workers.domain.config import REPO_ROOT

SCRIPT = """\
/cloudsync install SYNC01 --domain contoso.com
:as bob
:click approve
:wait
/cloudsync status
:as alice
/cloudsync install SYNC02 --domain contoso.com
:as carol
:click deny
:submit change freeze until Monday
:wait
/cloudsync status CS-0002
"""
STEPS = ("preflight", "stage", "install", "import", "connect", "gmsa", "domain:contoso.com")


def _run_console(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDSYNC_", "REDIS_", "VAULT_"))
    }
    env.update(
        {
            "CLOUDSYNC_DATA_DIR": str(data_dir),
            "CLOUDSYNC_CONFIG": str(REPO_ROOT / "config" / "demo"),
            "CLOUDSYNC_LOG_FORMAT": "text",
        }
    )
    cloudsync = Path(sys.executable).parent / "cloudsync"
    return subprocess.run(
        [str(cloudsync), "run"],
        input=SCRIPT,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_console_request_approve_run_and_deny(tmp_path: Path) -> None:
    done = _run_console(tmp_path / "data")
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]

    # the approval card with the preflight and the buttons
    first = out.split("bob clicks", 1)[0]
    assert "CS-0001 · Install cloud sync agent" in first
    assert "Preflight passed" in first
    assert "[Approve](approve)" in first and "[Deny](deny)" in first

    # the checklist edited in place while the steps run, then done
    run = out.split("bob clicks", 1)[1].split(":as alice", 1)[0]
    edits = [e for e in run.split("#ops cloudsync edited")[1:]]
    assert any("⬜" in e for e in edits), "an edit shows steps still to do"
    assert any("succeeded" in e and "⬜" not in e.split("== CS-0002")[0] for e in edits)

    # :wait says what it waited for
    assert re.search(r"\(waited \d+\.\d s: no request is queued or running now\)", out)

    # one thread reply per step, then the summary
    replies = re.findall(r"↳ cloudsync \(in thread\): \S+ SYNC01 · (\S+)", out)
    for step in STEPS:
        assert replies.count(step) == 1, (step, replies)
    assert re.search(r"↳ cloudsync \(in thread\): .*CS-0001.*succeeded", out)

    # /cloudsync status says succeeded
    status = out.split("bob > /cloudsync status", 1)[1].splitlines()[1]
    assert "CS-0001" in status and "succeeded" in status

    # the deny flow: the dialog, the reason, the card showing who denied and why
    deny = out.split("carol clicks [Deny]", 1)[1]
    assert "[dialog opened" in deny
    assert "carol submits the dialog: change freeze until Monday" in deny
    assert re.search(r"Denied by @carol .*change freeze until Monday", deny)
    trail = deny.split("carol > /cloudsync status CS-0002", 1)[1]
    assert "denied" in trail
    assert "Requested by @alice in #ops" in trail, "ids shown as names, markup resolved"
    assert "SYNC02" in trail
    assert "Traceback" not in out + done.stderr
    # the console's own log: JSON lines in the data folder, naming the requests it handled
    console_log = (tmp_path / "data" / "console.log").read_text()
    assert console_log.strip(), "the console writes its log"
    assert "CS-0001" in console_log
