"""What a running script unwinds with, and the variable scopes it runs in.

Shared by the evaluator (statements, script blocks) and the command runner (user functions), so
neither has to import the other for them.
"""

from __future__ import annotations

from typing import Any

from .values import CIDict


class Terminated(BaseException):
    """The process was terminated: unwinds everything, no PowerShell catch sees it."""


class BreakEx(Exception):
    pass


class ContinueEx(Exception):
    pass


class ReturnEx(Exception):
    def __init__(self, value: list[Any]) -> None:
        super().__init__("return")
        self.value = value


class ExitEx(Exception):
    def __init__(self, code: int) -> None:
        super().__init__("exit")
        self.code = code


class Scope:
    def __init__(self, parent: Scope | None) -> None:
        self.vars = CIDict()
        self.parent = parent
