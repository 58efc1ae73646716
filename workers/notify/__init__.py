"""The durable Slack outbox (enqueue side) and the Notifier that sends it, paced and retried."""

from workers.notify.metrics import NotifierMetrics
from workers.notify.notifier import Notifier
from workers.notify.outbox import Outbox

__all__ = ["Notifier", "NotifierMetrics", "Outbox"]
