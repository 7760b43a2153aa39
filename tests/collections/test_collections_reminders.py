"""Reminders on real statements of the credit engine: kinds, uniqueness, quiet hours, opt-outs,
templates, and the gateway: transient errors retry with backoff, permanent ones fail, nothing is
ever sent twice."""
import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from core import business_date as clock
from core.errors import ValidationError
from debt_collection import gateway, services
from debt_collection.models import ChannelPreference, Reminder, ReminderMessage, ReminderTemplate
from debt_collection.tasks import deliver_reminder_message, dispatch_due_reminders
from tests.factories_collections import at, billed_account, close_days, pay

BILL = dt.date(2026, 2, 1)  # statement of the January purchases; due 2026-02-10
DUE = dt.date(2026, 2, 10)


@pytest.fixture(autouse=True)
def memory_gateway(settings, monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})  # the engine's purchases only, no risk rules
    settings.REMINDER_GATEWAY_BACKENDS = {c: "debt_collection.gateway.MemoryBackend" for c in ("sms", "email", "in_app")}
    gateway.MemoryBackend.outbox = []
    return gateway.MemoryBackend.outbox


@pytest.fixture
def account(business_date):
    account = billed_account(amount="1000.00", email="debtor@example.com")
    close_days(BILL)  # the statement is generated on 2026-02-01
    return account


def queue(on, hhmm="23:30"):
    return services.reminders_queue(on=on, now=at(on, hhmm))


def send_all(now):
    return [services.reminder_message_send(message_id=pk, now=now) for pk in services.reminders_dispatch_due(now=now)]


def sent_kinds(outbox):
    return sorted((m.channel, m.idempotency_key.split("-")[1]) for m in outbox)


def test_t_minus_3_is_queued_by_the_close_three_days_and_one_night_before(account):
    for day in (dt.date(2026, 2, 2), dt.date(2026, 2, 3), dt.date(2026, 2, 4), dt.date(2026, 2, 5)):
        assert queue(day) == 0  # nothing due on 2/3 … 2/6
    assert queue(dt.date(2026, 2, 6)) == 1  # read on 2026-02-07 = T-3
    reminder = Reminder.objects.get()
    assert (reminder.kind, reminder.for_date, reminder.due_date, reminder.status) == ("T-3", dt.date(2026, 2, 7), DUE, "queued")
    assert (reminder.amount_due, reminder.minimum_payment) == (Decimal("1000.00"), Decimal("100.00"))
    messages = {m.channel: m for m in reminder.messages.all()}
    assert set(messages) == {"sms", "email", "in_app"}
    assert all(m.scheduled_for == at("2026-02-07", "08:00") for m in messages.values())
    assert "¥1000.00" in messages["sms"].body and "¥100.00" in messages["sms"].body and "2026-02-10" in messages["sms"].body
    assert account.customer.name not in messages["sms"].body  # the name is masked in messages
    assert (messages["sms"].recipient, messages["email"].recipient) == (account.customer.mobile, "debtor@example.com")
    assert queue(dt.date(2026, 2, 6)) == 0  # a second run queues nothing
    assert Reminder.objects.count() == 1 and ReminderMessage.objects.count() == 3


def test_every_kind_once_through_the_cycle_and_weekly_after(account):
    for day in range(2, 32):
        on = BILL + dt.timedelta(days=day - 1)
        close_days(on)
        queue(on)
        queue(on)  # the job runs twice: nothing twice
    kinds = list(Reminder.objects.order_by("for_date").values_list("kind", "for_date"))
    assert kinds == [
        ("T-3", dt.date(2026, 2, 7)), ("T-1", dt.date(2026, 2, 9)), ("T0", dt.date(2026, 2, 10)),
        ("D+1", dt.date(2026, 2, 11)), ("D+3", dt.date(2026, 2, 13)), ("D+7", dt.date(2026, 2, 17)),
        ("D+14", dt.date(2026, 2, 24)), ("D+21", dt.date(2026, 3, 3)),
    ]
    assert Reminder.objects.values("statement").distinct().count() == 1


