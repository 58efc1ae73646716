"""What the bot shows of a request's approvals: only the ones it signed.

The service counts only approvals carrying the bot's seal (``ApprovalSealer.genuine``); an
approval written into Redis by someone with access there must not show on the card, in
``status`` or in App Home as if it counted, while the run would be refused.
"""

from __future__ import annotations

from workers.domain.model import Request
from workers.domain.seal import ApprovalSealer


def signed_view(sealer: ApprovalSealer, request: Request) -> tuple[Request, int]:
    """The request with only the approvals the bot signed, and how many others were dropped."""
    shown = sealer.genuine(request)
    return shown, len(request.approvals) - len(shown.approvals)
