"""External programs a script can call by name (hostname.exe, whoami.exe, cmd builtins)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .values import to_str

if TYPE_CHECKING:
    from .evaluator import Session

External = Callable[["Session", list[Any]], list[Any]]


def _hostname(session: Session, args: list[Any]) -> list[Any]:
    session.set_var("LASTEXITCODE", 0)
    return [session.host.name]


def _whoami(session: Session, args: list[Any]) -> list[Any]:
    session.set_var("LASTEXITCODE", 0)
    return [session.host.login_user.lower()]


PROGRAMS: dict[str, External] = {"hostname": _hostname, "whoami": _whoami}


def resolve(session: Session, name: str) -> External | None:
    """hostname / hostname.exe / C:\\Windows\\System32\\hostname.exe ..."""
    base = to_str(name).replace("/", "\\").rsplit("\\", 1)[-1].lower()
    if base.endswith(".exe"):
        base = base[:-4]
    return PROGRAMS.get(base)
