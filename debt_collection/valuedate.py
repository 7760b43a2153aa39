"""Collections follows the credit engine when it re-judges an account's past days (issue 13: money
follows the value date). Registered in ``CollectionsConfig.ready()`` as a listener of
:func:`installments.hooks.notify_delinquency_rejudged`, so the engine never imports collections.

For the account, in the engine's transaction:

- **promises** decided on or after the re-judged date as broken or partly kept are decided again as of
  the last closed day (a promise kept by a value-dated payment is kept, PRODUCT §7);
- **the case** follows the corrected DPD (``cases_sync``): a case opened on or after the re-judged date
  that nobody worked (no contact, no promise) would never have existed and is removed; any other case of
  a cured account is closed as cured;
- **reminders** queued by the closes since the re-judged date about a statement no longer unpaid are
  removed when none of their messages went out, else their unsent messages are suppressed.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import F

from debt_collection import engine
from debt_collection.models import CollectionCase, PromiseToPay, Reminder, ReminderMessage
from installments.hooks import RejudgedAccount

LISTENER = "collections.follow_rejudged"


def follow_rejudged(event: RejudgedAccount) -> None:
    from debt_collection.services import cases_sync, promises_evaluate

    account_ids = [event.account_id]
    last_closed = event.on - dt.timedelta(days=1)
    redo = list(PromiseToPay.objects.select_for_update(of=("self",)).filter(
        case__account_id=event.account_id, evaluated_on__gte=event.since,
        status__in=[PromiseToPay.Status.BROKEN, PromiseToPay.Status.PARTLY_KEPT]).order_by("pk"))
    for promise in redo:
        if promise.status == PromiseToPay.Status.BROKEN:
            CollectionCase.objects.filter(pk=promise.case_id, broken_promises__gt=0).update(
                broken_promises=F("broken_promises") - 1)
        promise.status, promise.amount_paid, promise.evaluated_on = PromiseToPay.Status.PENDING, 0, None
        promise.save(update_fields=["status", "amount_paid", "evaluated_on", "updated_at"])
    if redo:
        promises_evaluate(on=last_closed, account_ids=account_ids)

    never = CollectionCase.objects.filter(
        account_id=event.account_id, status=CollectionCase.Status.OPEN, opened_on__gte=event.since,
        account__dpd=0, contacts__isnull=True, promises__isnull=True)
    for case in never:
        case.delete()  # escalations and assignments go with it (CASCADE)
    cases_sync(on=event.on, account_ids=account_ids)

    stale = [
        r for r in Reminder.objects.filter(account_id=event.account_id, for_date__gt=event.since,
                                           kind__startswith="D+").select_related(None)
        if not engine.statement_still_unpaid(r.statement_id)
    ]
    for reminder in stale:
        messages = reminder.messages.all()
        if not messages.filter(status__in=[ReminderMessage.Status.SENT, ReminderMessage.Status.SENDING]).exists():
            reminder.delete()
            continue
        messages.filter(status=ReminderMessage.Status.QUEUED).update(
            status=ReminderMessage.Status.SUPPRESSED, status_reason="cured: the payment arrived in time")


def register_listener() -> None:
    from installments.hooks import register_rejudge_listener

    register_rejudge_listener(LISTENER, follow_rejudged)
