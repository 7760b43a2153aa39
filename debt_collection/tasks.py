"""Celery tasks of collections: deliver one reminder message, and hand due messages to workers.

Tasks take ids, re-fetch and call a service; running one twice is harmless (a message is claimed
before it is sent). Only transient gateway errors are retried, with exponential backoff."""
from __future__ import annotations

from celery import shared_task

from debt_collection import services


@shared_task(name="collections.deliver_reminder_message", bind=True, max_retries=None, acks_late=True,
             soft_time_limit=60, time_limit=90)
def deliver_reminder_message(self, message_id: int) -> str:
    outcome = services.reminder_message_send(message_id=message_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="collections.deliver_reminder_messages", soft_time_limit=120, time_limit=180)
def deliver_reminder_messages(message_ids: list[int]) -> int:
    """A batch of messages handed out at once (a late close of business queues thousands): one task
    per message is sent from here, on a worker, rather than from the close of business itself."""
    for message_id in message_ids:
        deliver_reminder_message.delay(message_id)
    return len(message_ids)


@shared_task(name="collections.dispatch_due_reminders", soft_time_limit=120, time_limit=180)
def dispatch_due_reminders() -> int:
    """Every few minutes (beat): queued messages whose time has come (e.g. held overnight until
    08:00, or waiting for a retry) go to the workers."""
    ids = services.reminders_dispatch_due()
    for message_id in ids:
        deliver_reminder_message.delay(message_id)
    return len(ids)
