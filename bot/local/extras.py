"""A clear word when a command needs the optional simulator package that is not installed."""

from __future__ import annotations

import importlib.util

SIM_EXTRA_HINT = "pip install 'cloudsync-bot[sim]'"


class MissingExtra(Exception):
    """Raised instead of an ImportError traceback; ``cloudsync`` prints it in one line, exit 2."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"cloudsync: {why}, which needs the simulator (the 'sim' extra, not installed): "
            f"{SIM_EXTRA_HINT} (make run and make test install it)"
        )


def simulator_available() -> bool:
    """True when the ``simulator`` package and its parser (tree-sitter) can be imported."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("simulator", "tree_sitter", "tree_sitter_powershell")
        )
    except ImportError:
        return False


def require_simulator(why: str) -> None:
    if not simulator_available():
        raise MissingExtra(why)
