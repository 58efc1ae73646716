"""The engine: domain, runbook over WinRM, Slack outbox, Celery tasks, Windows host simulator."""
