"""Progress records: Write-Progress, and the helper cmdlets with a progress bar use.

With ``$ProgressPreference`` not ``SilentlyContinue`` (or ``Ignore``), a process started with
-EncodedCommand and redirected output (every WinRM command) gets each record on stderr as
CLIXML (``<Obj S="progress">``), because ConsoleHost serialises progress, verbose, warning and
error records when it cannot draw them; other processes drop them.
"""

from __future__ import annotations

from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..values import to_number, to_str

QUIET = ("silentlycontinue", "ignore")


def progress_on(ctx: Ctx) -> bool:
    """``$ProgressPreference`` lets progress records through."""
    return to_str(ctx.session.get_var("ProgressPreference")).lower() not in QUIET


def emit_progress(
    ctx: Ctx,
    activity: str,
    status: str,
    percent: int = -1,
    completed: bool = False,
    activity_id: int = 0,
) -> bool:
    """Write one progress record if the preference allows it; True when one was produced."""
    if not progress_on(ctx):
        return False
    write = getattr(ctx.session.io, "write_progress", None)
    if write is not None:
        write(
            activity=activity,
            status=status,
            percent=percent,
            completed=completed,
            activity_id=activity_id,
        )
    return True


@cmdlet(
    "Write-Progress",
    [
        Param("Activity", position=0),
        Param("Status", position=1),
        Param("Id", position=2),
        Param("PercentComplete"),
        Param("SecondsRemaining"),
        Param("CurrentOperation"),
        Param("ParentId"),
        Param("Completed", switch=True),
    ],
)
def write_progress(ctx: Ctx) -> list[Any]:
    emit_progress(
        ctx,
        to_str(ctx.get("Activity", "")),
        to_str(ctx.get("Status", "Processing")),
        int(to_number(ctx.get("PercentComplete", -1))),
        ctx.switch("Completed"),
        int(to_number(ctx.get("Id", 0))),
    )
    return []
