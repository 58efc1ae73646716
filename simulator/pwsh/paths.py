"""Where a session may read and write files: mapped drives and the second hop.

A WinRM logon is a network logon: Windows holds no credential for it that it could present to a
file server, so ``\\\\server\\share`` paths are refused ("Access is denied"; Test-Path says False)
unless this session mapped that share with an explicit credential (``New-PSDrive -Credential``)
or the host is configured for CredSSP / delegation (Microsoft Learn, "Making the second hop in
PowerShell Remoting"). A drive mapped with New-PSDrive (``X:``) stands for its root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .evaluator import Session


class ShareDenied(Exception):
    """The path is on a file share this session has no credential for (the second hop)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def share_root(path: str) -> str | None:
    """``\\\\server\\share`` of a UNC path, lower-case; None for a local path."""
    p = path.strip().replace("/", "\\")
    if p.lower().startswith("filesystem::"):
        p = p[12:]
    if not p.startswith("\\\\"):
        return None
    parts = p[2:].split("\\")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return ("\\\\" + parts[0] + "\\" + parts[1]).lower()


def drives(session: Session) -> dict[str, str]:
    """This session's New-PSDrive drives: NAME (upper) -> root."""
    return session.psdrives


def resolve(session: Session, path: str) -> str:
    """The path as the host's file model stores it, once this session may reach it; raises
    ShareDenied for a share reached without a credential."""
    p = path.strip()
    if len(p) >= 2 and p[1] == ":" and p[0].upper() in drives(session):
        mapped = drives(session)[p[0].upper()]
        rest = p[2:].lstrip("\\/")
        p = mapped.rstrip("\\") + ("\\" + rest if rest else "")
    share = share_root(p)
    delegated = session.delegated or session.host.credssp_delegation
    if share is None or delegated or share in session.share_logons:
        return p
    raise ShareDenied(p)
