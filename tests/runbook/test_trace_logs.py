"""Collecting an agent's logs: the script's values, the archive's bounds and its redaction, and
the collection over real WinRM against a simulated host."""

from __future__ import annotations

import base64
import datetime
import io
import time
import zipfile
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from tests.runbook.conftest import PASSWORDS, SimEnv
from workers.domain.redact import MASK, Redactor
from workers.runbook import trace_logs
from workers.runbook.powershell import slots
from workers.runbook.trace_logs import (
    ADMIN_CHANNEL,
    MAX_ARCHIVE_CHARS,
    MAX_FILE_CHARS,
    MAX_FILES,
    MAX_TOTAL_CHARS,
    Collected,
    TraceFile,
    build_archive,
    collect,
    collect_script,
    comment,
    parse_collected,
)

SECRET = "Planted-Pass-9!k"


def members(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


@given(st.integers(60, 7 * 86400))
def test_the_script_holds_only_quoted_constants_and_integers(since_s: int) -> None:
    script = collect_script(since_s)
    assert "<<" not in script
    assert f"- {since_s * 10_000_000}" in script
    assert "'C:\\ProgramData\\Microsoft\\Azure AD Connect Provisioning Agent\\Trace'" in script
    assert f"'{ADMIN_CHANNEL}'" in script
    assert "since_ticks" in slots(trace_logs.COLLECT)
    assert f"(Get-Date).AddSeconds(-{since_s})" in script
    assert "Level = 1, 2, 3; StartTime = $start } -MaxEvents 500" in script


def test_the_script_refuses_a_span_out_of_bounds() -> None:
    for bad in (0, 59, 7 * 86400 + 1):
        try:
            collect_script(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_a_planted_secret_is_masked_in_every_member_and_the_comment() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    b64 = base64.b64encode(SECRET.encode()).decode()
    collected = Collected(
        host="SYNC01",
        since_s=86400,
        folder=True,
        files=[TraceFile(f"Agent_{SECRET}.log", 100, f"connect pw={SECRET}\nencoded {b64}\nok")],
        events=[{"time": "t", "id": 2001, "level": "Error", "message": f"login {SECRET} failed"}],
    )
    archive = build_archive(collected, redactor)
    texts = members(archive.data)
    assert all(SECRET not in name and SECRET not in text for name, text in texts.items())
    assert all(b64 not in text for text in texts.values())
    joined = "\n".join(texts.values())
    assert f"connect pw={MASK}" in joined and "\nok" in joined and "2001" in joined
    assert SECRET not in comment(archive.summary) and SECRET not in str(archive.summary)


def test_the_archive_is_bounded_even_when_the_host_answers_too_much() -> None:
    huge = "x" * (MAX_FILE_CHARS * 3)
    answer = {
        "folder": True,
        "files": [{"name": f"f{i}.log", "length": 10**9, "text": huge} for i in range(40)],
        "events": [{"id": 1, "level": "Error", "message": "e" * 100_000}] * 5000,
        "skipped": 0,
    }
    collected = parse_collected("SYNC01", 3600, answer)
    assert len(collected.files) == MAX_FILES
    assert sum(len(f.text) for f in collected.files) <= MAX_TOTAL_CHARS
    assert all(f.cut for f in collected.files if f.text)
    assert collected.skipped == 30
    archive = build_archive(collected, Redactor())
    assert archive.raw_chars <= MAX_ARCHIVE_CHARS
    assert len(archive.data) < MAX_ARCHIVE_CHARS
    assert archive.summary["cut"] is True
    assert "(cut)" in comment(archive.summary) and "left out" in comment(archive.summary)
    readme = next(t for n, t in members(archive.data).items() if n.endswith("README.txt"))
    assert "cut (the newest lines kept)" in readme


def test_a_single_file_answer_is_read_as_a_list() -> None:
    one = {"folder": True, "files": {"name": "a.log", "length": 3, "text": "abc"}, "events": None}
    collected = parse_collected("SYNC01", 3600, one)
    assert [f.name for f in collected.files] == ["a.log"] and collected.events == []


def test_collect_over_winrm_reads_new_traces_and_admin_errors(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    host = env.host("SYNC01")
    host.apply_install()
    host.write_trace(f"trace line one\nsaw {PASSWORDS['WINRM_PW']} here")
    old = host.write_trace("older line", name="AzureADConnectProvisioningAgent_20200101.log")
    host.file(old).written_at = time.time() - 3 * 86400
    host.log_event(ADMIN_CHANNEL, 2001, 2, "Registration failed")
    host.log_event(ADMIN_CHANNEL, 1002, 4, "An information event")
    conf = env.config.host("SYNC01")
    collected = collect(conf, env.secrets.get(conf.credential), 86400)
    assert collected.folder is True
    assert [f.name.startswith("AzureADConnectProvisioningAgent_2") for f in collected.files] == [
        True
    ]
    assert "trace line one" in collected.files[0].text
    assert [e["id"] for e in collected.events] == [2001]
    archive = build_archive(collected, env.redactor)
    text = "\n".join(members(archive.data).values())
    assert PASSWORDS["WINRM_PW"] not in text and "trace line one" in text


def test_an_older_error_inside_the_span_is_read_on_a_chatty_channel(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    host = env.host("SYNC01")
    host.apply_install()
    events = host.event_logs[ADMIN_CHANNEL.lower()]
    now = datetime.datetime.now()
    host.log_event(ADMIN_CHANNEL, 2010, 2, "outside the span")
    events[-1]["at"] = now - datetime.timedelta(hours=30)
    host.log_event(ADMIN_CHANNEL, 2011, 2, "Registration failed five hours ago")
    events[-1]["at"] = now - datetime.timedelta(hours=5)
    for n in range(trace_logs.MAX_EVENTS + 100):  # newer than it: information only
        host.log_event(ADMIN_CHANNEL, 1100, 4, f"heartbeat {n}")
    conf = env.config.host("SYNC01")
    collected = collect(conf, env.secrets.get(conf.credential), 86400)
    assert [e["id"] for e in collected.events] == [2011], collected.events_error


def test_collect_on_a_host_without_the_agent(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    conf = env.config.host("SYNC01")
    collected = collect(conf, env.secrets.get(conf.credential), 3600)
    assert collected.folder is False and collected.files == []
    assert collected.events_error and "There is not an event log" in collected.events_error
    assert "does not exist" in comment(build_archive(collected, env.redactor).summary)


def test_a_large_trace_crosses_winrm_cut_to_its_newest_lines(
    sim_env: Callable[..., SimEnv],
) -> None:
    """A 1.5 MB trace: the host keeps the tail within MAX_FILE_CHARS; the answer (one JSON line
    well over one Receive's worth) arrives whole through several Receives."""
    env = sim_env([{"name": "SYNC01"}])
    host = env.host("SYNC01")
    host.apply_install()
    host.write_trace("\n".join(f"line {i:06d} " + "y" * 30 for i in range(30_000)))
    conf = env.config.host("SYNC01")
    collected = collect(conf, env.secrets.get(conf.credential), 3600)
    [trace] = collected.files
    # within the bound, less the partial first line the cut left (it starts at a whole line)
    assert trace.cut and MAX_FILE_CHARS - 100 < len(trace.text) <= MAX_FILE_CHARS
    assert trace.text.split(" ", 2)[2].startswith("line ")
    assert trace.text.endswith("line 029999 " + "y" * 30)
    assert trace.length > 1_400_000
    assert "(cut)" in comment(build_archive(collected, env.redactor).summary)


def test_a_cut_file_starts_at_a_whole_line() -> None:
    """The host keeps a file's tail; where the cut falls mid-line it can fall mid-secret, and the
    secret's remaining part is no value the redactor knows: the partial first line is dropped."""
    secret = "Provision-Secret-1"
    text = "old line\n" + ("y" * 50) + secret + "\nnewest line\n"
    cut_inside = text[text.index(secret) + 5 :]  # the host's cut fell inside the secret
    answer = {"folder": True, "files": [{"name": "a.log", "text": cut_inside, "cut": True}]}
    (trace,) = parse_collected("SYNC01", 3600, answer).files
    assert trace.text == "newest line\n" and trace.cut
    whole = {"folder": True, "files": [{"name": "b.log", "text": text, "cut": False}]}
    assert parse_collected("SYNC01", 3600, whole).files[0].text == text
