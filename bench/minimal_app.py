"""The baseline for the ack figures: a Bolt app whose only listener calls ``ack()``, served
exactly like the bot (gunicorn gthread via bot.serve.run_gunicorn), so the difference between
the two is our listener's work and nothing else.

Run: ``python -m bench.minimal_app HOST:PORT`` with SLACK_SIGNING_SECRET in the environment.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import make_web_client
from bot.serve import _with_healthz, run_gunicorn

TOKEN = "xoxb-bench-minimal"


def build_minimal_app(signing_secret: str, api_url: str | None) -> App:
    """Same Web API base URL as the bot (Bolt's authorize calls auth.test there once)."""
    app = App(
        token=TOKEN,
        signing_secret=signing_secret,
        client=make_web_client(TOKEN, api_url),
        token_verification_enabled=False,
    )

    @app.command("/cloudsync")
    def on_command(ack: Ack, **_: Any) -> None:
        ack()

    return app


def main(argv: list[str]) -> int:
    app = build_minimal_app(os.environ["SLACK_SIGNING_SECRET"], os.environ.get("SLACK_API_URL"))
    run_gunicorn(_with_healthz(SlackRequestHandler(app)), argv[0], threads=16)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
