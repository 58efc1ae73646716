# ruff: noqa: E501  (PowerShell templates keep one statement a line)
"""``/cloudsync logs HOST``: read the agent's newest trace files and its Admin channel's recent
errors and warnings over WinRM, read-only and bounded, and pack them into a redacted zip.

Where the agent writes (Microsoft Learn, "Cloud sync troubleshooting",
https://learn.microsoft.com/en-us/entra/identity/hybrid/cloud-sync/how-to-troubleshoot): trace
files ``AzureADConnectProvisioningAgent_*.log`` in
``C:\\ProgramData\\Microsoft\\Azure AD Connect Provisioning Agent\\Trace``, events in the
``Microsoft-AzureADConnect-ProvisioningAgent/Admin`` channel.

Bounds (so one command cannot pull gigabytes through WinRM or into Slack): the newest
``MAX_FILES`` trace files written within ``--since``; of each, its last ``MAX_LINES`` lines and
at most ``MAX_FILE_CHARS`` characters; ``MAX_TOTAL_CHARS`` over all files; the newest
``MAX_EVENTS`` Admin errors and warnings (Level 1-3) created within ``--since``, each message at
most ``MAX_EVENT_CHARS``. The level and the start time are keys of Get-WinEvent's
``-FilterHashtable`` (https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/get-winevent:
LogName, Level, StartTime, EndTime...), so the event log's query applies them before
``-MaxEvents`` counts: on a chatty channel, an older error inside the span is still read. The host cuts (keeping the tail, the newest lines), so the output line
is bounded too; WinRM carries it in several Receive answers (each well under MaxEnvelopeSizekb).
``Get-Content`` and ``Get-ChildItem`` open the files for reading while the agent writes them.

Everything read is redacted (every secret the worker's secrets provider resolved, in its encoded
forms too) before it is packed; the archive is built in memory and never enters Redis or Celery.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workers.domain.config import HostConfig
from workers.domain.redact import Redactor, default_redactor
from workers.domain.secrets import Credential
from workers.domain.validation import ValidationError
from workers.runbook.powershell import render
from workers.runbook.session import RunbookSession, run_readonly

TRACE_DIR = "C:\\ProgramData\\Microsoft\\Azure AD Connect Provisioning Agent\\Trace"
TRACE_PATTERN = "AzureADConnectProvisioningAgent_*.log"
ADMIN_CHANNEL = "Microsoft-AzureADConnect-ProvisioningAgent/Admin"

MAX_FILES = 10
MAX_LINES = 20_000
MAX_FILE_CHARS = 512 * 1024
MAX_TOTAL_CHARS = 2 * 1024 * 1024
MAX_EVENTS = 500
MAX_EVENT_CHARS = 2_000
# every text the archive may hold, plus its small index: the archive's raw size stays below this
MAX_ARCHIVE_CHARS = MAX_TOTAL_CHARS + MAX_EVENTS * (MAX_EVENT_CHARS + 100) + 64 * 1024

COLLECT_TIMEOUT_S = 180.0  # the read-only query's limit on the host (``run_readonly``)

DEFAULT_SINCE = "24h"
MAX_SINCE_S = 7 * 86400
SINCE_RE = re.compile(r"^([1-9][0-9]{0,4})([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> int:
    """``30m``, ``24h``, ``7d`` -> seconds (1 minute to 7 days); anything else is refused."""
    match = SINCE_RE.match(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            f"{text!r:.40} is not a time span: use minutes, hours or days, e.g. 30m, 24h, 7d"
        )
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds > MAX_SINCE_S:
        raise ValidationError(f"{text!r:.40} is too long ago: at most 7d (168h)")
    return seconds


def since_words(seconds: int) -> str:
    """``24h`` back from seconds, as the help and README write the spans (``30m``, ``24h``,
    ``7d``): whole days beyond one, else whole hours, else minutes; one day is ``24h``."""
    if seconds % 86400 == 0 and seconds > 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


COLLECT = r"""
$cutoff = (Get-Date).Ticks - <<since_ticks>>
$start = (Get-Date).AddSeconds(-<<since_s>>)
$folder = [bool](Test-Path -LiteralPath <<trace_dir>>)
$found = @()
if ($folder) { $found = @(Get-ChildItem -LiteralPath <<trace_dir>> -Filter <<pattern>> -File -ErrorAction Stop | Where-Object { $_.LastWriteTime.Ticks -ge $cutoff } | Sort-Object -Property LastWriteTime -Descending) }
$files = @()
$skipped = 0
$total = 0
foreach ($f in $found) {
    if (($files.Count -ge <<max_files>>) -or ($total -ge <<max_total>>)) { $skipped += 1; continue }
    try {
        $lines = @(Get-Content -LiteralPath $f.FullName -Tail <<tail>> -ErrorAction Stop)
        $cut = $false
        if ($lines.Count -gt <<max_lines>>) { $lines = @($lines | Select-Object -Skip 1); $cut = $true }
        $text = $lines -join "`n"
        $room = <<max_file>>
        if ((<<max_total>> - $total) -lt $room) { $room = <<max_total>> - $total }
        if ($text.Length -gt $room) { $text = $text.Substring($text.Length - $room); $cut = $true }
        $total += $text.Length
        $files += [ordered]@{ name = [string]$f.Name; length = $f.Length; written = $f.LastWriteTime.ToString('yyyy-MM-dd HH:mm:ss'); text = $text; cut = $cut; error = $null }
    } catch {
        $files += [ordered]@{ name = [string]$f.Name; length = $f.Length; written = $null; text = ''; cut = $false; error = [string]$_.Exception.Message }
    }
}
$events = @()
$eventsError = $null
try {
    foreach ($e in @(Get-WinEvent -FilterHashtable @{ LogName = <<channel>>; Level = 1, 2, 3; StartTime = $start } -MaxEvents <<max_events>> -ErrorAction Stop)) {
        $m = [string]$e.Message
        if ($m.Length -gt <<max_event_chars>>) { $m = $m.Substring(0, <<max_event_chars>>) }
        $events += [ordered]@{ time = $e.TimeCreated.ToString('yyyy-MM-dd HH:mm:ss'); id = $e.Id; level = [string]$e.LevelDisplayName; message = $m }
    }
} catch {
    if ([string]$_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { $eventsError = [string]$_.Exception.Message }
}
[ordered]@{ folder = $folder; files = $files; skipped = $skipped; events = $events; events_error = $eventsError }
"""


def collect_script(since_s: int) -> str:
    if not 60 <= since_s <= MAX_SINCE_S:
        raise ValueError("since_s out of range")
    return render(
        COLLECT,
        since_ticks=since_s * 10_000_000,
        since_s=since_s,
        trace_dir=TRACE_DIR,
        pattern=TRACE_PATTERN,
        max_files=MAX_FILES,
        max_total=MAX_TOTAL_CHARS,
        tail=MAX_LINES + 1,
        max_lines=MAX_LINES,
        max_file=MAX_FILE_CHARS,
        channel=ADMIN_CHANNEL,
        max_events=MAX_EVENTS,
        max_event_chars=MAX_EVENT_CHARS,
    )


@dataclass
class TraceFile:
    name: str
    length: int
    text: str
    cut: bool = False
    written: str | None = None
    error: str | None = None


@dataclass
class Collected:
    host: str
    since_s: int
    folder: bool
    files: list[TraceFile] = field(default_factory=list)
    skipped: int = 0  # trace files within --since left out (over the file or size bound)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_error: str | None = None


def _listed(value: Any) -> list[Any]:
    """ConvertTo-Json turns a one-element array into the element: undo that."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_collected(host: str, since_s: int, data: dict[str, Any]) -> Collected:
    """The script's output, bounded again here (a host could answer more than asked)."""
    files: list[TraceFile] = []
    total = 0
    for item in _listed(data.get("files"))[:MAX_FILES]:
        if not isinstance(item, dict):
            continue
        text = str(item.get("text") or "")
        cut = bool(item.get("cut"))
        room = min(MAX_FILE_CHARS, MAX_TOTAL_CHARS - total)
        if len(text) > room:
            text, cut = text[len(text) - room :] if room > 0 else "", True
        if cut:  # its first line may start mid-way, mid-secret even: a part no mask would know
            text = text.split("\n", 1)[1] if "\n" in text else ""
        total += len(text)
        files.append(
            TraceFile(
                name=str(item.get("name") or "trace.log")[:120],
                length=_int(item.get("length")),
                text=text,
                cut=cut,
                written=str(item["written"]) if item.get("written") else None,
                error=str(item["error"])[:500] if item.get("error") else None,
            )
        )
    events = []
    for event in _listed(data.get("events"))[:MAX_EVENTS]:
        if isinstance(event, dict):
            events.append(
                {
                    "time": str(event.get("time") or ""),
                    "id": _int(event.get("id")),
                    "level": str(event.get("level") or "")[:20],
                    "message": str(event.get("message") or "")[:MAX_EVENT_CHARS],
                }
            )
    error = data.get("events_error")
    return Collected(
        host=host,
        since_s=since_s,
        folder=bool(data.get("folder")),
        files=files,
        skipped=_int(data.get("skipped")) + max(0, len(_listed(data.get("files"))) - MAX_FILES),
        events=events,
        events_error=str(error)[:500] if error else None,
    )


def collect(
    host: HostConfig,
    login: Credential,
    since_s: int,
    *,
    session_factory: Callable[..., RunbookSession] = RunbookSession,
    operation_timeout_s: int = 5,
    timeout_s: float = COLLECT_TIMEOUT_S,
) -> Collected:
    """Read the traces and events of ``host`` (read-only); raises when the host is unreachable."""
    session = session_factory(host, login, operation_timeout_s=operation_timeout_s)
    try:
        data = run_readonly(
            host,
            login,
            collect_script(since_s),
            session=session,
            timeout_s=timeout_s,
            step_id="collect-logs",
        )
    finally:
        session.close()
    return parse_collected(host.name, since_s, data)


# --- the archive ---------------------------------------------------------------------------------


@dataclass
class Archive:
    filename: str
    data: bytes
    raw_chars: int
    summary: dict[str, Any]


def _safe_name(name: str) -> str:
    """A trace file's name as a zip member: no folders, no odd characters."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", name.rsplit("\\", 1)[-1].rsplit("/", 1)[-1])
    return clean.strip("._") or "trace.log"


def _events_text(collected: Collected) -> str:
    lines = [f"# {ADMIN_CHANNEL}: errors and warnings of the last {since_words(collected.since_s)}"]
    if collected.events_error:
        lines.append(f"# could not read the channel: {collected.events_error}")
    elif not collected.events:
        lines.append("# none")
    for event in collected.events:
        message = str(event["message"]).replace("\r\n", "\n").replace("\n", "\n    ")
        lines.append(f"{event['time']} {event['level']} {event['id']}: {message}")
    return "\n".join(lines) + "\n"


def build_archive(
    collected: Collected, redactor: Redactor | None = None, stamp: str = ""
) -> Archive:
    """The zip to upload: ``traces/<file>``, ``events.txt`` and ``README.txt`` (what was read,
    what was cut), every text redacted first."""
    mask = (redactor or default_redactor).redact
    files_summary: list[dict[str, Any]] = []
    members: list[tuple[str, str]] = []
    used: set[str] = set()
    for trace in collected.files:
        name = _safe_name(mask(trace.name))
        while name in used:
            name = "_" + name
        used.add(name)
        text = mask(trace.text)
        if trace.error is None:
            members.append((f"traces/{name}", text + ("\n" if text else "")))
        files_summary.append(
            {
                "name": name,
                "length": trace.length,
                "kept": len(text.encode("utf-8")),
                "cut": trace.cut,
                **({"error": mask(trace.error)} if trace.error else {}),
            }
        )
    members.append(("events.txt", mask(_events_text(collected))))
    summary: dict[str, Any] = {
        "host": collected.host,
        "since": since_words(collected.since_s),
        "folder": collected.folder,
        "files": files_summary,
        "skipped": collected.skipped,
        "events": len(collected.events),
        "events_error": mask(collected.events_error) if collected.events_error else None,
        "cut": collected.skipped > 0 or any(f["cut"] for f in files_summary),
    }
    members.insert(0, ("README.txt", readme(summary)))
    raw = sum(len(text) for _, text in members)
    if raw > MAX_ARCHIVE_CHARS:  # the bounds above make this impossible; never upload more
        raise ValueError("the collected logs exceed the archive bound")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            archive.writestr(f"{_safe_name(collected.host)}-logs/{name}", text)
    suffix = f"-{stamp}" if stamp else ""
    filename = f"{_safe_name(collected.host)}-logs{suffix}.zip"
    summary["archive_bytes"] = buffer.tell()
    return Archive(filename, buffer.getvalue(), raw, summary)


def readme(summary: dict[str, Any]) -> str:
    lines = [
        f"Provisioning agent logs of {summary['host']}, last {summary['since']}.",
        f"Trace folder: {TRACE_DIR}" + ("" if summary["folder"] else " (not found)"),
        f"Bounds: newest {MAX_FILES} files, last {MAX_LINES} lines and {MAX_FILE_CHARS // 1024} KiB "
        f"of each, {MAX_TOTAL_CHARS // 1024} KiB in all; the newest {MAX_EVENTS} Admin errors and "
        "warnings of the span.",
        "Secrets the bot knows were replaced by ********.",
        "",
    ]
    for f in summary["files"]:
        state = (
            f"could not be read: {f['error']}"
            if f.get("error")
            else ("cut (the newest lines kept)" if f["cut"] else "whole")
        )
        lines.append(f"{f['name']}: {f['length']} bytes on the host, {f['kept']} kept, {state}")
    if summary["skipped"]:
        lines.append(f"{summary['skipped']} older trace file(s) within the span were left out.")
    return "\n".join(lines) + "\n"


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"


def comment(summary: dict[str, Any]) -> str:
    """The upload's message (Slack mrkdwn, host values escaped): what was collected and cut."""

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    files = summary["files"]
    head = f":package: Agent logs of *{esc(summary['host'])}*, last {summary['since']}: "
    if files:
        parts = [
            f"`{esc(f['name'])}` {_size(int(f['kept']))}" + (" (cut)" if f["cut"] else "")
            for f in files[:5]
        ]
        more = f" and {len(files) - 5} more" if len(files) > 5 else ""
        head += f"{len(files)} trace file(s): " + ", ".join(parts) + more
    else:
        head += "no trace file written in that time" + (
            "" if summary["folder"] else " (the trace folder does not exist)"
        )
    head += f"; {summary['events']} Admin error(s)/warning(s)."
    if summary.get("events_error"):
        head += f" The Admin channel could not be read: {esc(str(summary['events_error']))[:200]}."
    if summary["cut"]:
        head += " Cut to the size bound (the newest lines kept"
        head += f"; {summary['skipped']} older file(s) left out)." if summary["skipped"] else ")."
    return head + " Known secrets are masked."