def test_paying_in_full_stops_all_reminders(account):
    pay(account, "1000.00", ref="full")
    assert queue(dt.date(2026, 2, 6)) == 0
    assert Reminder.objects.count() == 0


def test_paying_the_minimum_stops_the_overdue_reminders(account):
    pay(account, "100.00", ref="minimum", received_on=dt.date(2026, 2, 1))
    for day in range(6, 21):
        on = dt.date(2026, 2, day)
        close_days(on)
        queue(on)
    assert list(Reminder.objects.order_by("for_date").values_list("kind", "minimum_payment")) == [
        ("T-3", Decimal("0.00")), ("T-1", Decimal("0.00")), ("T0", Decimal("0.00"))]


def test_a_bill_paid_after_queueing_is_suppressed_at_send_time(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    pay(account, "1000.00", ref="full")
    outcomes = send_all(at("2026-02-07", "08:00"))
    assert {o.status for o in outcomes} == {"suppressed"} and memory_gateway == []
    reminder = Reminder.objects.get()
    assert reminder.status == "suppressed" and "paid before sending" in reminder.status_reason


def test_quiet_hours_nothing_goes_out_between_22_and_08(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    assert send_all(at("2026-02-07", "07:59")) == []  # dispatcher: nothing during quiet hours
    message = ReminderMessage.objects.get(channel="sms")
    # a worker that picks the message up at night holds it until 08:00 instead of sending it
    assert services.reminder_message_send(message_id=message.pk, now=at("2026-02-07", "07:59")).detail == "not due yet"
    ReminderMessage.objects.filter(pk=message.pk).update(scheduled_for=at("2026-02-06", "21:00"))
    outcome = services.reminder_message_send(message_id=message.pk, now=at("2026-02-06", "22:00"))
    message.refresh_from_db()
    assert (outcome.status, message.status, message.scheduled_for) == ("queued", "queued", at("2026-02-07", "08:00"))
    assert memory_gateway == []
    outcome = services.reminder_message_send(message_id=message.pk, now=at("2026-02-07", "08:00"))
    assert outcome.status == "sent" and len(memory_gateway) == 1


def test_sent_at_2159_held_at_2200(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    sms, email = ReminderMessage.objects.get(channel="sms"), ReminderMessage.objects.get(channel="email")
    assert services.reminder_message_send(message_id=sms.pk, now=at("2026-02-07", "21:59")).status == "sent"
    assert services.reminder_message_send(message_id=email.pk, now=at("2026-02-07", "22:00")).status == "queued"
    assert [m.channel for m in memory_gateway] == ["sms"]


def test_opted_out_channel_and_missing_address_are_suppressed_with_why(business_date):
    account = billed_account(email="")
    close_days(BILL)
    services.channel_preference_set(customer=account.customer, channel="sms", opted_out=True, source="app")
    queue(dt.date(2026, 2, 6))
    messages = {m.channel: m for m in ReminderMessage.objects.all()}
    assert (messages["sms"].status, messages["sms"].status_reason) == ("suppressed", "the customer opted out of SMS")
    assert (messages["email"].status, messages["email"].status_reason) == ("suppressed", "no e-mail address on file")
    assert messages["in_app"].status == "queued"
    send_all(at("2026-02-07", "09:00"))
    assert [m.channel for m in gateway.MemoryBackend.outbox] == ["in_app"]
    assert Reminder.objects.get().status == "sent"


def test_opt_out_after_queueing_is_respected_at_send_time(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    services.channel_preference_set(customer=account.customer, channel="email", opted_out=True)
    send_all(at("2026-02-07", "09:00"))
    assert sorted(m.channel for m in memory_gateway) == ["in_app", "sms"]
    assert ChannelPreference.objects.get().opted_out is True


def test_a_reminder_not_sent_on_its_day_expires(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    outcomes = send_all(at("2026-02-08", "09:00"))
    assert {o.status for o in outcomes} == {"suppressed"} and memory_gateway == []
    assert "expired" in Reminder.objects.get().status_reason


def test_edited_template_is_used_and_a_broken_one_is_refused(account):
    ReminderTemplate.objects.filter(kind="T-3", channel="sms").update(
        body="Pay {{ amount_due }} by {{ due_date|date:'m/d' }} ({{ kind }}) & thanks")
    queue(dt.date(2026, 2, 6))
    assert ReminderMessage.objects.get(channel="sms").body == "Pay 1000.00 by 02/10 (T-3) & thanks"
    with pytest.raises(ValidationError) as err:
        services.template_compile("{% if %}")
    assert err.value.code == "invalid_template"


# --- Gateway failures --------------------------------------------------------------------------------


class Flaky(gateway.BaseBackend):
    """Fails ``failures`` times (transiently or permanently), then delivers into the memory outbox."""

    calls = 0
    failures = 0
    error = gateway.TransientGatewayError

    def send(self, message):
        Flaky.calls += 1
        if Flaky.calls <= Flaky.failures:
            raise Flaky.error("provider said no")
        return gateway.MemoryBackend().send(message)


@pytest.fixture
def flaky_sms(settings):
    Flaky.calls, Flaky.failures, Flaky.error = 0, 0, gateway.TransientGatewayError
    settings.REMINDER_GATEWAY_BACKENDS = {**settings.REMINDER_GATEWAY_BACKENDS, "sms": "tests.collections.test_collections_reminders.Flaky"}
    return Flaky


def test_transient_error_retries_with_backoff_then_sends_once(account, flaky_sms, memory_gateway):
    flaky_sms.failures = 2
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    t0 = at("2026-02-07", "08:00")
    first = services.reminder_message_send(message_id=sms.pk, now=t0)
    sms.refresh_from_db()
    assert (first.status, first.retry_in, sms.attempts, sms.scheduled_for) == ("queued", 60, 1, t0 + dt.timedelta(seconds=60))
    assert services.reminder_message_send(message_id=sms.pk, now=t0 + dt.timedelta(seconds=30)).detail == "not due yet"
    second = services.reminder_message_send(message_id=sms.pk, now=t0 + dt.timedelta(seconds=60))
    assert second.retry_in == 120  # doubles
    third = services.reminder_message_send(message_id=sms.pk, now=t0 + dt.timedelta(seconds=180))
    sms.refresh_from_db()
    assert (third.status, sms.status, sms.attempts, sms.last_error) == ("sent", "sent", 3, "")
    assert services.reminder_message_send(message_id=sms.pk, now=t0 + dt.timedelta(hours=1)).status == "sent"
    assert [m.channel for m in memory_gateway] == ["sms"] and flaky_sms.calls == 3


def test_permanent_error_fails_at_once(account, flaky_sms, memory_gateway):
    flaky_sms.failures, flaky_sms.error = 1, gateway.PermanentGatewayError
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    outcome = services.reminder_message_send(message_id=sms.pk, now=at("2026-02-07", "08:00"))
    sms.refresh_from_db()
    assert (outcome.status, outcome.retry_in, sms.status, sms.status_reason, sms.attempts) == (
        "failed", None, "failed", "permanent error", 1)
    assert services.reminder_message_send(message_id=sms.pk, now=at("2026-02-07", "09:00")).status == "failed"
    assert flaky_sms.calls == 1 and memory_gateway == []


def test_unexpected_exception_is_permanent(account, settings):
    settings.REMINDER_GATEWAY_BACKENDS = {**settings.REMINDER_GATEWAY_BACKENDS, "sms": "tests.collections.test_collections_reminders.Broken"}
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    assert services.reminder_message_send(message_id=sms.pk, now=at("2026-02-07", "08:00")).status == "failed"


class Broken(gateway.BaseBackend):
    def send(self, message):
        raise KeyError("bug")


def test_transient_errors_give_up_after_the_maximum(account, flaky_sms, memory_gateway):
    flaky_sms.failures = 99
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    now = at("2026-02-07", "08:00")
    statuses = []
    for _ in range(5):
        outcome = services.reminder_message_send(message_id=sms.pk, now=now)
        statuses.append(outcome.status)
        now += dt.timedelta(seconds=outcome.retry_in or 0)
    sms.refresh_from_db()
    assert statuses == ["queued"] * 4 + ["failed"]
    assert (sms.status, sms.status_reason, sms.attempts) == ("failed", "gave up after 5 attempts", 5)
    # the reminder still counts as sent: e-mail and in-app went out
    send_all(at("2026-02-07", "09:00"))
    assert Reminder.objects.get().status == "sent"


def test_celery_task_delivers_and_a_duplicate_task_sends_nothing(account, memory_gateway, monkeypatch):
    queue(dt.date(2026, 2, 6))
    monkeypatch.setattr(clock, "now_local", lambda: at("2026-02-07", "10:00"))
    sms = ReminderMessage.objects.get(channel="sms")
    assert deliver_reminder_message.apply(args=[sms.pk]).get() == "sent"
    assert deliver_reminder_message.apply(args=[sms.pk]).get() == "sent"
    assert len(memory_gateway) == 1
    assert dispatch_due_reminders.apply().get() == 2  # e-mail and in-app were still waiting


def test_queue_hands_due_messages_to_celery_after_commit(account, memory_gateway, django_capture_on_commit_callbacks,
                                                         monkeypatch):
    from backoffice.celery import app

    monkeypatch.setattr(clock, "now_local", lambda: at("2026-02-07", "09:30"))
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.reminders_queue(on=dt.date(2026, 2, 6), now=at("2026-02-07", "09:30"))  # a late close
        with django_capture_on_commit_callbacks(execute=True):
            services.reminders_queue(on=dt.date(2026, 2, 6), now=at("2026-02-07", "09:31"))
    finally:
        app.conf.task_always_eager = False
    assert len(callbacks) == 1
    assert sorted(m.channel for m in memory_gateway) == ["email", "in_app", "sms"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_racing_on_one_message_send_it_once(business_date, settings):
    settings.REMINDER_GATEWAY_BACKENDS = {c: "tests.collections.test_collections_reminders.Slow" for c in ("sms", "email", "in_app")}
    account = billed_account()
    close_days(BILL)
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    Slow.sent = []
    results = []

    def worker():
        try:
            results.append(services.reminder_message_send(message_id=sms.pk, now=at("2026-02-07", "08:00")).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Slow.sent) == 1
    assert sorted(results).count("sent") + sorted(results).count("sending") == 4
    assert ReminderMessage.objects.get(pk=sms.pk).status == "sent"
    assert account.pk


class Slow(gateway.BaseBackend):
    sent: list = []

    def send(self, message):
        import time

        time.sleep(0.2)
        Slow.sent.append(message.idempotency_key)
        return "slow"


def test_a_message_left_sending_by_a_dead_worker_fails_and_is_never_resent(account, memory_gateway):
    queue(dt.date(2026, 2, 6))
    sms = ReminderMessage.objects.get(channel="sms")
    ReminderMessage.objects.filter(pk=sms.pk).update(status="sending", attempts=1)
    send_all(at("2026-02-07", "08:00"))  # a fresh "sending" row is left alone (a worker may be on it)
    assert ReminderMessage.objects.get(pk=sms.pk).status == "sending"
    from django.utils import timezone

    ReminderMessage.objects.filter(pk=sms.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=16))
    send_all(at("2026-02-07", "09:00"))
    sms.refresh_from_db()
    assert (sms.status, sms.status_reason) == ("failed", "interrupted while sending: not retried (it may have gone out)")
    assert sorted(m.channel for m in memory_gateway) == ["email", "in_app"]


def test_the_dispatcher_hands_a_message_out_once_unless_its_task_was_lost(account):
    queue(dt.date(2026, 2, 6))
    first = services.reminders_dispatch_due(now=at("2026-02-07", "08:00"))
    assert len(first) == 3
    assert services.reminders_dispatch_due(now=at("2026-02-07", "08:05")) == []  # handed out: not again
    from django.utils import timezone

    ReminderMessage.objects.update(dispatched_at=timezone.now() - dt.timedelta(minutes=11))  # the tasks were lost
    assert sorted(services.reminders_dispatch_due(now=at("2026-02-07", "08:20"))) == sorted(first)
