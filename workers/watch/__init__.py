"""The fleet watch: a periodic read of every inventory host's agent, reported only on a change.

``detector`` is the pure change detection (damping, baseline, tenant health), ``store`` keeps the
last known states in Redis, ``round`` runs one watch read. Nothing here knows Slack or Celery:
a change becomes a ``watch_change`` audit event, which the bot's projector posts.
"""
