"""Slack surface of cloudsync-bot: Bolt app, listeners, grammar, Block Kit, local console, CLI."""
